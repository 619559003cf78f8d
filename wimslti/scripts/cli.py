"""The ``wimslti`` command line: ``wimslti -c INI <command>``.

A command is a function ``name(context, args) -> int`` (the exit status),
with an optional ``name_arguments(parser)`` adding its own options, listed
once in ``COMMANDS`` at the bottom of this module. Expected failures raise
``CommandError`` and end as one line on stderr, never as a traceback.
"""

import argparse
import configparser
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TextIO

import alembic.util
import sqlalchemy as sa
from pyramid.paster import get_appsettings, setup_logging
from sqlalchemy.orm import Session, sessionmaker

from wimslti.config import DeclarationError, SyncReport, reload_config
from wimslti.config.history import recorded_reload
from wimslti.models import get_engine, get_session_factory
from wimslti.models.migrations import is_current, upgrade
from wimslti.scripts.admin import (
    create_admin,
    create_admin_arguments,
    set_password,
    set_password_arguments,
)
from wimslti.scripts.check_classes import check_classes
from wimslti.scripts.import_wimslti import (
    import_wimslti,
    import_wimslti_arguments,
)
from wimslti.scripts.worker import worker, worker_arguments
from wimslti.settings import SettingsError, load_settings

log = logging.getLogger(__name__)

PROGRAM = "wimslti"


class CommandError(Exception):
    """An expected failure, told to the user in one line."""


class Context:
    """What a command works with: the ini file, its settings and database."""

    def __init__(self, ini_file: str, stdout: TextIO, stderr: TextIO) -> None:
        self.ini_file = ini_file
        self.stdout = stdout
        self.stderr = stderr
        self._engine: sa.Engine | None = None

    @cached_property
    def settings(self) -> dict[str, Any]:
        """Return the settings of the ini's ``[app:main]``, environment applied."""
        if not os.path.isfile(self.ini_file):
            raise CommandError(f"cannot read {self.ini_file}: no such file")
        try:
            setup_logging(self.ini_file)
            raw = get_appsettings(self.ini_file)
        # The messages of configparser quote lines and raw values, which
        # may hold passwords: say where the problem is, not what it reads.
        except configparser.MissingSectionHeaderError as error:
            raise CommandError(
                f"cannot read {self.ini_file}: line {error.lineno} comes before "
                "any [section]"
            ) from None
        except configparser.ParsingError as error:
            lines = ", ".join(str(number) for number, _line in error.errors)
            raise CommandError(
                f"cannot read {self.ini_file}: syntax error on line {lines}"
            ) from None
        except configparser.InterpolationError as error:
            raise CommandError(
                f"cannot read {self.ini_file}: bad %(...)s substitution in "
                f"{error.option} of [{error.section}]"
            ) from None
        except (OSError, LookupError, ValueError, configparser.Error) as error:
            raise CommandError(
                f"cannot read {self.ini_file}: {_first_line(error)}"
            ) from None
        try:
            return load_settings(dict(raw), dict(os.environ))
        except SettingsError as error:
            raise CommandError(f"{self.ini_file}: {error}") from None

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            try:
                self._engine = get_engine(self.settings["sqlalchemy.url"])
            except (ImportError, sa.exc.ArgumentError) as error:
                # The message of either names the driver or the URL's shape,
                # never the password.
                raise CommandError(
                    f"cannot use the database URL sqlalchemy.url: {_first_line(error)}"
                ) from None
        return self._engine

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        return get_session_factory(self.engine)

    @property
    def config_dir(self) -> str:
        return str(self.settings["wimslti.config_dir"])

    def database_name(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def require_current_database(self) -> None:
        """Fail unless the database is migrated to the newest revision."""
        if not is_current(self.engine, self.ini_file):
            raise CommandError(
                f"the database {self.database_name()} is not migrated to the "
                f"newest revision: run `{PROGRAM} -c {self.ini_file} initdb`"
            )

    def out(self, line: str) -> None:
        print(line, file=self.stdout)

    def err(self, line: str) -> None:
        print(line, file=self.stderr)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _print_report(context: Context, report: SyncReport, dry_run: bool) -> None:
    for line in report.lines():
        context.out(line)
    verb = "Would sync" if dry_run else "Synced"
    context.out(f"{verb} {context.config_dir}: {report.summary()}")


def _sync(context: Context, dry_run: bool = False) -> int:
    try:
        if dry_run:
            session = context.session_factory()
            try:
                report = reload_config(session, context.config_dir)
            finally:
                session.rollback()
                session.close()
        else:
            # Recorded, so that the admin shows this reload as its last one.
            report = recorded_reload(
                context.session_factory, context.config_dir, trigger="command line"
            )
    except DeclarationError as error:
        for problem in error.errors:
            context.err(str(problem))
        context.err(
            f"{PROGRAM}: {len(error.errors)} problem(s) in the YAML declarations "
            f"in {context.config_dir}; the database was not changed"
        )
        return 1
    _print_report(context, report, dry_run)
    return 0


def initdb(context: Context, args: argparse.Namespace) -> int:
    """Migrate the database to the newest revision, then sync the YAML."""
    upgrade(context.engine, context.ini_file)
    context.out(f"Migrated {context.database_name()} to the newest revision")
    return _sync(context)


def sync_config(context: Context, args: argparse.Namespace) -> int:
    """Validate the YAML declarations and sync them into the database."""
    context.require_current_database()
    return _sync(context, dry_run=args.dry_run)


def sync_config_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and show what would change, then roll back",
    )


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[[Context, argparse.Namespace], int]
    arguments: Callable[[argparse.ArgumentParser], None] | None = None


