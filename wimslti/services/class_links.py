"""A class's worksheets and exams with their launch URLs, for its teachers.

The list is asked of WIMS (``listsheets`` and ``listexams``, two adm/raw
calls) only when a teacher or an administrator opens the class's page; the
gateway's own rows tell which items already have grade links.

The teacher's way in is a *pass*: a signed cookie that names one class (and
the LMS user it was given to) and expires after ``TEACHER_PASS_SECONDS``. A
teacher launch of the course gives it (``views/teacher.py``), and the
security policy turns it into the principal of that class's teachers. It
costs no adm/raw call, so a teacher's launch still costs one.
"""

import hashlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from pyramid.config import Configurator
from pyramid.request import Request
from sqlalchemy.orm import Session
from webob.cookies import SignedSerializer

from wimslti.i18n import _
from wimslti.lti.errors import LaunchNotFound, LaunchRetryLater
from wimslti.models import (
    Activity,
    ActivityKind,
    ClassState,
    GradeLink,
    Lms,
    WimsClass,
    WimsServer,
)
from wimslti.services.wims_connector import WimsConnector
from wimslti.wims import ClassNotFound, ItemSummary, WimsError

log = logging.getLogger(__name__)

# What the pass lets one see; granted by ``ClassLinksPage.__acl__``.
SEE_CLASS_LINKS = "class.links"
TEACHER_COOKIE = "wimslti_teacher"
# Long enough to set up a course's activities, short enough that a shared
# computer does not keep the way in for long.
TEACHER_PASS_SECONDS = 2 * 3600
_REGISTRY_KEY = "teacher_pass"

# The state of a worksheet or exam, for its teacher: WIMS's status 0-3.
ITEM_STATES = {
    0: _("in preparation"),
    1: _("open to students"),
    2: _("past its expiration date"),
    3: _("hidden from students"),
}


@dataclass(frozen=True)
class ClassItem:
    """One worksheet or exam of a class, as its teachers see it."""

    kind: ActivityKind
    number: int
    title: str
    status: int
    # Grade links the gateway keeps for it (students who launched it from
    # an activity that accepts grades), dead ones left out.
    grade_links: int = 0

    @property
    def segment(self) -> str:
        """Return the last part of its launch URL: ``S2``, ``E1``."""
        letter = "S" if self.kind is ActivityKind.SHEET else "E"
        return f"{letter}{self.number}"

    @property
    def state(self) -> str:
        return ITEM_STATES.get(self.status, _("in an unknown state"))


@dataclass(frozen=True)
class ClassItems:
    """The worksheets and exams of a class, or why WIMS could not list them."""

    sheets: list[ClassItem] = field(default_factory=list)
    exams: list[ClassItem] = field(default_factory=list)
    # A translation string, empty when the lists came.
    problem: str = ""


class ClassLinksService:
    """Find a course's class and list its worksheets and exams."""

    def __init__(self, dbsession: Session, connector: WimsConnector):
        self.dbsession = dbsession
        self.connector = connector

    def course_class(self, lms: Lms, server: WimsServer, context_id: str) -> WimsClass:
        """Return the ready class of an LMS course on ``server``.

        :raises LaunchNotFound: when the course has no class yet.
        :raises LaunchRetryLater: while its class is being created.
        """
        wims_class = self.dbsession.scalars(
            sa.select(WimsClass).where(
                WimsClass.lms_id == lms.id,
                WimsClass.context_id == context_id,
                WimsClass.wims_server_id == server.id,
                WimsClass.state != ClassState.GONE,
            )
        ).one_or_none()
        if wims_class is None:
            raise LaunchNotFound(
                _(
                    "The WIMS class of this course does not exist yet: open the "
                    "course's WIMS class activity (the URL ending in "
                    "/lti/C${number}/) once to create it; this page then lists "
                    "its worksheets and exams.",
                    mapping={"number": server.id},
                ),
                detail="class not created yet",
            )
        if wims_class.state is ClassState.CREATING:
            raise LaunchRetryLater(
                _(
                    "The WIMS class of this course is being created. Wait a "
                    "minute, then launch the activity again."
                ),
                detail=f"class {wims_class.qclass} still being created",
            )
        return wims_class

    def items(self, wims_class: WimsClass) -> ClassItems:
        """Return the class's worksheets and exams: two adm/raw calls.

        A WIMS failure is told in ``problem``, not raised: the pages that
        show the list have more to show.
        """
        if wims_class.state is ClassState.GONE:
            return ClassItems(problem=_("WIMS no longer has this class."))
        if wims_class.state is ClassState.CREATING:
            return ClassItems(problem=_("WIMS is still creating this class."))
        client = self.connector.client(wims_class.wims_server)
        try:
            sheets = client.listsheets(wims_class.qclass)
            exams = client.listexams(wims_class.qclass)
        except ClassNotFound:
            log.warning("class %s is not on WIMS any more", wims_class.qclass)
            return ClassItems(problem=_("WIMS no longer has this class."))
        except WimsError as error:
            log.warning(
                "could not list the items of class %s: %s", wims_class.qclass, error
            )
            return ClassItems(
                problem=_(
                    "WIMS could not list the worksheets and exams right now "
                    "(${error}); try again in a moment.",
                    mapping={"error": type(error).__name__},
                )
            )
        links = self._grade_links(wims_class)
        return ClassItems(
            sheets=_class_items(ActivityKind.SHEET, sheets, links),
            exams=_class_items(ActivityKind.EXAM, exams, links),
        )

    def _grade_links(
        self, wims_class: WimsClass
    ) -> dict[tuple[ActivityKind, int], int]:
        rows = self.dbsession.execute(
            sa.select(Activity.kind, Activity.qitem, sa.func.count(GradeLink.id))
            .join(GradeLink, GradeLink.activity_id == Activity.id)
            .where(Activity.class_id == wims_class.id, GradeLink.dead_at.is_(None))
            .group_by(Activity.kind, Activity.qitem)
        )
        return {(kind, qitem): count for kind, qitem, count in rows}


