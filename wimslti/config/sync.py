"""Apply the YAML declarations to the database, all or nothing.

LMSs are matched by consumer key, WIMS servers by ``id`` when declared and
by ``url`` otherwise. A declaration matching a record made in the admin
takes it over; a YAML record no file declares any more is retired, never
deleted, so that its classes, users and grade links stay as they are.
"""

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pyramid.settings import asbool
from sqlalchemy.orm import Session, sessionmaker

from wimslti.config.loader import (
    DeclarationError,
    Declarations,
    LmsDeclaration,
    Problem,
    WimsDeclaration,
    load_declarations,
)
from wimslti.models import (
    Lms,
    WimsServer,
    committed_session,
    get_engine,
    get_session_factory,
    utcnow,
)
from wimslti.models.migrations import is_current

log = logging.getLogger(__name__)

YAML = "yaml"
ADMIN = "admin"
LMS_FIELDS = ("secret", "guid", "name", "url")
WIMS_FIELDS = (
    "name",
    "url",
    "ident",
    "passwd",
    "rclass",
    "class_limit",
    "class_lifetime_days",
    "contact_email",
)


@dataclass
class SyncReport:
    """What a sync did, record by record, in words an administrator reads."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    # Subsets of ``updated``: admin records now owned by a file, and retired
    # records declared again.
    taken_over: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    # What changed in each updated record: field names, never values.
    changes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.retired)

    def summary(self) -> str:
        """Return the counts on one line."""
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.retired)} retired"
        )

    def lines(self) -> list[str]:
        """Return one line per record that was added, updated or retired."""
        lines = [f"added {name}" for name in self.added]
        for name in self.updated:
            notes = []
            if name in self.taken_over:
                notes.append("taken over from the admin")
            if name in self.restored:
                notes.append("restored")
            if self.changes.get(name):
                notes.append("changed: " + ", ".join(self.changes[name]))
            lines.append(
                f"updated {name}" + (f" ({'; '.join(notes)})" if notes else "")
            )
        lines.extend(f"retired {name}" for name in self.retired)
        return lines


def lms_name(key: str) -> str:
    return f"LMS {key}"


def wims_name(server_id: int, url: str) -> str:
    return f"WIMS {server_id} {url}"


def _lock(session: Session) -> None:
    """Make concurrent syncs (web workers starting together) wait for each other."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        # Conflicts with itself and with writes, not with the reads of launches.
        session.execute(
            sa.text("LOCK TABLE lms, wims_server IN SHARE ROW EXCLUSIVE MODE")
        )
    elif dialect == "sqlite":
        # The driver begins a transaction only at the first write, so the
        # reads before it would see no concurrent sync: take the write lock
        # first with a write that matches no row (it waits for busy_timeout).
        session.execute(sa.text("UPDATE wims_server SET id = id WHERE 0"))


def _owned_by_files(row: Lms | WimsServer) -> bool:
    """Tell whether ``row`` is an active record of the YAML files."""
    return row.source == YAML and row.retired_at is None


def _apply(row: Any, values: Mapping[str, Any]) -> list[str]:
    """Set the attributes of ``row`` that differ from ``values``; return their names."""
    changed = []
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    return changed


def _ownership(declaration: LmsDeclaration | WimsDeclaration) -> dict[str, Any]:
    return {
        "source": YAML,
        "source_file": declaration.source_file,
        "retired_at": None,
    }


