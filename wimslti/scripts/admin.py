"""The admin account commands: ``create-admin`` and ``set-password``.

The password is read from standard input (``--password-stdin``, its first
line) or asked twice on the terminal, never taken from the command line,
where other users of the machine could read it in the process list.
"""

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from wimslti.models import committed_session
from wimslti.services.admin_user import AdminUserError, AdminUserService

if TYPE_CHECKING:
    from wimslti.scripts.cli import Context


def _password(args: argparse.Namespace) -> str:
    """Return the new password from stdin or the terminal.

    :raises AdminUserError: when there is no way to read one.
    """
    if args.password_stdin:
        line = sys.stdin.readline()
        # Only the line break ends the password: spaces may be part of it.
        return line.removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        raise AdminUserError(
            "standard input is not a terminal: give the password on it with "
            "--password-stdin"
        )
    password = getpass.getpass("New password: ")
    if getpass.getpass("The same password again: ") != password:
        raise AdminUserError("the two passwords differ")
    return password


def _login_and_password(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("login", metavar="LOGIN", help="the administrator's login")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )


def create_admin(context: "Context", args: argparse.Namespace) -> int:
    """Create an administrator of the web admin."""
    context.require_current_database()
    try:
        password = _password(args)
        with committed_session(context.session_factory) as session:
            AdminUserService(session).create(args.login, password)
    except AdminUserError as error:
        context.err(f"wimslti create-admin: {error}")
        return 1
    context.out(f"Created the administrator {args.login}")
    return 0


def set_password(context: "Context", args: argparse.Namespace) -> int:
    """Give an administrator a new password, ending their open sessions."""
    context.require_current_database()
    try:
        password = _password(args)
        with committed_session(context.session_factory) as session:
            AdminUserService(session).set_password(args.login, password)
    except AdminUserError as error:
        context.err(f"wimslti set-password: {error}")
        return 1
    context.out(f"Changed the password of {args.login}")
    return 0


create_admin_arguments = _login_and_password
set_password_arguments = _login_and_password
