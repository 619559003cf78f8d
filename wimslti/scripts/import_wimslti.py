"""``wimslti -c INI import-wimslti PATH``: import the Django WIMS-LTI's database.

The SQLite file of WIMS-LTI (PremierLangage/wims-lti) is opened read-only and
its LMSs, WIMS servers, classes, users, worksheets, exams and grade links are
added to the gateway's database in one transaction. WIMS servers keep their
number, so that the activities LMSs have at ``/lti/C<n>/``, ``/lti/C<n>/S<m>/``
and ``/lti/C<n>/E<m>/`` keep working. Every record is matched by its natural
key first, so a second run imports nothing and says so; a record that
conflicts with one the gateway already has is skipped with the reason.

The tables and columns read are those Django makes for the models of the
``lti_app`` application in WIMS-LTI's last schema (``<app>_<model>`` tables,
``<field>_id`` foreign keys, an ``id`` primary key everywhere):

- ``lti_app_lms``: ``id``, ``guid``, ``name``, ``url``, ``key``, ``secret``;
- ``lti_app_wims``: ``id`` (the ``n`` of ``/lti/C<n>/``), ``name``, ``url``,
  ``ident``, ``passwd``, ``rclass``, ``class_limit``, ``expiration`` (a
  Django ``DurationField``: microseconds, as an integer, in SQLite);
- ``lti_app_wims_allowed_lms``: ``wims_id``, ``lms_id``;
- ``lti_app_wimsclass``: ``id``, ``lms_id``, ``lms_guid`` (the LMS
  ``context_id``), ``wims_id``, ``qclass``, ``name``;
- ``lti_app_wimsuser``: ``id``, ``lms_guid`` (the LMS ``user_id``; NULL for
  the one ``supervisor`` row of each class), ``wclass_id``, ``quser``;
- ``lti_app_wimssheet`` and ``lti_app_wimsexam``: ``id``, ``wclass_id``,
  ``lms_guid`` (the ``resource_link_id``), ``qsheet`` / ``qexam``;
- ``lti_app_gradelinksheet`` and ``lti_app_gradelinkexam``: ``id``,
  ``user_id``, ``activity_id``, ``sourcedid``, ``url`` (the outcome service).

WIMS-LTI did not keep the class and supervisor passwords (WIMS has them),
the class language or the people's names: imported classes get the language
of ``--lang`` and empty passwords, and names are filled in at the next
launch of each person.
"""

import argparse
import logging
import sqlite3
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from wimslti.lti.params import WIMS_LANGUAGES
from wimslti.models import (
    Activity,
    ActivityKind,
    ClassState,
    GradeLink,
    Lms,
    UserState,
    WimsClass,
    WimsServer,
    WimsUser,
    utcnow,
)

if TYPE_CHECKING:
    from wimslti.scripts.cli import Context

log = logging.getLogger(__name__)

COMMAND = "wimslti import-wimslti"
# What the import reads of each table of the old schema.
LEGACY_TABLES = {
    "lti_app_lms": ("id", "guid", "name", "url", "key", "secret"),
    "lti_app_wims": (
        "id",
        "name",
        "url",
        "ident",
        "passwd",
        "rclass",
        "class_limit",
        "expiration",
    ),
    "lti_app_wims_allowed_lms": ("wims_id", "lms_id"),
    "lti_app_wimsclass": ("id", "lms_id", "lms_guid", "wims_id", "qclass", "name"),
    "lti_app_wimsuser": ("id", "lms_guid", "wclass_id", "quser"),
    "lti_app_wimssheet": ("id", "wclass_id", "lms_guid", "qsheet"),
    "lti_app_wimsexam": ("id", "wclass_id", "lms_guid", "qexam"),
    "lti_app_gradelinksheet": ("id", "user_id", "activity_id", "sourcedid", "url"),
    "lti_app_gradelinkexam": ("id", "user_id", "activity_id", "sourcedid", "url"),
}
MICROSECONDS_A_DAY = 86_400 * 1_000_000
DEFAULT_LIFETIME_DAYS = 365
# The order of the summary, which is the order of the import.
KINDS = (
    "LMS",
    "WIMS servers",
    "classes",
    "users",
    "worksheets",
    "exams",
    "grade links",
)


class LegacyDatabaseError(Exception):
    """The file is not a WIMS-LTI database the import can read."""


Row = dict[str, Any]


