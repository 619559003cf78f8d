"""Find or create what a launch needs, then open a WIMS session for it.

A warm launch (class and user known) costs one adm/raw call, ``authuser``;
a worksheet or exam launch adds ``getsheet``/``getexam`` for learners, who
may only open active items. Other calls are made only when the database
cannot answer or WIMS says a record is gone.

Creating a class or a WIMS login is claimed first: a row in state
``creating`` is committed, under its unique key, before WIMS is asked, so two
launches at the same moment create one class and one login. The class id is
picked before ``addclass`` is sent, so a launch that retries after a timeout
finds the class instead of creating a second one.
"""

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from wimslti.i18n import _
from wimslti.lti.errors import (
    LaunchError,
    LaunchForbidden,
    LaunchNotFound,
    LaunchRetryLater,
)
from wimslti.lti.params import LaunchParams
from wimslti.models import (
    Activity,
    ActivityKind,
    ActivityState,
    ClassState,
    GradeLink,
    Lms,
    UserState,
    WimsClass,
    WimsServer,
    WimsUser,
    committed_session,
    utcnow,
)
from wimslti.services.class_check import mark_class_gone
from wimslti.services.class_request import (
    ClassRequest,
    class_request,
    class_request_of,
    new_password,
    person_names,
)
from wimslti.services.wims_connector import WimsConnector
from wimslti.wims import (
    AuthSession,
    ClassExists,
    ClassNotConnected,
    ClassNotFound,
    DeletedUserFound,
    Exam,
    ItemNotFound,
    Sheet,
    UserExists,
    UserInfo,
    UserNotFound,
    WimsClient,
    WimsError,
    WimsTimeout,
    derive_login,
    login_candidates,
    new_class_id,
)

log = logging.getLogger(__name__)

# What a learner is told of a closed worksheet or exam; in French, words
# that agree with "activité", whatever the kind of item.
ITEM_STATUS_WORDS = {
    0: _("not open yet"),
    1: _("open"),
    2: _("expired"),
    3: _("hidden"),
}
LEARNER_STATUSES = (1, 2)

MAX_LOGIN_ATTEMPTS = 30
MAX_CLASS_ID_ATTEMPTS = 3


@dataclass(frozen=True)
class LaunchTarget:
    """Where the launch goes: the class, or one worksheet or exam of it."""

    kind: ActivityKind | None = None
    qitem: int | None = None

    @property
    def words(self) -> str:
        if self.kind is ActivityKind.SHEET:
            return f"worksheet {self.qitem}"
        if self.kind is ActivityKind.EXAM:
            return f"exam {self.qitem}"
        return "class"

    @property
    def label(self) -> str:
        """Return ``words`` as a translation string, for people."""
        if self.kind is ActivityKind.SHEET:
            return _("worksheet ${number}", mapping={"number": self.qitem})
        if self.kind is ActivityKind.EXAM:
            return _("exam ${number}", mapping={"number": self.qitem})
        return _("class")


@dataclass(frozen=True)
class LaunchResult:
    redirect_url: str
    wims_class: WimsClass
    as_supervisor: bool
    quser: str
    created_class: bool