class _Sync:
    """One sync of ``declarations`` in ``session``."""

    def __init__(self, session: Session, declarations: Declarations) -> None:
        self.session = session
        self.declarations = declarations
        self.report = SyncReport()
        self.now = utcnow()

    def note(self, name: str, changed: list[str], was_admin: bool) -> None:
        if not changed:
            self.report.unchanged.append(name)
            return
        self.report.updated.append(name)
        if was_admin:
            self.report.taken_over.append(name)
        if "retired_at" in changed:
            self.report.restored.append(name)
        fields = [
            "file" if item == "source_file" else item
            for item in changed
            if item not in ("source", "retired_at")
        ]
        if fields:
            self.report.changes[name] = fields

    def check(
        self, lms_rows: dict[str, Lms], wims_rows: list[WimsServer]
    ) -> dict[int, WimsServer | None]:
        """Check the declarations against the database; return the WIMS plan.

        The plan maps the position of each WIMS declaration to the row it
        updates, or ``None`` for a new server.

        :raises DeclarationError: for every declaration the database refuses.
        """
        problems: list[Problem] = []
        declared_keys = {declaration.key for declaration in self.declarations.lms}
        usable_keys = declared_keys | {
            key
            for key, row in lms_rows.items()
            if row.source == ADMIN and row.retired_at is None
        }
        for declaration in self.declarations.wims:
            for index, key in enumerate(declaration.allowed_lms, 1):
                if key not in usable_keys:
                    problems.append(
                        _problem(
                            declaration,
                            f"allowed_lms[{index}]",
                            f"no LMS has the key {key!r}: declare it in an lms: "
                            "list or create it in the admin",
                        )
                    )

        by_id = {row.id: row for row in wims_rows}
        by_url = {row.url: row for row in wims_rows}
        explicit = {d.id: d for d in self.declarations.wims if d.id is not None}
        plan: dict[int, WimsServer | None] = {}
        for position, declaration in enumerate(self.declarations.wims):
            if declaration.id is not None:
                holder = by_url.get(declaration.url)
                # The url may move to this server only if its holder is
                # declared with another url in the same sync.
                if holder is not None and holder.id not in explicit:
                    problems.append(
                        _problem(
                            declaration,
                            "url",
                            f"is already the address of WIMS server {holder.id}"
                            f"{' (retired)' if holder.retired_at else ''}: declare "
                            f"id {holder.id} to update it, or use another url",
                        )
                    )
                    continue
                plan[position] = by_id.get(declaration.id)
                continue
            row = by_url.get(declaration.url)
            if row is not None and row.id in explicit:
                other = explicit[row.id]
                problems.append(
                    _problem(
                        declaration,
                        "url",
                        f"is the address of WIMS server {row.id}, which "
                        f"{other.source_file}:{other.line} ({other.entry}) declares "
                        "with another url: give this server its own url or an id",
                    )
                )
                continue
            plan[position] = row
        if problems:
            raise DeclarationError(problems)
        return plan

    def run(self) -> SyncReport:
        _lock(self.session)
        lms_rows = {row.key: row for row in self.session.scalars(sa.select(Lms))}
        wims_rows = list(self.session.scalars(sa.select(WimsServer)))
        plan = self.check(lms_rows, wims_rows)

        self.sync_lms(lms_rows)
        self.session.flush()
        self.sync_wims(wims_rows, plan, lms_rows)
        self.session.flush()
        if any(name.startswith("WIMS ") for name in self.report.added):
            _advance_wims_sequence(self.session)
        return self.report

    def sync_lms(self, rows: dict[str, Lms]) -> None:
        declared = set()
        for declaration in self.declarations.lms:
            declared.add(declaration.key)
            values = {name: getattr(declaration, name) for name in LMS_FIELDS}
            values.update(_ownership(declaration))
            row = rows.get(declaration.key)
            name = lms_name(declaration.key)
            if row is None:
                row = Lms(key=declaration.key, **values)
                self.session.add(row)
                rows[row.key] = row
                self.report.added.append(name)
                continue
            was_admin = row.source == ADMIN
            self.note(name, _apply(row, values), was_admin)
        for key, row in sorted(rows.items()):
            if _owned_by_files(row) and key not in declared:
                row.retired_at = self.now
                self.report.retired.append(lms_name(key))

    def sync_wims(
        self,
        rows: list[WimsServer],
        plan: dict[int, WimsServer | None],
        lms_rows: dict[str, Lms],
    ) -> None:
        # A new server gets a number above every row's, retired ones
        # included, and above every declared id: a launch URL of a retired
        # server must never point at another one.
        explicit_ids = [d.id for d in self.declarations.wims if d.id is not None]
        next_id = max([row.id for row in rows] + explicit_ids + [0]) + 1
        new_rows = []
        moving = []
        declared_ids = set()
        for position, declaration in enumerate(self.declarations.wims):
            row = plan[position]
            values = {name: getattr(declaration, name) for name in WIMS_FIELDS}
            values.update(_ownership(declaration))
            allowed = [lms_rows[key] for key in sorted(set(declaration.allowed_lms))]
            if row is None:
                server_id = declaration.id
                if server_id is None:
                    server_id, next_id = next_id, next_id + 1
                row = WimsServer(id=server_id, allowed_lms=allowed, **values)
                new_rows.append(row)
                declared_ids.add(server_id)
                self.report.added.append(wims_name(server_id, row.url))
                continue
            declared_ids.add(row.id)
            was_admin = row.source == ADMIN
            url = values.pop("url")
            changed = _apply(row, values)
            if row.url != url:
                moving.append((row, url))
                changed.append("url")
            if {lms.key for lms in row.allowed_lms} != {lms.key for lms in allowed}:
                row.allowed_lms = allowed
                changed.append("allowed_lms")
                # The association rows alone would not bump updated_at.
                row.updated_at = self.now
            self.note(wims_name(row.id, url), changed, was_admin)
        if moving:
            # Servers may swap their urls: park the moving ones first so the
            # unique index never sees a url twice.
            for row, _url in moving:
                row.url = f"urn:wimslti:moving:{row.id}"
            self.session.flush()
            for row, url in moving:
                row.url = url
        self.session.add_all(new_rows)
        for row in sorted(rows, key=lambda row: row.id):
            if _owned_by_files(row) and row.id not in declared_ids:
                row.retired_at = self.now
                self.report.retired.append(wims_name(row.id, row.url))