def read_legacy(path: str) -> dict[str, list[Row]]:
    """Return the rows of every table the import reads, by table name.

    :raises LegacyDatabaseError: for a missing file, a file that is not
        SQLite, or a schema without the tables and columns of WIMS-LTI.
    """
    file = Path(path)
    if not file.is_file():
        raise LegacyDatabaseError(f"cannot read {path}: no such file")
    try:
        # Read-only: the old database stays exactly as it was.
        connection = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise LegacyDatabaseError(f"cannot open {path}: {error}") from None
    connection.row_factory = sqlite3.Row
    try:
        tables = {}
        for table, columns in LEGACY_TABLES.items():
            present = {
                row[1] for row in connection.execute(f"PRAGMA table_info({table})")
            }
            missing = [column for column in columns if column not in present]
            if not present:
                raise LegacyDatabaseError(
                    f"{path} is not a WIMS-LTI database: it has no table {table}"
                )
            if missing:
                raise LegacyDatabaseError(
                    f"{path} is not a WIMS-LTI database of the last schema: table "
                    f"{table} has no column {', '.join(missing)}"
                )
            # The names come from LEGACY_TABLES, never from the file.
            query = f"SELECT {', '.join(columns)} FROM {table} ORDER BY 1"  # noqa: S608
            tables[table] = [dict(row) for row in connection.execute(query)]
        return tables
    except sqlite3.DatabaseError as error:
        raise LegacyDatabaseError(f"cannot read {path}: {error}") from None
    finally:
        connection.close()


@dataclass
class Tally:
    imported: int = 0
    existing: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def line(self, kind: str) -> str:
        return (
            f"{kind}: {self.imported} imported, {self.existing} already there, "
            f"{sum(self.skipped.values())} skipped"
        )


@dataclass
class ImportReport:
    tallies: dict[str, Tally] = field(
        default_factory=lambda: {kind: Tally() for kind in KINDS}
    )

    def imported(self, kind: str) -> None:
        self.tallies[kind].imported += 1

    def existing(self, kind: str) -> None:
        self.tallies[kind].existing += 1

    def skipped(self, kind: str, reason: str) -> None:
        self.tallies[kind].skipped[reason] += 1

    def lines(self) -> list[str]:
        lines = []
        for kind, tally in self.tallies.items():
            lines.append(tally.line(kind))
            for reason, number in sorted(tally.skipped.items()):
                lines.append(f"  skipped {number}: {reason}")
        return lines

    def summary(self) -> str:
        tallies = self.tallies.values()
        imported = sum(t.imported for t in tallies)
        existing = sum(t.existing for t in tallies)
        skipped = sum(sum(t.skipped.values()) for t in tallies)
        return f"{imported} imported, {existing} already there, {skipped} skipped"