def _class_items(
    kind: ActivityKind,
    summaries: list[ItemSummary],
    links: dict[tuple[ActivityKind, int], int],
) -> list[ClassItem]:
    items = []
    for summary in summaries:
        if not summary.id.isdigit():
            log.warning("WIMS lists a %s numbered %r; skipped", kind, summary.id)
            continue
        number = int(summary.id)
        items.append(
            ClassItem(
                kind=kind,
                number=number,
                title=summary.title,
                status=summary.status,
                grade_links=links.get((kind, number), 0),
            )
        )
    return items


class TeacherPass:
    """Sign and read the passes that open one class's page to its teachers."""

    def __init__(self, secret: str, clock: Callable[[], float] = time.time):
        self._serializer = SignedSerializer(
            secret, salt="wimslti.teacher-pass", hashalg="sha256"
        )
        self.clock = clock

    def issue(self, class_id: int, user_id: str) -> str:
        """Return a pass to the page of class ``class_id`` for LMS user ``user_id``."""
        until = int(self.clock()) + TEACHER_PASS_SECONDS
        value = {"class": class_id, "user": user_id, "until": until}
        return self._serializer.dumps(value).decode("ascii")

    def class_id(self, value: str) -> int | None:
        """Return the class whose page ``value`` opens; None if forged or expired."""
        try:
            data = self._serializer.loads(value.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            return None
        if not isinstance(data, dict):
            return None
        class_id, until = data.get("class"), data.get("until")
        if not isinstance(class_id, int) or not isinstance(until, int):
            return None
        if until < self.clock():
            return None
        return class_id


def teacher_principal(class_id: int) -> str:
    """Return the principal of the teachers of class ``class_id``."""
    return f"teacher-of-class:{class_id}"


def teacher_principals(request: Request) -> list[str]:
    """Return the principal the request's teacher pass gives, if any."""
    teacher_pass = request.registry.get(_REGISTRY_KEY)
    value = request.cookies.get(TEACHER_COOKIE, "")
    if teacher_pass is None or not value:
        return []
    class_id = teacher_pass.class_id(value)
    return [] if class_id is None else [teacher_principal(class_id)]


def find_teacher_pass(request: Request) -> TeacherPass:
    return request.registry[_REGISTRY_KEY]


def factory(context: Any, request: Any) -> ClassLinksService:
    return ClassLinksService(request.dbsession, request.find_service(WimsConnector))


def includeme(config: Configurator) -> None:
    secret = config.get_settings().get("wimslti.session_secret")
    # Without a configured secret (security.py warns about it), passes last
    # as long as the process, like admin sessions.
    secret = secret or secrets.token_urlsafe(32)
    derived = hashlib.sha256(b"wimslti.teacher-pass:" + secret.encode()).hexdigest()
    config.registry[_REGISTRY_KEY] = TeacherPass(derived)
    config.register_service_factory(factory, iface=ClassLinksService)