COMMANDS = (
    Command(
        "initdb",
        "create or migrate the database, then sync the YAML declarations",
        initdb,
    ),
    Command(
        "sync-config",
        "validate the YAML declarations and sync them into the database",
        sync_config,
        sync_config_arguments,
    ),
    Command(
        "create-admin",
        "create an administrator of the web admin",
        create_admin,
        create_admin_arguments,
    ),
    Command(
        "set-password",
        "give an administrator of the web admin a new password",
        set_password,
        set_password_arguments,
    ),
    Command(
        "worker",
        "send WIMS scores to the LMS gradebooks (--once: one pass, then exit)",
        worker,
        worker_arguments,
    ),
    Command(
        "check-classes",
        "mark gone the classes their WIMS server no longer has (rows are kept)",
        check_classes,
    ),
    Command(
        "import-wimslti",
        "import the database of the Django WIMS-LTI (PATH/db.sqlite3)",
        import_wimslti,
        import_wimslti_arguments,
    ),
)


def build_parser(commands: Sequence[Command] = COMMANDS) -> argparse.ArgumentParser:
    """Return the parser of the command line, one subcommand per command."""
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Manage the wimslti LTI gateway between LMSs and WIMS servers.",
    )
    parser.add_argument(
        "-c",
        "--config",
        metavar="INI",
        required=True,
        help="the PasteDeploy .ini file of the gateway, e.g. development.ini",
    )
    subparsers = parser.add_subparsers(
        title="commands", dest="command_name", metavar="COMMAND", required=True
    )
    for command in commands:
        subparser = subparsers.add_parser(
            command.name, help=command.help, description=command.help
        )
        if command.arguments is not None:
            command.arguments(subparser)
        subparser.set_defaults(command=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); return its status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        # --help and usage errors: argparse has printed what to say.
        return exit_.code if isinstance(exit_.code, int) else 2
    command: Command = args.command
    context = Context(args.config, sys.stdout, sys.stderr)
    try:
        return command.run(context, args)
    except CommandError as error:
        context.err(f"{PROGRAM} {command.name}: {error}")
    except sa.exc.DBAPIError as error:
        context.err(
            f"{PROGRAM} {command.name}: the database {context.database_name()} "
            f"failed: {_first_line(error.orig)}"
        )
    except alembic.util.CommandError as error:
        context.err(f"{PROGRAM} {command.name}: migration failed: {_first_line(error)}")
    finally:
        context.close()
    return 1


if __name__ == "__main__":
    sys.exit(main())
