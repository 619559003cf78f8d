"""What the web admin decides: records made and changed there, and the figures
an administrator needs to run the service.

Records made here have ``source = "admin"``; the YAML reload takes over any
of them that a file declares with the same natural key (an LMS's consumer
key, a WIMS server's number or URL). Retiring only sets ``retired_at``: the
classes, users and grade links of a retired record stay as they are.
"""

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from wimslti.config.sync import ADMIN, LMS_FIELDS, WIMS_FIELDS
from wimslti.models import (
    Activity,
    ClassState,
    GradeLink,
    Lms,
    WimsClass,
    WimsServer,
    WimsUser,
    WorkerPass,
    utcnow,
)
from wimslti.services.admin_user import AdminUserService
from wimslti.services.admin_user import factory as admin_user_factory
from wimslti.services.wims_connector import WimsConnector
from wimslti.wims import WimsError

log = logging.getLogger(__name__)

# The states of a grade link, as the dashboard and class pages name them.
GRADE_LINK_STATES = ("sent", "waiting", "retrying", "dead", "no score yet")


def grade_link_state() -> sa.Case:
    """Return the SQL expression of a grade link's state."""
    return sa.case(
        (GradeLink.dead_at.is_not(None), "dead"),
        (
            sa.and_(GradeLink.pending_score.is_not(None), GradeLink.attempts > 0),
            "retrying",
        ),
        (GradeLink.pending_score.is_not(None), "waiting"),
        (GradeLink.last_sent_at.is_not(None), "sent"),
        else_="no score yet",
    )


def state_of(link: GradeLink) -> str:
    """Return the state of ``link``, as ``grade_link_state`` computes it."""
    if link.dead_at is not None:
        return "dead"
    if link.pending_score is not None:
        return "retrying" if link.attempts > 0 else "waiting"
    if link.last_sent_at is not None:
        return "sent"
    return "no score yet"


@dataclasses.dataclass(frozen=True)
class Usage:
    """What depends on an LMS or a WIMS server, and stays when it is retired."""

    classes: int
    users: int
    grade_links: int


@dataclasses.dataclass(frozen=True)
class Dashboard:
    lms_active: int
    lms_retired: int
    wims_active: int
    wims_retired: int
    classes: dict[str, int]
    users: int
    activities: int
    grade_links: dict[str, int]
    last_worker_pass: WorkerPass | None


@dataclasses.dataclass(frozen=True)
class ConnectionTest:
    """The answer of WIMS to ``checkident``, in its own words."""

    ok: bool
    message: str