class LegacyImport:
    """Add the rows of a WIMS-LTI database to the gateway's, by natural key."""

    def __init__(self, session: Session, lang: str):
        self.session = session
        self.lang = lang
        self.report = ImportReport()
        self.now = utcnow()
        # Old primary keys → the gateway's rows.
        self.lmss: dict[int, Lms] = {}
        self.servers: dict[int, WimsServer] = {}
        self.classes: dict[int, WimsClass] = {}
        self.users: dict[int, WimsUser] = {}
        self.activities: dict[tuple[ActivityKind, int], Activity] = {}

    def run(self, tables: dict[str, list[Row]]) -> ImportReport:
        """Import ``tables`` (from ``read_legacy``) into the session; no commit."""
        with self.session.no_autoflush:
            for row in tables["lti_app_lms"]:
                self._lms(row)
            created = set()
            for row in tables["lti_app_wims"]:
                if self._server(row):
                    created.add(row["id"])
            self._allowed(tables["lti_app_wims_allowed_lms"], created)
            for row in tables["lti_app_wimsclass"]:
                self._class(row)
            for row in tables["lti_app_wimsuser"]:
                self._user(row)
            for kind, table, column in (
                (ActivityKind.SHEET, "lti_app_wimssheet", "qsheet"),
                (ActivityKind.EXAM, "lti_app_wimsexam", "qexam"),
            ):
                for row in tables[table]:
                    self._activity(kind, row, column)
            for kind, table in (
                (ActivityKind.SHEET, "lti_app_gradelinksheet"),
                (ActivityKind.EXAM, "lti_app_gradelinkexam"),
            ):
                for row in tables[table]:
                    self._grade_link(kind, row)
        self.session.flush()
        _advance_server_ids(self.session)
        return self.report

    def _lms(self, row: Row) -> None:
        key = (row["key"] or "").strip()
        if not key:
            self.report.skipped("LMS", "no consumer key")
            return
        lms = self.session.scalars(sa.select(Lms).where(Lms.key == key)).one_or_none()
        if lms is not None:
            self.report.existing("LMS")
        else:
            lms = Lms(
                key=key,
                secret=row["secret"] or "",
                guid=(row["guid"] or "").strip() or None,
                name=(row["name"] or key).strip(),
                url=(row["url"] or "").strip() or None,
                source="admin",
            )
            self.session.add(lms)
            self.report.imported("LMS")
        self.lmss[row["id"]] = lms

    def _server(self, row: Row) -> bool:
        """Import one WIMS server under its number; tell whether it is new."""
        number, url = row["id"], (row["url"] or "").strip()
        same_number = self.session.get(WimsServer, number)
        if same_number is not None:
            if _same_url(same_number.url, url):
                self.servers[number] = same_number
                self.report.existing("WIMS servers")
            else:
                self.report.skipped(
                    "WIMS servers",
                    f"WIMS server {number} ({url}): the gateway's WIMS server "
                    f"{number} is {same_number.url}; its classes are not imported",
                )
            return False
        for other in self.session.scalars(sa.select(WimsServer)):
            if _same_url(other.url, url):
                self.report.skipped(
                    "WIMS servers",
                    f"WIMS server {number} ({url}): the gateway has it as WIMS "
                    f"server {other.id}, and /lti/C{number}/ links would break",
                )
                return False
        server = WimsServer(
            id=number,
            name=(row["name"] or url).strip(),
            url=url,
            ident=row["ident"] or "",
            passwd=row["passwd"] or "",
            rclass=row["rclass"] or "",
            class_limit=row["class_limit"] or 150,
            class_lifetime_days=_lifetime_days(row["expiration"]),
            source="admin",
        )
        self.session.add(server)
        self.servers[number] = server
        self.report.imported("WIMS servers")
        return True

    def _allowed(self, rows: list[Row], created: set[int]) -> None:
        # Only servers made by this import get the old list: the allowed
        # LMSs of the others are the administrator's.
        for row in rows:
            server = self.servers.get(row["wims_id"])
            lms = self.lmss.get(row["lms_id"])
            if (
                row["wims_id"] in created
                and server is not None
                and lms is not None
                and lms not in server.allowed_lms
            ):
                server.allowed_lms.append(lms)

    def _class(self, row: Row) -> None:
        server = self.servers.get(row["wims_id"])
        lms = self.lmss.get(row["lms_id"])
        qclass = str(row["qclass"] or "").strip()
        context_id = (row["lms_guid"] or "").strip()
        if server is None or lms is None:
            self.report.skipped("classes", "their LMS or WIMS server is not imported")
            return
        if not qclass or not context_id:
            self.report.skipped("classes", "no WIMS class id or no LMS context_id")
            return
        self.session.flush()
        found = self.session.scalars(
            sa.select(WimsClass).where(
                WimsClass.wims_server_id == server.id, WimsClass.qclass == qclass
            )
        ).one_or_none()
        if found is not None:
            self.classes[row["id"]] = found
            self.report.existing("classes")
            return
        live = self.session.scalars(
            sa.select(WimsClass).where(
                WimsClass.lms_id == lms.id,
                WimsClass.context_id == context_id,
                WimsClass.wims_server_id == server.id,
                WimsClass.state != ClassState.GONE,
            )
        ).one_or_none()
        if live is not None:
            self.report.skipped(
                "classes", "the course already has another class on that server"
            )
            return
        wims_class = WimsClass(
            lms=lms,
            wims_server=server,
            context_id=context_id,
            qclass=qclass,
            state=ClassState.READY,
            name=(row["name"] or "").strip() or f"Course {context_id}",
            institution=lms.name,
            lang=self.lang,
            email="",
            user_limit=server.class_limit,
            # WIMS keeps them; WIMS-LTI never did.
            class_password="",
            supervisor_password="",
            created_at=self.now,
            ready_at=self.now,
        )
        self.session.add(wims_class)
        self.classes[row["id"]] = wims_class
        self.report.imported("classes")

    def _user(self, row: Row) -> None:
        wims_class = self.classes.get(row["wclass_id"])
        user_id = (row["lms_guid"] or "").strip()
        quser = (row["quser"] or "").strip()
        if not user_id:
            # The class's shared "supervisor" login: the gateway keeps a row
            # per teacher instead, made at their next launch.
            self.report.skipped("users", "supervisor rows, made again at launch")
            return
        if wims_class is None:
            self.report.skipped("users", "their class is not imported")
            return
        if not quser:
            self.report.skipped("users", "no WIMS login")
            return
        self.session.flush()
        found = self.session.scalars(
            sa.select(WimsUser).where(
                WimsUser.class_id == wims_class.id,
                sa.or_(WimsUser.lms_user_id == user_id, WimsUser.quser == quser),
            )
        ).all()
        if any((u.lms_user_id, u.quser) == (user_id, quser) for u in found):
            self.users[row["id"]] = next(u for u in found if u.quser == quser)
            self.report.existing("users")
            return
        if found:
            self.report.skipped(
                "users", "the LMS user or the WIMS login is already another one"
            )
            return
        user = WimsUser(
            wims_class=wims_class,
            lms_user_id=user_id,
            quser=quser,
            state=UserState.READY,
        )
        self.session.add(user)
        self.users[row["id"]] = user
        self.report.imported("users")

    def _activity(self, kind: ActivityKind, row: Row, column: str) -> None:
        what = "worksheets" if kind is ActivityKind.SHEET else "exams"
        wims_class = self.classes.get(row["wclass_id"])
        qitem = str(row[column] or "").strip()
        if wims_class is None:
            self.report.skipped(what, "their class is not imported")
            return
        if not qitem.isdigit():
            self.report.skipped(what, "no WIMS number")
            return
        self.session.flush()
        found = self.session.scalars(
            sa.select(Activity).where(
                Activity.class_id == wims_class.id,
                Activity.kind == kind,
                Activity.qitem == int(qitem),
            )
        ).one_or_none()
        if found is not None:
            self.activities[kind, row["id"]] = found
            self.report.existing(what)
            return
        activity = Activity(
            wims_class=wims_class,
            kind=kind,
            qitem=int(qitem),
            resource_link_id=(row["lms_guid"] or "").strip() or None,
        )
        self.session.add(activity)
        self.activities[kind, row["id"]] = activity
        self.report.imported(what)

    def _grade_link(self, kind: ActivityKind, row: Row) -> None:
        user = self.users.get(row["user_id"])
        activity = self.activities.get((kind, row["activity_id"]))
        if user is None or activity is None:
            self.report.skipped("grade links", "their user or activity is not imported")
            return
        if not row["sourcedid"] or not row["url"]:
            self.report.skipped("grade links", "no sourcedid or outcome URL")
            return
        self.session.flush()
        found = self.session.scalars(
            sa.select(GradeLink).where(
                GradeLink.user_id == user.id, GradeLink.activity_id == activity.id
            )
        ).one_or_none()
        if found is not None:
            self.report.existing("grade links")
            return
        self.session.add(
            GradeLink(
                user=user,
                activity=activity,
                sourcedid=row["sourcedid"],
                outcome_url=row["url"],
            )
        )
        self.report.imported("grade links")