class LaunchService:
    """Turn an authenticated launch into a logged-in WIMS session."""

    def __init__(
        self,
        dbsession: Session,
        session_factory: sessionmaker[Session],
        connector: WimsConnector,
        *,
        teacher_roles: list[str],
        claim_wait: float,
        claim_stale_after: float,
        clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.dbsession = dbsession
        self.session_factory = session_factory
        self.connector = connector
        self.teacher_roles = teacher_roles
        self.claim_wait = claim_wait
        self.claim_stale_after = timedelta(seconds=claim_stale_after)
        self.clock = clock
        self.sleep = sleep

    def launch(
        self, lms: Lms, server: WimsServer, params: LaunchParams, target: LaunchTarget
    ) -> LaunchResult:
        """Return where to send the person, creating what is missing.

        :raises LaunchError: for a launch that cannot go on.
        :raises WimsError: when WIMS fails or cannot be reached.
        """
        self.check_access(lms, server, params)
        teacher = self.is_teacher(params, lms)
        client = self.connector.client(server)
        course = _Course(lms, server, params, target, teacher, client)

        wims_class, created = self._live_class(course)
        try:
            return self._enter(course, wims_class, created)
        except ClassNotFound:
            self._mark_gone(wims_class)
            if not teacher or target.kind is not None:
                raise self._class_gone_error(course) from None
        # The teacher of a class WIMS lost gets a new one.
        wims_class, created = self._live_class(course)
        return self._enter(course, wims_class, created)

    def check_access(self, lms: Lms, server: WimsServer, params: LaunchParams) -> None:
        """Refuse a launch into a server that is retired or not open to ``lms``.

        :raises LaunchNotFound: for a retired server.
        :raises LaunchForbidden: for an LMS the server does not allow, or a
            launch that claims the GUID of another LMS.
        """
        if not server.is_active:
            raise LaunchNotFound(
                _(
                    "WIMS server ${number} is no longer served by this gateway.",
                    mapping={"number": server.id},
                ),
                detail=f"wims server {server.id} is retired",
            )
        if not server.allows(lms):
            raise LaunchForbidden(
                _(
                    "This WIMS server (${name}) is not open to your LMS. Ask "
                    "the gateway administrator to allow it.",
                    mapping={"name": server.name},
                ),
                detail=f"lms {lms.key!r} not allowed on wims server {server.id}",
            )
        if params.guid and lms.guid and params.guid != lms.guid:
            other = self.dbsession.scalars(
                sa.select(Lms).where(Lms.guid == params.guid, Lms.id != lms.id)
            ).first()
            if other is not None:
                log.warning("key %r used with the guid of lms %r", lms.key, other.key)
                raise LaunchForbidden(
                    _(
                        "This launch is signed with the key of one LMS but says "
                        "it comes from another one. Ask the LMS administrator to "
                        "check the tool's consumer key."
                    ),
                    # lti_errorlog goes back to the LMS: the other LMS stays
                    # unnamed there, and is named in the log.
                    detail="launch claims the GUID of another LMS",
                )
            # A GUID that names no other LMS: most likely the LMS moved to a
            # new domain. The key decides; the administrator is told.
            _say_once(
                ("guid", lms.key, params.guid),
                "lms %r sends guid %r, declared %r",
                lms.key,
                params.guid,
                lms.guid,
            )

    def is_teacher(self, params: LaunchParams, lms: Lms) -> bool:
        teacher = params.roles.is_teacher(self.teacher_roles)
        if not teacher and "teachingassistant" in params.roles.context:
            _say_once(
                ("ta", lms.key),
                "teaching assistants of lms %r launch as learners: "
                "teachingassistant is not in wimslti.teacher_roles",
                lms.key,
            )
        for role in params.roles.unknown:
            _say_once(
                ("role", lms.key, role), "lms %r sends unknown role %r", lms.key, role
            )
        return teacher

    # -- the class ---------------------------------------------------------

    def _live_class(self, course: "_Course") -> tuple[WimsClass, bool]:
        wims_class = self._find_live_class(course)
        if wims_class is None:
            if not course.teacher and self._has_gone_class(course):
                raise self._class_gone_error(course)
            if not course.teacher:
                raise LaunchForbidden(
                    _(
                        "The WIMS class of this course does not exist yet: your "
                        "teacher has to open this activity once first."
                    ),
                    detail="class not created yet and the launcher is no teacher",
                )
            return self._create_class(course), True
        if wims_class.state is ClassState.READY:
            return wims_class, False
        return self._await_class(course, wims_class.id)

    def _find_live_class(self, course: "_Course") -> WimsClass | None:
        return self.dbsession.scalars(
            sa.select(WimsClass)
            .where(
                WimsClass.lms_id == course.lms.id,
                WimsClass.context_id == course.params.context_id,
                WimsClass.wims_server_id == course.server.id,
                WimsClass.state != ClassState.GONE,
            )
            .execution_options(populate_existing=True)
        ).one_or_none()

    def _has_gone_class(self, course: "_Course") -> bool:
        return (
            self.dbsession.scalar(
                sa.select(WimsClass.id)
                .where(
                    WimsClass.lms_id == course.lms.id,
                    WimsClass.context_id == course.params.context_id,
                    WimsClass.wims_server_id == course.server.id,
                    WimsClass.state == ClassState.GONE,
                )
                .limit(1)
            )
            is not None
        )

    def _create_class(self, course: "_Course") -> WimsClass:
        request = class_request(course.params, course.server, course.lms, self.clock())
        token = secrets.token_hex(16)
        for _attempt in range(MAX_CLASS_ID_ATTEMPTS):
            qclass = new_class_id()
            try:
                with committed_session(self.session_factory) as session:
                    row = WimsClass(
                        lms_id=course.lms.id,
                        context_id=course.params.context_id,
                        wims_server_id=course.server.id,
                        qclass=qclass,
                        state=ClassState.CREATING,
                        claim_token=token,
                        claimed_at=self.clock(),
                        **request.columns,
                    )
                    session.add(row)
                    session.flush()
                    class_id = row.id
            except sa.exc.IntegrityError:
                if self._find_live_class(course) is not None:
                    # Another teacher's launch claimed the course first.
                    return self._live_class(course)[0]
                continue
            return self._send_addclass(course, class_id, token, request)
        raise LaunchRetryLater(_("The gateway could not pick a class id; try again."))

    def _send_addclass(
        self,
        course: "_Course",
        class_id: int,
        token: str,
        request: "ClassRequest",
        resumed: bool = False,
    ) -> WimsClass:
        """Ask WIMS for the claimed class and mark it ready.

        ``resumed`` tells that an earlier launch already sent this class id:
        WIMS then saying the class exists means that earlier ``addclass``
        went through after all.
        """
        qclass = self._fresh(WimsClass, class_id).qclass
        for _attempt in range(MAX_CLASS_ID_ATTEMPTS):
            try:
                course.client.addclass(qclass, request.klass, request.supervisor)
            except WimsTimeout:
                # WIMS may still create the class (it rebuilds its class index
                # under a lock): the claim stays, with its class id, and the
                # next launch asks WIMS whether the class came.
                log.warning("addclass %s timed out; the claim is kept", qclass)
                raise
            except ClassExists:
                if resumed:
                    return self._class_ready(class_id, token)
                qclass = self._new_class_id(class_id, token)
                continue
            except WimsError:
                self._release_class(class_id, token)
                raise
            return self._class_ready(class_id, token)
        self._release_class(class_id, token)
        raise LaunchRetryLater(_("The gateway could not pick a class id; try again."))

    def _await_class(self, course: "_Course", class_id: int) -> tuple[WimsClass, bool]:
        """Wait for another launch creating the class, or take its stale claim."""
        deadline = time.monotonic() + self.claim_wait
        while True:
            row = self._fresh(WimsClass, class_id)
            if row is None or row.state is ClassState.GONE:
                return self._live_class(course)
            if row.state is ClassState.READY:
                return self._reload(WimsClass, class_id), False
            if course.teacher and self._is_stale(row.claimed_at):
                return self._resume_class(course, row), True
            if time.monotonic() > deadline:
                raise LaunchRetryLater(
                    _(
                        "The WIMS class of this course is being created. Wait a "
                        "minute, then launch the activity again."
                    ),
                    detail=f"class {row.qclass} still being created",
                )
            self.sleep(0.2)

    def _resume_class(self, course: "_Course", row: WimsClass) -> WimsClass:
        """Finish the creation a launch began and did not end (a timeout)."""
        token = secrets.token_hex(16)
        if not self._take_claim(WimsClass, row.id, row.claim_token, token):
            wims_class, _ = self._live_class(course)
            return wims_class
        try:
            course.client.checkclass(row.qclass)
        except ClassNotFound:
            request = class_request_of(row, course.params)
            return self._send_addclass(course, row.id, token, request, resumed=True)
        except ClassNotConnected:
            # That id belongs to a class of somebody else: pick another one.
            self._new_class_id(row.id, token)
            request = class_request_of(row, course.params)
            return self._send_addclass(course, row.id, token, request)
        log.info("class %s found on WIMS after an interrupted creation", row.qclass)
        return self._class_ready(row.id, token)

    def _class_ready(self, class_id: int, token: str) -> WimsClass:
        with committed_session(self.session_factory) as session:
            session.execute(
                sa.update(WimsClass)
                .where(WimsClass.id == class_id, WimsClass.claim_token == token)
                .values(state=ClassState.READY, claim_token=None, ready_at=self.clock())
            )
        wims_class = self._reload(WimsClass, class_id)
        log.info(
            "created WIMS class %s on server %s for lms %r context %r",
            wims_class.qclass,
            wims_class.wims_server_id,
            wims_class.lms.key,
            wims_class.context_id,
        )
        return wims_class

    def _release_class(self, class_id: int, token: str) -> None:
        """Forget a claim WIMS refused, so that nothing half-made remains."""
        with committed_session(self.session_factory) as session:
            session.execute(
                sa.delete(WimsClass).where(
                    WimsClass.id == class_id, WimsClass.claim_token == token
                )
            )

    def _new_class_id(self, class_id: int, token: str) -> str:
        qclass = new_class_id()
        with committed_session(self.session_factory) as session:
            session.execute(
                sa.update(WimsClass)
                .where(WimsClass.id == class_id, WimsClass.claim_token == token)
                .values(qclass=qclass)
            )
        return qclass

    def _mark_gone(self, wims_class: WimsClass) -> None:
        mark_class_gone(self.session_factory, wims_class.id, self.clock())
        log.warning(
            "WIMS class %s of server %s is gone; marked so",
            wims_class.qclass,
            wims_class.wims_server_id,
        )

    def _class_gone_error(self, course: "_Course") -> LaunchError:
        if not course.teacher:
            return LaunchForbidden(
                _(
                    "The WIMS class of this course no longer exists: your "
                    "teacher has to open this activity once to create a new one."
                ),
                detail="class gone on WIMS; launcher is no teacher",
            )
        return LaunchNotFound(
            _(
                "The WIMS class of this ${item} no longer exists. Open the "
                "course's WIMS class link (the URL ending in /lti/C${number}/) "
                "to create a new class, then link the worksheets and exams again.",
                mapping={"item": course.target.label, "number": course.server.id},
            ),
            detail="class gone on WIMS",
        )

    # -- entering the class ------------------------------------------------

    def _enter(
        self, course: "_Course", wims_class: WimsClass, created: bool
    ) -> LaunchResult:
        activity = self._known_activity(wims_class, course.target)
        item: tuple[int, str] | None = None
        if course.target.kind is not None and not (course.teacher and activity):
            item = self._item_status(course, wims_class)

        if course.teacher:
            auth = course.client.authuser(wims_class.qclass, "supervisor")
            quser = "supervisor"
            user = self._person(wims_class, course.params, teacher=True)
        else:
            user = self._participant(course, wims_class)
            auth = self._authuser(course, wims_class, user)
            quser = user.quser or ""

        user.is_supervisor = user.is_supervisor or course.teacher
        user.last_launch_at = self.clock()
        if course.target.kind is not None:
            activity = self._record_activity(course, wims_class, user, item)
        log.debug("launch enters class %s as %s", wims_class.qclass, quser)
        return LaunchResult(
            redirect_url=wims_url(auth, wims_class.lang, course.target),
            wims_class=wims_class,
            as_supervisor=course.teacher,
            quser=quser,
            created_class=created,
        )

    def _known_activity(
        self, wims_class: WimsClass, target: LaunchTarget
    ) -> Activity | None:
        if target.kind is None:
            return None
        return self.dbsession.scalars(
            sa.select(Activity).where(
                Activity.class_id == wims_class.id,
                Activity.kind == target.kind,
                Activity.qitem == target.qitem,
            )
        ).one_or_none()

    def _item_status(self, course: "_Course", wims_class: WimsClass) -> tuple[int, str]:
        """Return the worksheet's or exam's status and title; refuse closed ones."""
        target = course.target
        try:
            qitem = str(target.qitem)
            if target.kind is ActivityKind.SHEET:
                item: Sheet | Exam = course.client.getsheet(wims_class.qclass, qitem)
            else:
                item = course.client.getexam(wims_class.qclass, qitem)
        except ItemNotFound:
            raise LaunchNotFound(
                _(
                    "The WIMS class of this course has no ${item}: create it in "
                    "WIMS, or correct its number at the end of the activity's "
                    "URL.",
                    mapping={"item": target.label},
                )
                if course.teacher
                else _(
                    "The WIMS class of this course has no ${item}. Ask your "
                    "teacher to check the activity's URL.",
                    mapping={"item": target.label},
                ),
                detail=f"{target.words} not in class {wims_class.qclass}",
            ) from None
        status = item.status
        if not course.teacher and status not in LEARNER_STATUSES:
            raise LaunchForbidden(
                _(
                    "This ${item} is ${status}: you can open it once your "
                    "teacher has activated it.",
                    mapping={
                        "item": target.label,
                        "status": ITEM_STATUS_WORDS.get(status, _("not open")),
                    },
                ),
                detail=f"{target.words} has WIMS status {status}",
            )
        return status, item.title

    def _record_activity(
        self,
        course: "_Course",
        wims_class: WimsClass,
        user: WimsUser,
        item: tuple[int, str] | None,
    ) -> Activity:
        """Record the activity and, for a learner, where to send the grade.

        ``item`` is the status and title WIMS gave, when it was asked.
        """
        target = course.target
        activity = self._ensure(
            Activity,
            {"class_id": wims_class.id, "kind": target.kind, "qitem": target.qitem},
        )
        activity.resource_link_id = course.params.resource_link_id
        activity.state = ActivityState.READY
        if item is not None:
            activity.wims_status, title = item
            activity.title = title[:255]
        if course.teacher:
            # The grade worker syncs this activity next; the launch never
            # waits for it.
            activity.sync_requested_at = self.clock()
        elif course.params.accepts_grades:
            link = self._ensure(
                GradeLink,
                {"user_id": user.id, "activity_id": activity.id},
                {
                    "sourcedid": course.params.sourcedid,
                    "outcome_url": course.params.outcome_url,
                },
            )
            if (link.sourcedid, link.outcome_url) != (
                course.params.sourcedid,
                course.params.outcome_url,
            ):
                # The latest launch wins: a new sourcedid revives a dead link.
                link.sourcedid = course.params.sourcedid
                link.outcome_url = course.params.outcome_url
                link.next_attempt_at = None
        return activity

    # -- the user ----------------------------------------------------------

    def _person(
        self, wims_class: WimsClass, params: LaunchParams, teacher: bool = False
    ) -> WimsUser:
        user = self._ensure(
            WimsUser,
            {"class_id": wims_class.id, "lms_user_id": params.person.user_id},
            {"state": UserState.READY},
        )
        names = person_names(params, "Teacher" if teacher else "Student")
        user.firstname, user.lastname = names.firstname, names.lastname
        user.email = params.person.email
        return user

    def _participant(self, course: "_Course", wims_class: WimsClass) -> WimsUser:
        """Return the person's row with a WIMS login, adding it to WIMS if new."""
        known = self.dbsession.scalars(
            sa.select(WimsUser).where(
                WimsUser.class_id == wims_class.id,
                WimsUser.lms_user_id == course.params.person.user_id,
            )
        ).one_or_none()
        if known is not None and known.quser and known.state is UserState.READY:
            return self._person(wims_class, course.params)
        person = self._ensure(
            WimsUser,
            {"class_id": wims_class.id, "lms_user_id": course.params.person.user_id},
            {"state": UserState.READY},
            committed=True,
        )
        if person.quser and person.state is UserState.READY:
            return self._person(wims_class, course.params)
        if person.state is UserState.CREATING:
            return self._await_user(course, wims_class, person.id)
        return self._add_login(course, wims_class, person.id)

    def _add_login(
        self, course: "_Course", wims_class: WimsClass, user_id: int
    ) -> WimsUser:
        names = person_names(course.params)
        info = UserInfo(
            lastname=names.lastname,
            firstname=names.firstname,
            password=new_password(),
            email=course.params.person.email or None,
        )
        token = secrets.token_hex(16)
        taken = set(
            self.dbsession.scalars(
                sa.select(WimsUser.quser).where(
                    WimsUser.class_id == wims_class.id, WimsUser.quser.is_not(None)
                )
            )
        )
        base = derive_login(
            given=course.params.person.given or None,
            family=course.params.person.family or None,
            full=course.params.person.full or None,
            email=course.params.person.email or None,
            user_id=course.params.person.user_id,
        )
        owned = False
        for attempt, quser in enumerate(login_candidates(base)):
            if attempt >= MAX_LOGIN_ATTEMPTS:
                break
            if quser in taken:
                continue
            try:
                owned = self._claim_login(user_id, quser, token, owned)
            except sa.exc.IntegrityError:
                continue
            if not owned:
                return self._await_user(course, wims_class, user_id)
            try:
                course.client.adduser(wims_class.qclass, quser, info)
            except (UserExists, DeletedUserFound):
                # A login WIMS has (or has in its trash) that is not ours.
                continue
            except WimsTimeout:
                log.warning("adduser %s timed out; the claim is kept", quser)
                raise
            except WimsError:
                self._release_login(user_id, token)
                raise
            return self._login_ready(wims_class, user_id, token, course.params)
        self._release_login(user_id, token)
        raise LaunchRetryLater(
            _("The gateway could not find a free WIMS login for you; try again."),
            detail=f"no free login from {base!r}",
        )

    def _claim_login(self, user_id: int, quser: str, token: str, owned: bool) -> bool:
        """Claim ``quser`` for the row; tell whether this launch owns the claim.

        :raises sa.exc.IntegrityError: when another user of the class has it.
        """
        with committed_session(self.session_factory) as session:
            query = sa.update(WimsUser).where(WimsUser.id == user_id)
            if owned:
                query = query.where(WimsUser.claim_token == token)
            else:
                query = query.where(
                    WimsUser.quser.is_(None), WimsUser.state == UserState.READY
                )
            return _changed_one(
                session,
                query.values(
                    quser=quser,
                    state=UserState.CREATING,
                    claim_token=token,
                    claimed_at=self.clock(),
                ),
            )

    def _login_ready(
        self, wims_class: WimsClass, user_id: int, token: str, params: LaunchParams
    ) -> WimsUser:
        with committed_session(self.session_factory) as session:
            session.execute(
                sa.update(WimsUser)
                .where(WimsUser.id == user_id, WimsUser.claim_token == token)
                .values(state=UserState.READY, claim_token=None)
            )
        self._reload(WimsUser, user_id)
        return self._person(wims_class, params)

    def _release_login(self, user_id: int, token: str) -> None:
        """Give up a login claim; forget a person whose launch never succeeded."""
        claimed = (WimsUser.id == user_id, WimsUser.claim_token == token)
        with committed_session(self.session_factory) as session:
            session.execute(
                sa.delete(WimsUser).where(
                    *claimed,
                    WimsUser.is_supervisor.is_(False),
                    WimsUser.last_launch_at.is_(None),
                )
            )
            session.execute(
                sa.update(WimsUser)
                .where(*claimed)
                .values(quser=None, state=UserState.READY, claim_token=None)
            )

    def _await_user(
        self, course: "_Course", wims_class: WimsClass, user_id: int
    ) -> WimsUser:
        """Wait for the launch adding this person's login (a double click)."""
        deadline = time.monotonic() + self.claim_wait
        while True:
            row = self._fresh(WimsUser, user_id)
            if row.state is UserState.READY and row.quser:
                self._reload(WimsUser, user_id)
                return self._person(wims_class, course.params)
            if row.state is UserState.READY:
                return self._add_login(course, wims_class, user_id)
            if self._is_stale(row.claimed_at):
                return self._resume_login(course, wims_class, row)
            if time.monotonic() > deadline:
                raise LaunchRetryLater(
                    _(
                        "Your WIMS account is being created. Wait a moment, then "
                        "launch the activity again."
                    ),
                    detail=f"login {row.quser} still being created",
                )
            self.sleep(0.2)

    def _resume_login(
        self, course: "_Course", wims_class: WimsClass, row: WimsUser
    ) -> WimsUser:
        """Finish adding a login whose launch timed out."""
        token = secrets.token_hex(16)
        if not self._take_claim(WimsUser, row.id, row.claim_token, token):
            return self._await_user(course, wims_class, row.id)
        names = person_names(course.params)
        try:
            found = course.client.getuser(wims_class.qclass, row.quser or "")
        except UserNotFound:
            found = None
        if found is not None and (found.lastname, found.firstname) == (
            names.wims_lastname,
            names.wims_firstname,
        ):
            return self._login_ready(wims_class, row.id, token, course.params)
        self._release_login(row.id, token)
        return self._add_login(course, wims_class, row.id)

    def _authuser(
        self, course: "_Course", wims_class: WimsClass, user: WimsUser
    ) -> AuthSession:
        """Open the participant's session, adding the login back if WIMS lost it."""
        quser = user.quser or ""
        try:
            return course.client.authuser(wims_class.qclass, quser)
        except UserNotFound:
            log.warning(
                "login %s is no longer in WIMS class %s; adding it back",
                user.quser,
                wims_class.qclass,
            )
        names = person_names(course.params)
        info = UserInfo(
            lastname=names.lastname,
            firstname=names.firstname,
            password=new_password(),
            email=course.params.person.email or None,
        )
        try:
            course.client.adduser(wims_class.qclass, quser, info)
        except DeletedUserFound:
            # The teacher deleted the participant: WIMS keeps it in its trash
            # and wants it recovered, with its work, rather than added again.
            course.client.recuser(wims_class.qclass, quser)
        return course.client.authuser(wims_class.qclass, quser)

    # -- rows --------------------------------------------------------------

    def _ensure(
        self,
        model: type,
        keys: dict[str, Any],
        defaults: dict[str, Any] | None = None,
        committed: bool = False,
    ) -> Any:
        """Return the row of ``model`` with ``keys``, inserting it if missing.

        The insert is committed on its own, and a concurrent insert of the same
        keys is not an error, so the request transaction never meets a unique
        key violation (which would replay the launch and burn its nonce).
        """
        query: sa.Select = sa.select(model).filter_by(**keys)
        with self.dbsession.no_autoflush:
            found = self.dbsession.scalars(query).one_or_none()
        if found is None:
            try:
                with committed_session(self.session_factory) as session:
                    session.add(model(**keys, **(defaults or {})))
            except sa.exc.IntegrityError:
                pass
        query = query.execution_options(populate_existing=True)
        if committed:
            with committed_session(self.session_factory) as session:
                return session.scalars(query).one()
        with self.dbsession.no_autoflush:
            return self.dbsession.scalars(query).one()

    def _fresh(self, model: type, row_id: int) -> Any:
        with committed_session(self.session_factory) as session:
            return session.get(model, row_id)

    def _reload(self, model: type, row_id: int) -> Any:
        return self.dbsession.get(model, row_id, populate_existing=True)

    def _is_stale(self, claimed_at: datetime | None) -> bool:
        return claimed_at is None or self.clock() - claimed_at > self.claim_stale_after

    def _take_claim(
        self,
        model: type[WimsClass] | type[WimsUser],
        row_id: int,
        old_token: str | None,
        token: str,
    ) -> bool:
        with committed_session(self.session_factory) as session:
            return _changed_one(
                session,
                sa.update(model)
                .where(model.id == row_id, model.claim_token == old_token)
                .values(claim_token=token, claimed_at=self.clock()),
            )


@dataclass(frozen=True)
class _Course:
    lms: Lms
    server: WimsServer
    params: LaunchParams
    target: LaunchTarget
    teacher: bool
    client: WimsClient


def wims_url(auth: AuthSession, lang: str, target: LaunchTarget) -> str:
    """Return the WIMS page of ``target`` in the session WIMS opened."""
    url = f"{auth.home_url}&lang={lang}"
    if target.kind is ActivityKind.SHEET:
        url += f"&module=adm%2Fsheet&+sh={target.qitem}"
    elif target.kind is ActivityKind.EXAM:
        url += f"&module=adm%2Fclass%2Fexam&+job=student&+exam={target.qitem}"
    return url


_said: set[tuple[str, ...]] = set()


def _changed_one(session: Session, statement: sa.Update) -> bool:
    """Run a guarded UPDATE; tell whether it changed the one row it aims at."""
    result = cast(sa.CursorResult, session.execute(statement))
    return result.rowcount == 1


def _say_once(key: tuple[str, ...], message: str, *args: Any) -> None:
    """Log an anomaly of an LMS once per process, not at every launch."""
    if key not in _said:
        _said.add(key)
        log.warning(message, *args)


def factory(context: Any, request: Any) -> LaunchService:
    settings = request.registry.settings
    return LaunchService(
        request.dbsession,
        request.registry["dbsession_factory"],
        request.find_service(WimsConnector),
        teacher_roles=settings["wimslti.teacher_roles"],
        claim_wait=settings["wimslti.claim_wait"],
        # The launch that claimed has given up once its WIMS call timed out.
        claim_stale_after=settings["wimslti.wims_timeout"] + 5,
    )