class AdminService:
    """Make, change, retire and restore records; count what the admin shows."""

    def __init__(self, dbsession: Session, connector: WimsConnector) -> None:
        self.dbsession = dbsession
        self.connector = connector

    # Records ------------------------------------------------------------

    def lms_by_key(self, key: str) -> Lms | None:
        return self.dbsession.scalars(sa.select(Lms).where(Lms.key == key)).first()

    def wims_by_url(self, url: str) -> WimsServer | None:
        query = sa.select(WimsServer).where(WimsServer.url == url)
        return self.dbsession.scalars(query).first()

    def active_lms(self) -> list[Lms]:
        query = (
            sa.select(Lms)
            .where(Lms.retired_at.is_(None))
            .order_by(sa.func.lower(Lms.name), Lms.key)
        )
        return list(self.dbsession.scalars(query))

    def add_lms(self, values: Mapping[str, Any]) -> Lms:
        """Create an LMS owned by the admin from the form's ``values``."""
        lms = Lms(key=values["key"], source=ADMIN, source_file=None)
        self._set(lms, values, LMS_FIELDS)
        self.dbsession.add(lms)
        self.dbsession.flush()
        log.info("Admin added LMS key=%r", lms.key)
        return lms

    def update_lms(self, lms: Lms, values: Mapping[str, Any]) -> list[str]:
        """Apply the form's ``values``; a missing secret keeps the current one."""
        changed = self._set(lms, values, ("key", *LMS_FIELDS))
        self.dbsession.flush()
        log.info("Admin changed LMS key=%r: %s", lms.key, ", ".join(changed) or "-")
        return changed

    def next_wims_id(self) -> int:
        """Return a number above every number ever given to a WIMS server.

        A launch URL /lti/C<n>/ of a retired server never points at another.
        """
        highest = self.dbsession.scalar(sa.select(sa.func.max(WimsServer.id)))
        return (highest or 0) + 1

    def add_wims(self, values: Mapping[str, Any]) -> WimsServer:
        """Create a WIMS server owned by the admin from the form's ``values``."""
        server = WimsServer(
            id=values.get("id") or self.next_wims_id(),
            source=ADMIN,
            source_file=None,
        )
        self._set(server, values, WIMS_FIELDS)
        server.allowed_lms = self._lms_list(values.get("allowed_lms", ()))
        self.dbsession.add(server)
        self.dbsession.flush()
        log.info("Admin added WIMS server id=%s url=%r", server.id, server.url)
        return server

    def update_wims(self, server: WimsServer, values: Mapping[str, Any]) -> list[str]:
        """Apply the form's ``values``; a missing passwd keeps the current one."""
        changed = self._set(server, values, WIMS_FIELDS)
        allowed = self._lms_list(values.get("allowed_lms", ()))
        if {lms.id for lms in allowed} != {lms.id for lms in server.allowed_lms}:
            server.allowed_lms = allowed
            # The association rows alone would not bump updated_at.
            server.updated_at = utcnow()
            changed.append("allowed_lms")
        self.dbsession.flush()
        log.info(
            "Admin changed WIMS server id=%s: %s", server.id, ", ".join(changed) or "-"
        )
        return changed

    def retire(self, record: Lms | WimsServer) -> None:
        """Retire ``record``: launches stop, everything that depends on it stays."""
        record.retired_at = utcnow()
        self.dbsession.flush()
        log.info("Admin retired %r", record)

    def restore(self, record: Lms | WimsServer) -> None:
        """Bring ``record`` back, owned by the admin from now on."""
        record.retired_at = None
        record.source = ADMIN
        record.source_file = None
        self.dbsession.flush()
        log.info("Admin restored %r", record)

    def _set(self, record: Any, values: Mapping[str, Any], names: Any) -> list[str]:
        changed = []
        for name in names:
            if name in values and getattr(record, name) != values[name]:
                setattr(record, name, values[name])
                changed.append(name)
        return changed

    def _lms_list(self, keys: Any) -> list[Lms]:
        keys = set(keys)
        if not keys:
            return []
        query = sa.select(Lms).where(Lms.key.in_(keys)).order_by(Lms.key)
        return list(self.dbsession.scalars(query))

    # Figures ------------------------------------------------------------

    def usage(self, record: Lms | WimsServer) -> Usage:
        """Count the classes, users and grade links that depend on ``record``."""
        column = (
            WimsClass.lms_id if isinstance(record, Lms) else WimsClass.wims_server_id
        )
        class_ids = sa.select(WimsClass.id).where(column == record.id)
        users = sa.select(sa.func.count(WimsUser.id)).where(
            WimsUser.class_id.in_(class_ids)
        )
        links = (
            sa.select(sa.func.count(GradeLink.id))
            .join(WimsUser, GradeLink.user_id == WimsUser.id)
            .where(WimsUser.class_id.in_(class_ids))
        )
        classes = sa.select(sa.func.count()).select_from(class_ids.subquery())
        return Usage(
            classes=self.dbsession.scalar(classes) or 0,
            users=self.dbsession.scalar(users) or 0,
            grade_links=self.dbsession.scalar(links) or 0,
        )

    def dashboard(self) -> Dashboard:
        """Count the records and what the gateway made, for the dashboard."""
        session = self.dbsession

        def active_and_retired(model: type[Lms] | type[WimsServer]) -> tuple[int, int]:
            query = sa.select(
                model.retired_at.is_(None), sa.func.count(model.id)
            ).group_by(model.retired_at.is_(None))
            counts = {bool(active): count for active, count in session.execute(query)}
            return counts.get(True, 0), counts.get(False, 0)

        lms_active, lms_retired = active_and_retired(Lms)
        wims_active, wims_retired = active_and_retired(WimsServer)
        classes = {str(state): 0 for state in ClassState}
        query = sa.select(WimsClass.state, sa.func.count()).group_by(WimsClass.state)
        classes.update({str(state): count for state, count in session.execute(query)})
        state = grade_link_state()
        links = dict.fromkeys(GRADE_LINK_STATES, 0)
        query = sa.select(state, sa.func.count()).group_by(state)
        links.update({name: count for name, count in session.execute(query)})
        last_pass = session.scalars(
            sa.select(WorkerPass).order_by(WorkerPass.started_at.desc()).limit(1)
        ).first()
        return Dashboard(
            lms_active=lms_active,
            lms_retired=lms_retired,
            wims_active=wims_active,
            wims_retired=wims_retired,
            classes=classes,
            users=session.scalar(sa.select(sa.func.count(WimsUser.id))) or 0,
            activities=session.scalar(sa.select(sa.func.count(Activity.id))) or 0,
            grade_links=links,
            last_worker_pass=last_pass,
        )

    def classes(self, offset: int = 0, limit: int = 50) -> tuple[list[Any], int]:
        """Return a page of classes, newest first, with their user counts."""
        users = (
            sa.select(sa.func.count(WimsUser.id))
            .where(WimsUser.class_id == WimsClass.id)
            .scalar_subquery()
        )
        query = (
            sa.select(WimsClass, users.label("users"))
            .order_by(WimsClass.created_at.desc(), WimsClass.id.desc())
            .offset(offset)
            .limit(limit)
        )
        total = self.dbsession.scalar(sa.select(sa.func.count(WimsClass.id))) or 0
        return [tuple(row) for row in self.dbsession.execute(query)], total

    def class_users(self, wims_class: WimsClass) -> list[WimsUser]:
        query = (
            sa.select(WimsUser)
            .where(WimsUser.class_id == wims_class.id)
            .order_by(WimsUser.is_supervisor.desc(), WimsUser.lastname, WimsUser.id)
        )
        return list(self.dbsession.scalars(query))

    def class_activities(self, wims_class: WimsClass) -> list[Activity]:
        query = (
            sa.select(Activity)
            .where(Activity.class_id == wims_class.id)
            .order_by(Activity.kind, Activity.qitem)
        )
        return list(self.dbsession.scalars(query))

    def class_grade_links(
        self, wims_class: WimsClass, limit: int = 1000
    ) -> list[GradeLink]:
        query = (
            sa.select(GradeLink)
            .join(Activity, GradeLink.activity_id == Activity.id)
            .join(WimsUser, GradeLink.user_id == WimsUser.id)
            .where(Activity.class_id == wims_class.id)
            .order_by(Activity.kind, Activity.qitem, WimsUser.lastname, GradeLink.id)
            .limit(limit)
        )
        return list(self.dbsession.scalars(query))

    # WIMS ---------------------------------------------------------------

    def test_connection(self, server: WimsServer) -> ConnectionTest:
        """Ask WIMS whether it accepts the server's ident and password."""
        client = self.connector.client(server)
        try:
            message = client.checkident()
        except WimsError as error:
            log.info(
                "Connection test of WIMS server id=%s failed: %s %s",
                server.id,
                type(error).__name__,
                error.message,
            )
            return ConnectionTest(False, f"{type(error).__name__}: {error.message}")
        log.info("Connection test of WIMS server id=%s: %s", server.id, message)
        return ConnectionTest(True, message or "OK")


def factory(context, request) -> AdminService:
    return AdminService(request.dbsession, request.find_service(WimsConnector))


def includeme(config) -> None:
    # Registered here rather than in services/__init__.py, with the admin.
    config.register_service_factory(factory, iface=AdminService)
    config.register_service_factory(admin_user_factory, iface=AdminUserService)