def _same_url(first: str, second: str) -> bool:
    return first.strip().rstrip("/") == second.strip().rstrip("/")


def _lifetime_days(expiration: Any) -> int:
    """Return the days of a Django ``DurationField`` read from SQLite."""
    if isinstance(expiration, int) and expiration > 0:
        return max(1, round(expiration / MICROSECONDS_A_DAY))
    return DEFAULT_LIFETIME_DAYS


def _advance_server_ids(session: Session) -> None:
    # PostgreSQL's sequence knows nothing of the numbers given explicitly:
    # the next server made in the admin would collide with an imported one.
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            sa.text(
                "SELECT setval(pg_get_serial_sequence('wims_server', 'id'), "
                "(SELECT COALESCE(MAX(id), 1) FROM wims_server))"
            )
        )


def import_wimslti(context: "Context", args: argparse.Namespace) -> int:
    """Import a WIMS-LTI database; print what was imported and skipped."""
    context.require_current_database()
    try:
        tables = read_legacy(args.path)
    except LegacyDatabaseError as error:
        context.err(f"{COMMAND}: {error}")
        return 1
    session = context.session_factory()
    try:
        report = LegacyImport(session, args.lang).run(tables)
        if args.dry_run:
            session.rollback()
        else:
            session.commit()
    finally:
        session.close()
    for line in report.lines():
        context.out(line)
    verb = "Would import" if args.dry_run else "Imported"
    context.out(f"{verb} {args.path}: {report.summary()}")
    log.info("import of %s: %s", args.path, report.summary())
    return 0


def import_wimslti_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="the db.sqlite3 of WIMS-LTI")
    parser.add_argument(
        "--lang",
        default="en",
        choices=WIMS_LANGUAGES,
        help="the WIMS language of the imported classes (default: en)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would be imported, then roll back",
    )