def _problem(
    declaration: LmsDeclaration | WimsDeclaration, path: str, message: str
) -> Problem:
    return Problem(
        file=declaration.source_file,
        line=declaration.line,
        entry=declaration.entry,
        field=path,
        message=message,
    )


def _advance_wims_sequence(session: Session) -> None:
    """Move PostgreSQL's id sequence past the numbers given here explicitly."""
    if session.get_bind().dialect.name != "postgresql":
        return
    session.execute(
        sa.text(
            "SELECT setval(pg_get_serial_sequence('wims_server', 'id'), "
            "(SELECT max(id) FROM wims_server))"
        )
    )


def sync_declarations(session: Session, declarations: Declarations) -> SyncReport:
    """Apply ``declarations`` in the transaction of ``session``, without committing.

    The caller commits, or rolls back to leave the database as it was.

    :raises DeclarationError: for declarations the database refuses (an
        ``allowed_lms`` key no LMS has, a url that belongs to another server).
    """
    return _Sync(session, declarations).run()


def admin_lms_keys(session: Session) -> set[str]:
    """Return the keys of the active LMSs made in the admin."""
    query = sa.select(Lms.key).where(Lms.source == ADMIN, Lms.retired_at.is_(None))
    return set(session.scalars(query))


def _reload(
    session: Session,
    config_dir: str | os.PathLike[str],
    environ: Mapping[str, str] | None,
) -> SyncReport:
    _lock(session)
    declarations = load_declarations(
        config_dir, environ, known_lms_keys=admin_lms_keys(session)
    )
    return sync_declarations(session, declarations)


def reload_config(
    db: Session | sessionmaker[Session],
    config_dir: str | os.PathLike[str],
    environ: Mapping[str, str] | None = None,
) -> SyncReport:
    """Load the YAML files of ``config_dir`` and sync them into the database.

    Given a session, work in its transaction and leave the commit to its
    owner (a request, a test). Given a session factory, run a transaction of
    its own, committed on success, and try once more if a concurrent sync
    inserted the same record first.

    :raises DeclarationError: when a file is invalid; nothing is written.
    """
    if isinstance(db, Session):
        return _reload(db, config_dir, environ)
    try:
        with committed_session(db) as session:
            return _reload(session, config_dir, environ)
    except sa.exc.IntegrityError:
        log.warning("A concurrent sync wrote the same records; syncing again")
    with committed_session(db) as session:
        return _reload(session, config_dir, environ)


def sync_at_start(
    settings: Mapping[str, Any], session_factory: sessionmaker[Session] | None = None
) -> SyncReport | None:
    """Sync the YAML declarations when the application starts, if enabled.

    Problems are logged, not raised: the gateway starts with the database as
    it was, and a launch gets a clear error instead of a dead server.
    """
    if not asbool(settings.get("wimslti.sync_config_at_start", True)):
        log.debug("Not syncing the YAML declarations at start (disabled)")
        return None
    config_dir = settings["wimslti.config_dir"]
    engine = None
    if session_factory is None:
        engine = get_engine(settings["sqlalchemy.url"])
        session_factory = get_session_factory(engine)
    try:
        return _sync_at_start(session_factory, config_dir)
    finally:
        if engine is not None:
            engine.dispose()


def _sync_at_start(
    session_factory: sessionmaker[Session], config_dir: str
) -> SyncReport | None:
    engine = session_factory.kw["bind"]
    try:
        if not is_current(engine):
            log.error(
                "The database is not migrated to the newest revision, so the YAML "
                "declarations were not synced: run `wimslti -c <your .ini> initdb`"
            )
            return None
        report = reload_config(session_factory, config_dir)
    except DeclarationError as error:
        log.error(
            "The YAML declarations in %s are invalid (%d problems); the database "
            "was left as it was:",
            config_dir,
            len(error.errors),
        )
        for problem in error.errors:
            log.error("  %s", problem)
        return None
    except sa.exc.DBAPIError as error:
        log.error(
            "The YAML declarations were not synced, the database failed: %s",
            _first_line(error.orig),
        )
        return None
    log.info("Synced the YAML declarations in %s: %s", config_dir, report.summary())
    for line in report.lines():
        log.debug("  %s", line)
    return report


def _first_line(error: BaseException | None) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
