"""Send worksheet and exam scores from WIMS to the LMS gradebooks.

Which score is sent (``sheet_grade``, ``exam_grade``):

* a worksheet: the score WIMS computes with the teacher's formula, on 0–10,
  divided by 10, when WIMS gives it: the ``sheet<N>`` column of getcsv, as
  getsheetscores has no such score. Otherwise (a negative, NaN or empty
  cell, no column, a getcsv that failed) the best-score percentage
  (``user_best`` of getsheetscores, 0–100) divided by 100;
* an exam: the exam score, on 0–10, divided by 10;
* nothing while the student has no score: getsheetscores lists every member
  of the class, worked or not, so a worksheet row whose numbers are all 0 or
  NaN is "no score yet", whatever getcsv says (it writes 0 for no work);
  getexamscores lists only students who attempted.
  A student who opened the link and did nothing gets nothing, not a zero;
* a value above its scale (a bonus) is sent as 1, one below 0 as 0, with a
  warning; grades are rounded to 4 decimals.

How a pass works (``GradeSync.run_pass``):

1. Dead links (the LMS refused their grade for good) are given one more
   try if their student launched again or their LMS record changed (a new
   secret) since.
2. Activities are claimed one at a time, by a compare-and-set of
   ``claimed_by``/``claimed_until`` (candidates read with ``FOR UPDATE SKIP
   LOCKED`` where the database has it), so several workers share the work
   and never sync one activity at the same time. A claim is a lease that
   the worker renews; a killed worker's claims lapse, and a worker restarted
   on the same host takes back at once those of its dead predecessor.
3. For a claimed activity, WIMS is asked for all its scores at once, never
   once per student: ``getexamscores`` for an exam; ``getsheetscores`` for
   a sheet, then, if anybody has a score, ``getcsv`` for the formula scores.
   A getcsv failure other than the class being gone costs one warning and
   the sheet is graded on best percentages; if WIMS was only busy or slow,
   the activity is read again soon instead of waiting for its class to
   change. Before all that, ``getclassmodif`` tells whether anybody touched
   the class since the last sync, and an untouched class is not asked (a
   teacher's request is always asked).
4. Scores that differ from the last one sent (or that are owed to a new
   sourcedid) are committed as ``pending_score`` before anything is sent, so
   nothing read is lost if the worker dies.
5. Pending grades are sent by a bounded thread pool that keeps connections
   open, while the worker goes on with the next activity. After a few
   failures in a row an LMS host gets no more requests in this pass.
6. Each attempt is recorded on its link in batches: time, score, outcome,
   the LMS's message. Retryable failures wait ``base * 2**n`` seconds (at
   most the cap); permanent ones, or too many attempts, mark the link dead.
"""

import concurrent.futures
import dataclasses
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from wimslti.lti.outcomes import OutcomeResult, OutcomesClient, OutcomeStatus
from wimslti.models import (
    Activity,
    ActivityKind,
    ActivityState,
    ClassState,
    GradeLink,
    Lms,
    WimsClass,
    WimsServer,
    WimsUser,
    WorkerPass,
    committed_session,
    utcnow,
)
from wimslti.services.class_check import mark_class_gone
from wimslti.services.wims_connector import WimsConnector
from wimslti.wims import (
    ClassNotFound,
    ExamScore,
    ItemNotFound,
    SheetNotActive,
    SheetScore,
    WimsClient,
    WimsError,
    WimsRefused,
    WimsUnavailable,
)

log = logging.getLogger(__name__)

SCORE_PLACES = Decimal("0.0001")
SHEET_FORMULA_SCALE = Decimal(10)
SHEET_PERCENT_SCALE = Decimal(100)
EXAM_SCALE = Decimal(10)
# After this many retryable failures in a row a pass stops sending to an LMS
# host: an LMS that is down costs a few requests a pass, not thousands.
HOST_FAILURES_BEFORE_PAUSE = 5
# Attempts are written to the database this many at a time, or after this
# many seconds: a killed worker loses at most that much of its record.
RESULT_BATCH = 200
RESULT_FLUSH_SECONDS = 1.0
# WIMS refuses score jobs on a class without users instead of listing none.
_NO_USER = re.compile(r"there(?: is|'s) no user in this class", re.IGNORECASE)
_NO_JOB = re.compile(r"wrong request: no job", re.IGNORECASE)
_SKIP_LOCKED_DIALECTS = frozenset({"postgresql", "mysql", "mariadb", "oracle"})


# Which score is sent ---------------------------------------------------------


def sheet_grade(row: SheetScore) -> Decimal | None:
    """Return the LMS grade (0–1) of a sheet score; None for no score yet.

    row is a getsheetscores row whose ``score`` is getcsv's formula score,
    or None where getcsv gave none.
    """
    if not _has_score(row):
        return None
    if row.score is not None and row.score >= 0:
        return _scaled(row.score, SHEET_FORMULA_SCALE, row.quser)
    if row.best is None:
        return None
    return _scaled(row.best, SHEET_PERCENT_SCALE, row.quser)


def _has_score(row: SheetScore) -> bool:
    """Tell whether getsheetscores shows any work of the user on the sheet."""
    return any((row.percent, row.quality, row.level, row.best))


def exam_grade(row: ExamScore) -> Decimal | None:
    """Return the LMS grade (0–1) of a getexamscores row; None for no score."""
    if row.score is None or row.attempts == 0:
        return None
    return _scaled(row.score, EXAM_SCALE, row.quser)


def _scaled(value: float, scale: Decimal, quser: str) -> Decimal:
    grade = Decimal(str(value)) / scale
    if grade > 1:
        log.warning("WIMS score %s of %s is above %s: 1 is sent", value, quser, scale)
        grade = Decimal(1)
    elif grade < 0:
        log.warning("WIMS score %s of %s is below 0: 0 is sent", value, quser)
        grade = Decimal(0)
    return grade.quantize(SCORE_PLACES, rounding=ROUND_HALF_UP)


# Configuration and reports ---------------------------------------------------


@dataclass(frozen=True)
class GradeSyncConfig:
    """The worker's settings (``wimslti.worker_*``, ``wimslti.grade_*``)."""

    interval: float = 900.0
    pool_size: int = 16
    backoff_base: float = 60.0
    backoff_cap: float = 900.0
    max_attempts: int = 100
    lease: float = 300.0
    wims_clock_margin: float = 86400.0
    lms_timeout: float = 10.0
    wims_timeout: float = 10.0

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> "GradeSyncConfig":
        return cls(
            interval=settings["wimslti.worker_interval"],
            pool_size=settings["wimslti.grade_pool_size"],
            backoff_base=settings["wimslti.grade_backoff_base"],
            backoff_cap=settings["wimslti.grade_backoff_cap"],
            max_attempts=settings["wimslti.grade_max_attempts"],
            lease=settings["wimslti.worker_lease"],
            wims_clock_margin=settings["wimslti.wims_clock_margin"],
            lms_timeout=settings["wimslti.lms_timeout"],
            wims_timeout=settings["wimslti.wims_timeout"],
        )

    def backoff(self, attempts: int) -> timedelta:
        """Return how long to wait after the attempts-th failure in a row."""
        exponent = min(max(attempts - 1, 0), 32)
        return timedelta(seconds=min(self.backoff_cap, self.backoff_base * 2**exponent))


@dataclass
class PassReport:
    """What one pass did."""

    full: bool
    activities_synced: int = 0
    activities_skipped: int = 0
    activities_retried: int = 0
    activities_failed: int = 0
    activities_gone: int = 0
    grades_sent: int = 0
    grades_failed: int = 0
    grades_dead: int = 0
    grades_deferred: int = 0
    lms_requests: int = 0
    wims_requests: int = 0

    def summary(self) -> str:
        return (
            f"{self.activities_synced} activities synced, "
            f"{self.activities_skipped} skipped (class untouched), "
            f"{self.activities_retried} retried, "
            f"{self.activities_failed} failed, {self.activities_gone} gone; "
            f"{self.grades_sent} grades sent, {self.grades_failed} to retry, "
            f"{self.grades_dead} refused for good, {self.grades_deferred} put off; "
            f"{self.lms_requests} LMS requests, {self.wims_requests} WIMS requests"
        )


@dataclass(frozen=True)
class UnsentGrade:
    """A grade the LMS has not taken, and why (for the teacher's page)."""

    lms_user_id: str
    quser: str | None
    score: float | None
    dead: bool
    attempts: int
    last_outcome: str | None
    last_error: str | None
    next_attempt_at: datetime | None


def unsent_grades(session: Session, activity_id: int) -> list[UnsentGrade]:
    """Return the pending grades of an activity, refused ones first."""
    rows = session.execute(
        sa.select(GradeLink, WimsUser)
        .join(WimsUser, GradeLink.user_id == WimsUser.id)
        .where(
            GradeLink.activity_id == activity_id, GradeLink.pending_score.is_not(None)
        )
        .order_by(GradeLink.dead_at.is_(None), WimsUser.lms_user_id)
    ).all()
    return [
        UnsentGrade(
            lms_user_id=user.lms_user_id,
            quser=user.quser,
            score=link.pending_score,
            dead=link.dead_at is not None,
            attempts=link.attempts,
            last_outcome=link.last_outcome,
            last_error=link.last_error,
            next_attempt_at=link.next_attempt_at,
        )
        for link, user in rows
    ]


# What a pass works on ----------------------------------------------------------


@dataclass
class _Link:
    id: int
    quser: str | None
    sourcedid: str
    outcome_url: str
    last_score_sent: float | None
    last_sent_sourcedid: str | None
    pending_score: float | None
    attempts: int
    next_attempt_at: datetime | None
    dead_at: datetime | None


@dataclass
class _Work:
    """A claimed activity, and what its sync did so far."""

    id: int
    kind: ActivityKind
    qitem: int
    class_id: int
    qclass: str
    server: WimsServer
    lms_key: str
    lms_secret: str = field(repr=False)
    requested_at: datetime | None = None
    last_synced_at: datetime | None = None
    fetch: bool = True
    fetched_at: datetime | None = None
    outcome: str = "synced"
    scores: int = 0
    changed: int = 0
    sent: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0
    outstanding: int = 0
    submitting: bool = False
    failed_fetch: bool = False
    # The scores were read but WIMS was too busy or slow for the formula
    # scores: grades went on best percentages and the activity is read soon.
    partial_fetch: bool = False
    # The LMS's words for the first grade it refused for good.
    refusal: str | None = None

    def words(self) -> str:
        return f"{self.kind} {self.qitem} of WIMS class {self.qclass}"


@dataclass(frozen=True)
class _Job:
    link_id: int
    activity_id: int
    url: str
    sourcedid: str
    score: Decimal
    attempts: int
    key: str
    secret: str = field(repr=False)

    @property
    def host(self) -> tuple[str, str]:
        return urlsplit(self.url).netloc, self.key


@dataclass(frozen=True)
class _Outcome:
    job: _Job
    # sent, retry, dead, deferred (not tried: its host is paused), or
    # refused (not tried: its host refused our key in this pass).
    verdict: str
    result: OutcomeResult | None
    outcome: str | None = None
    requests: int = 0


class _HostBreaker:
    """Tell when an LMS host should get no more requests in this pass."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
        self._lock = threading.Lock()
        self._failures: dict[tuple[str, str], int] = defaultdict(int)
        self._refused: dict[tuple[str, str], OutcomeResult] = {}

    def refusal(self, host: tuple[str, str]) -> OutcomeResult | None:
        with self._lock:
            return self._refused.get(host)

    def paused(self, host: tuple[str, str]) -> bool:
        with self._lock:
            return self._failures[host] >= self.threshold

    def record(self, host: tuple[str, str], result: OutcomeResult) -> None:
        with self._lock:
            if result.status is OutcomeStatus.UNAUTHORIZED:
                self._refused.setdefault(host, result)
            elif result.retryable:
                self._failures[host] += 1
            else:
                self._failures[host] = 0


# The service -------------------------------------------------------------------


class GradeSync:
    """Run grade passes: read scores from WIMS, send the changed ones to LMSs."""

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        config: GradeSyncConfig,
        *,
        connector: WimsConnector | None = None,
        outcomes: OutcomesClient | None = None,
        clock: Callable[[], datetime] = utcnow,
        worker_id: str | None = None,
    ) -> None:
        self.session_factory = session_factory
        self.config = config
        self.connector = connector or WimsConnector(config.wims_timeout)
        self.outcomes = outcomes or OutcomesClient(config.lms_timeout)
        self.clock = clock
        self.host = socket.gethostname()
        self.worker_id = worker_id or (
            f"{self.host}:{os.getpid()}:{secrets.token_hex(4)}"
        )
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None

    def close(self) -> None:
        """Stop the send pool and close the LMS connections."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.outcomes.close()

    @property
    def pool(self) -> concurrent.futures.ThreadPoolExecutor:
        # One pool for the worker's life: its threads keep their connections.
        if self._pool is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(
                self.config.pool_size, thread_name_prefix="grade-send"
            )
        return self._pool

    def recover(self) -> int:
        """Release the claims of dead workers of this host; return how many.

        A worker restarted after a kill resumes at once instead of waiting
        for its predecessor's leases to run out. The predecessor is dead if
        its process is gone, or if it had our own pid (a container restarted).
        """
        prefix = f"{self.host}:"
        with committed_session(self.session_factory) as session:
            owners = session.scalars(
                sa.select(Activity.claimed_by)
                .where(Activity.claimed_by.startswith(prefix, autoescape=True))
                .distinct()
            ).all()
            released = 0
            for owner in owners:
                if owner is None or owner == self.worker_id:
                    continue
                if not _is_dead(owner[len(prefix) :].partition(":")[0]):
                    continue
                result = session.execute(
                    sa.update(Activity)
                    .where(Activity.claimed_by == owner)
                    .values(claimed_by=None, claimed_until=None)
                )
                released += _rowcount(result)
        if released:
            log.info("took back %d activities claimed by a dead worker", released)
        return released

    def run_pass(
        self, *, full: bool = False, should_stop: Callable[[], bool] = lambda: False
    ) -> PassReport:
        """Sync the due activities (all of them if full) and return what was done.

        Due activities: asked for by a teacher's launch, never synced, last
        synced more than an interval ago, or holding a retry that is due.
        """
        run = _PassRun(self, full, should_stop)
        return run.run()


def _rowcount(result: sa.Result[Any]) -> int:
    return cast(sa.CursorResult[Any], result).rowcount


def _free(now: datetime) -> sa.ColumnElement[bool]:
    """Tell whether no worker holds the activity and none must wait for it."""
    return sa.or_(Activity.claimed_until.is_(None), Activity.claimed_until < now)


def _is_dead(pid_text: str) -> bool:
    if not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class _PassRun:
    """The state of one pass: claims, sends in flight, caches, counters."""

    def __init__(
        self, sync: GradeSync, full: bool, should_stop: Callable[[], bool]
    ) -> None:
        self.sync = sync
        self.config = sync.config
        self.full = full
        self.should_stop = should_stop
        self.report = PassReport(full=full)
        self.started = sync.clock()
        self.breaker = _HostBreaker(HOST_FAILURES_BEFORE_PAUSE)
        self.inflight: dict[concurrent.futures.Future[_Outcome], _Job] = {}
        self.works: dict[int, _Work] = {}
        self.finished: list[_Outcome] = []
        self.handled: set[int] = set()
        self.cursor = 0
        self.modif_cache: dict[tuple[int, datetime], bool] = {}
        self.no_classmodif: set[int] = set()
        self.renewed = self.recorded = time.monotonic()
        self.pass_id: int | None = None

    @property
    def now(self) -> datetime:
        return self.sync.clock()

    def run(self) -> PassReport:
        self._start()
        try:
            self._revive()
            while not self.should_stop():
                work = self._claim()
                if work is None:
                    break
                self._sync(work)
                self._drain(until=2 * self.config.pool_size)
            self._drain(until=0)
        finally:
            self._release_all()
        self._finish()
        return self.report

    # -- the pass record -----------------------------------------------------

    def _start(self) -> None:
        with committed_session(self.sync.session_factory) as session:
            row = WorkerPass(
                worker=self.sync.worker_id, full=self.full, started_at=self.started
            )
            session.add(row)
            session.flush()
            self.pass_id = row.id

    def _finish(self) -> None:
        report = self.report
        with committed_session(self.sync.session_factory) as session:
            session.execute(
                sa.update(WorkerPass)
                .where(WorkerPass.id == self.pass_id)
                .values(
                    finished_at=self.now,
                    activities_synced=report.activities_synced,
                    activities_skipped=report.activities_skipped,
                    activities_failed=report.activities_failed,
                    grades_sent=report.grades_sent,
                    grades_failed=report.grades_failed + report.grades_dead,
                    lms_requests=report.lms_requests,
                    wims_requests=report.wims_requests,
                )
            )

    # -- dead links ------------------------------------------------------------

    def _revive(self) -> None:
        relaunched = (
            sa.select(WimsUser.id)
            .where(
                WimsUser.id == GradeLink.user_id,
                WimsUser.last_launch_at > GradeLink.dead_at,
            )
            .exists()
        )
        lms_changed = (
            sa.select(Activity.id)
            .join(WimsClass, Activity.class_id == WimsClass.id)
            .join(Lms, WimsClass.lms_id == Lms.id)
            .where(
                Activity.id == GradeLink.activity_id, Lms.updated_at > GradeLink.dead_at
            )
            .exists()
        )
        with committed_session(self.sync.session_factory) as session:
            result = session.execute(
                sa.update(GradeLink)
                .where(GradeLink.dead_at.is_not(None), sa.or_(relaunched, lms_changed))
                .values(dead_at=None, attempts=0, next_attempt_at=self.now)
            )
        revived = _rowcount(result)
        if revived:
            log.info("%d refused grades get another try", revived)

    # -- claims ----------------------------------------------------------------

    def _claim(self) -> _Work | None:
        """Claim the next due activity: teachers' requests first, then by id."""
        now = self.now
        for requested in (True, False):
            while True:
                with committed_session(self.sync.session_factory) as session:
                    candidates = self._candidates(session, now, requested)
                    if not candidates:
                        break
                    for activity_id in candidates:
                        if not requested:
                            self.cursor = max(self.cursor, activity_id)
                        if activity_id in self.handled:
                            continue
                        # A requested activity another worker took is its own.
                        self.handled.add(activity_id)
                        work = self._take(session, activity_id, now)
                        if work is not None:
                            return work
        return None

    def _candidates(
        self, session: Session, now: datetime, requested: bool
    ) -> list[int]:
        live = (
            sa.select(Activity.id)
            .join(WimsClass, Activity.class_id == WimsClass.id)
            .join(WimsServer, WimsClass.wims_server_id == WimsServer.id)
            .join(Lms, WimsClass.lms_id == Lms.id)
            .where(
                Activity.state == ActivityState.READY,
                WimsClass.state == ClassState.READY,
                WimsServer.retired_at.is_(None),
                Lms.retired_at.is_(None),
                _free(now),
                sa.select(GradeLink.id)
                .where(GradeLink.activity_id == Activity.id)
                .exists(),
            )
        )
        if requested:
            query = live.where(
                Activity.sync_requested_at.is_not(None),
                sa.or_(
                    Activity.last_synced_at.is_(None),
                    Activity.sync_requested_at > Activity.last_synced_at,
                ),
            )
            if self.handled:
                query = query.where(Activity.id.not_in(self.handled))
            query = query.order_by(Activity.sync_requested_at, Activity.id)
        else:
            query = live.where(Activity.id > self.cursor, self._due(now)).order_by(
                Activity.id
            )
        query = query.limit(8)
        if session.get_bind().dialect.name in _SKIP_LOCKED_DIALECTS:
            query = query.with_for_update(skip_locked=True, of=Activity)
        return list(session.scalars(query))

    def _due(self, now: datetime) -> sa.ColumnElement[bool]:
        if self.full:
            return sa.or_(
                Activity.last_synced_at.is_(None),
                Activity.last_synced_at < self.started,
            )
        retry_due = (
            sa.select(GradeLink.id)
            .where(
                GradeLink.activity_id == Activity.id,
                GradeLink.pending_score.is_not(None),
                GradeLink.dead_at.is_(None),
                GradeLink.next_attempt_at <= now,
            )
            .exists()
        )
        return sa.or_(
            Activity.sync_requested_at.is_not(None),
            Activity.last_synced_at.is_(None),
            Activity.last_synced_at <= now - timedelta(seconds=self.config.interval),
            retry_due,
        )

    def _take(self, session: Session, activity_id: int, now: datetime) -> _Work | None:
        claimed = session.execute(
            sa.update(Activity)
            .where(Activity.id == activity_id, _free(now))
            .values(
                claimed_by=self.sync.worker_id,
                claimed_until=now + timedelta(seconds=self.config.lease),
            )
            .execution_options(synchronize_session=False)
        )
        if _rowcount(claimed) != 1:
            return None
        activity, wims_class, server, lms = session.execute(
            sa.select(Activity, WimsClass, WimsServer, Lms)
            .join(WimsClass, Activity.class_id == WimsClass.id)
            .join(WimsServer, WimsClass.wims_server_id == WimsServer.id)
            .join(Lms, WimsClass.lms_id == Lms.id)
            .where(Activity.id == activity_id)
        ).one()
        stale = activity.last_synced_at is None or (
            activity.last_synced_at <= now - timedelta(seconds=self.config.interval)
        )
        work = _Work(
            id=activity.id,
            kind=activity.kind,
            qitem=activity.qitem,
            class_id=wims_class.id,
            qclass=wims_class.qclass,
            server=server,
            lms_key=lms.key,
            lms_secret=lms.secret,
            requested_at=activity.sync_requested_at,
            last_synced_at=activity.last_synced_at,
            fetch=self.full or stale or activity.sync_requested_at is not None,
        )
        self.works[work.id] = work
        return work

    def _renew(self) -> None:
        if time.monotonic() - self.renewed < self.config.lease / 3:
            return
        self.renewed = time.monotonic()
        with committed_session(self.sync.session_factory) as session:
            session.execute(
                sa.update(Activity)
                .where(Activity.claimed_by == self.sync.worker_id)
                .values(claimed_until=self.now + timedelta(seconds=self.config.lease))
            )

    def _release_all(self) -> None:
        with committed_session(self.sync.session_factory) as session:
            session.execute(
                sa.update(Activity)
                .where(Activity.claimed_by == self.sync.worker_id)
                .values(claimed_by=None, claimed_until=None)
            )

    # -- one activity ------------------------------------------------------------

    def _sync(self, work: _Work) -> None:
        grades = None
        if work.fetch:
            try:
                grades = self._fetch(work)
            except ClassNotFound:
                mark_class_gone(self.sync.session_factory, work.class_id, self.now)
                work.outcome = "gone: WIMS says the class does not exist"
                self.report.activities_gone += 1
                self._done(work)
                return
            except ItemNotFound:
                self._mark_activity_gone(work)
                work.outcome = f"gone: WIMS says the {work.kind} does not exist"
                self.report.activities_gone += 1
                self._done(work)
                return
            except WimsError as error:
                work.outcome = f"not synced: {error}"
                work.failed_fetch = True
                self.report.activities_failed += 1
        else:
            work.outcome = "retries only"
            self.report.activities_retried += 1
        links = self._links(work.id)
        if grades is not None:
            self._store(work, links, grades)
        # Grades read earlier are sent even when WIMS cannot answer now.
        work.submitting = True
        self._submit(work, links)
        work.submitting = False
        if work.outstanding == 0:
            self._done(work)

    def _links(self, activity_id: int) -> list[_Link]:
        with committed_session(self.sync.session_factory) as session:
            rows = session.execute(
                sa.select(
                    GradeLink.id,
                    WimsUser.quser,
                    GradeLink.sourcedid,
                    GradeLink.outcome_url,
                    GradeLink.last_score_sent,
                    GradeLink.last_sent_sourcedid,
                    GradeLink.pending_score,
                    GradeLink.attempts,
                    GradeLink.next_attempt_at,
                    GradeLink.dead_at,
                )
                .join(WimsUser, GradeLink.user_id == WimsUser.id)
                .where(GradeLink.activity_id == activity_id)
                .order_by(GradeLink.id)
            ).all()
        return [_Link(**row._asdict()) for row in rows]

    def _fetch(self, work: _Work) -> dict[str, Decimal] | None:
        """Return the grades WIMS gives, by login; None when the class is untouched.

        :raises ClassNotFound: if WIMS no longer has the class.
        :raises ItemNotFound: if it no longer has the sheet or exam.
        :raises WimsError: when WIMS cannot answer.
        """
        client = self.sync.connector.client(work.server)
        asked_at = self.now
        if self._untouched(work, client):
            work.fetched_at = asked_at
            work.outcome = "skipped: class untouched"
            self.report.activities_skipped += 1
            return None
        self.report.wims_requests += 1
        try:
            if work.kind is ActivityKind.SHEET:
                grades = self._sheet_grades(work, client)
            else:
                exam_rows = client.getexamscores(work.qclass, work.qitem)
                grades = {row.quser: exam_grade(row) for row in exam_rows}
        except SheetNotActive:
            # A pending sheet has no scores yet; activating it touches the
            # class, so the next pass asks again.
            grades = {}
        except WimsRefused as error:
            if not _NO_USER.search(error.message):
                raise
            grades = {}
        # After a partial read the sync time stays as it was: the activity
        # is read again even if nobody touches its class.
        if not work.partial_fetch:
            work.fetched_at = asked_at
        self.report.activities_synced += 1
        return {quser: grade for quser, grade in grades.items() if grade is not None}

    def _sheet_grades(
        self, work: _Work, client: WimsClient
    ) -> dict[str, Decimal | None]:
        """Grade a sheet on getsheetscores and, if anybody has a score, getcsv."""
        rows = client.getsheetscores(work.qclass, work.qitem)
        if any(_has_score(row) for row in rows):
            formulas = self._formula_scores(work, client)
            rows = [
                dataclasses.replace(row, score=formulas.get(row.quser)) for row in rows
            ]
        return {row.quser: sheet_grade(row) for row in rows}

    def _formula_scores(
        self, work: _Work, client: WimsClient
    ) -> dict[str, float | None]:
        """Return the teacher-formula score of the sheet by login (getcsv).

        When WIMS cannot give them the answer is empty, after one warning.

        :raises ClassNotFound: if WIMS no longer has the class.
        """
        column = f"sheet{work.qitem}"
        self.report.wims_requests += 1
        try:
            table = client.getcsv(work.qclass, ("login", "sheets"))
        except ClassNotFound:
            raise
        except WimsError as error:
            log.warning(
                "getcsv of WIMS class %s failed; sheet %s is graded on best scores: %s",
                work.qclass,
                work.qitem,
                error,
            )
            work.outcome = "synced on best scores (getcsv failed)"
            work.partial_fetch = isinstance(error, WimsUnavailable)
            return {}
        if not any(column in cells for cells in table.values()):
            log.warning(
                "getcsv of WIMS class %s has no %s; the sheet is graded on best scores",
                work.qclass,
                column,
            )
            work.outcome = f"synced on best scores (getcsv has no {column})"
            return {}
        return {login: cells.get(column) for login, cells in table.items()}

    def _untouched(self, work: _Work, client: WimsClient) -> bool:
        """Tell whether WIMS says nobody touched the class since the last sync."""
        if work.requested_at is not None or work.last_synced_at is None:
            return False
        if work.server.id in self.no_classmodif:
            return False
        since = work.last_synced_at - timedelta(seconds=self.config.wims_clock_margin)
        since = since.replace(second=0, microsecond=0)
        key = (work.class_id, since)
        if key not in self.modif_cache:
            self.report.wims_requests += 1
            try:
                modified = client.getclassmodif(work.qclass, since)
            except ClassNotFound:
                raise
            except WimsError as error:
                if isinstance(error, WimsRefused) and _NO_JOB.search(error.message):
                    # An older WIMS without the job: every class is asked.
                    self.no_classmodif.add(work.server.id)
                log.debug("getclassmodif %s: %s", work.qclass, error)
                return False
            self.modif_cache[key] = not modified
        return self.modif_cache[key]

    def _store(
        self, work: _Work, links: list[_Link], grades: dict[str, Decimal]
    ) -> None:
        """Commit as pending each grade that differs from what the LMS has."""
        now = self.now
        changes: list[dict[str, Any]] = []
        for link in links:
            grade = grades.get(link.quser or "")
            if grade is None:
                continue
            work.scores += 1
            value = float(grade)
            if link.last_score_sent == value and (
                link.last_sent_sourcedid == link.sourcedid
            ):
                if link.pending_score is not None:
                    # The score came back to what the LMS has: nothing is owed.
                    link.pending_score = link.next_attempt_at = link.dead_at = None
                    link.attempts = 0
                    changes.append(
                        {
                            "id": link.id,
                            "pending_score": None,
                            "next_attempt_at": None,
                            "attempts": 0,
                            "dead_at": None,
                        }
                    )
                continue
            if link.pending_score == value:
                continue
            work.changed += 1
            link.pending_score = value
            waiting = link.attempts > 0 and (
                link.next_attempt_at is not None and link.next_attempt_at > now
            )
            if link.dead_at is None and not waiting:
                link.next_attempt_at = now
            changes.append(
                {
                    "id": link.id,
                    "pending_score": value,
                    "next_attempt_at": link.next_attempt_at,
                    "attempts": link.attempts,
                    "dead_at": link.dead_at,
                }
            )
        if changes:
            with committed_session(self.sync.session_factory) as session:
                session.execute(sa.update(GradeLink), changes)

    def _submit(self, work: _Work, links: list[_Link]) -> None:
        now = self.now
        for link in links:
            if (
                link.pending_score is None
                or link.dead_at is not None
                or link.next_attempt_at is None
                or link.next_attempt_at > now
            ):
                continue
            job = _Job(
                link_id=link.id,
                activity_id=work.id,
                url=link.outcome_url,
                sourcedid=link.sourcedid,
                score=Decimal(str(link.pending_score)),
                attempts=link.attempts,
                key=work.lms_key,
                secret=work.lms_secret,
            )
            self._drain(until=2 * self.config.pool_size - 1)
            work.outstanding += 1
            self.inflight[self.sync.pool.submit(self._send, job)] = job

    def _mark_activity_gone(self, work: _Work) -> None:
        with committed_session(self.sync.session_factory) as session:
            session.execute(
                sa.update(Activity)
                .where(Activity.id == work.id)
                .values(state=ActivityState.GONE)
            )

    # -- sending (in the pool's threads: no database here) -------------------------

    def _send(self, job: _Job) -> _Outcome:
        host = job.host
        refused = self.breaker.refusal(host)
        if refused is not None:
            return _Outcome(job, "refused", refused, OutcomeStatus.UNAUTHORIZED)
        if self.breaker.paused(host):
            return _Outcome(job, "deferred", None)
        try:
            return self._replace_result(job, host)
        except Exception:
            # A bug must not stop the pass: the grade waits for a retry.
            log.exception("sending a grade of activity %s failed", job.activity_id)
            result = OutcomeResult(OutcomeStatus.UNREACHABLE, "internal error")
            return _Outcome(job, "retry", result, "error")

    def _replace_result(self, job: _Job, host: tuple[str, str]) -> _Outcome:
        outcomes = self.sync.outcomes
        result = outcomes.replace_result(
            job.url, job.sourcedid, job.score, key=job.key, secret=job.secret
        )
        requests = 1
        outcome = str(result.status)
        if result.status in (OutcomeStatus.WRONG_NAMESPACE, OutcomeStatus.MALFORMED):
            # The LMS may have stored the grade all the same (CASES C22):
            # reading it back tells.
            check = outcomes.read_result(
                job.url, job.sourcedid, key=job.key, secret=job.secret
            )
            requests += 1
            if check.score is not None and check.score == job.score:
                return _Outcome(job, "sent", result, "verified", requests)
        self.breaker.record(host, result)
        if result.accepted:
            verdict = "sent"
        elif result.retryable:
            verdict = "retry"
        else:
            verdict = "dead"
        return _Outcome(job, verdict, result, outcome, requests)

    # -- recording -----------------------------------------------------------------

    def _drain(self, until: int) -> None:
        """Record finished sends, waiting until at most ``until`` are in flight."""
        while True:
            for future in [future for future in self.inflight if future.done()]:
                del self.inflight[future]
                self.finished.append(future.result())
            if self.finished and (
                len(self.finished) >= RESULT_BATCH
                or not self.inflight
                or time.monotonic() - self.recorded >= RESULT_FLUSH_SECONDS
                or self._completes_an_activity()
            ):
                self._record()
            if len(self.inflight) <= until:
                return
            concurrent.futures.wait(
                self.inflight,
                timeout=max(self.config.lease / 3, 0.05),
                return_when=concurrent.futures.FIRST_COMPLETED,
            )
            self._renew()

    def _completes_an_activity(self) -> bool:
        counts = Counter(item.job.activity_id for item in self.finished)
        return any(
            self.works[activity_id].outstanding == count
            and not self.works[activity_id].submitting
            for activity_id, count in counts.items()
        )

    def _record(self) -> None:
        now = self.now
        changes = [self._change(item, now) for item in self.finished]
        finished, self.finished = self.finished, []
        self.recorded = time.monotonic()
        with committed_session(self.sync.session_factory) as session:
            session.execute(sa.update(GradeLink), changes)
        for item in finished:
            work = self.works[item.job.activity_id]
            self.report.lms_requests += item.requests
            if item.verdict == "sent":
                work.sent += 1
                self.report.grades_sent += 1
            elif item.verdict == "retry":
                work.failed += 1
                self.report.grades_failed += 1
            elif item.verdict == "deferred":
                work.deferred += 1
                self.report.grades_deferred += 1
            else:
                work.dead += 1
                self.report.grades_dead += 1
                if work.refusal is None and item.result is not None:
                    work.refusal = item.result.message
            work.outstanding -= 1
            if work.outstanding == 0 and not work.submitting:
                self._done(work)

    def _change(self, item: _Outcome, now: datetime) -> dict[str, Any]:
        job, result = item.job, item.result
        if item.verdict == "deferred":
            return {
                "id": job.link_id,
                "next_attempt_at": now + timedelta(seconds=self.config.backoff_base),
            }
        assert result is not None
        if item.verdict == "refused":
            return {
                "id": job.link_id,
                "dead_at": now,
                "next_attempt_at": None,
                "last_outcome": str(OutcomeStatus.UNAUTHORIZED),
                "last_error": "not sent: the LMS refused the gateway's key for "
                f"another grade ({result.message})",
            }
        change: dict[str, Any] = {
            "id": job.link_id,
            "last_attempt_at": now,
            "last_outcome": item.outcome,
            "last_message": result.message,
        }
        if item.verdict == "sent":
            change.update(
                last_score_sent=float(job.score),
                last_sent_sourcedid=job.sourcedid,
                last_sent_at=now,
                pending_score=None,
                attempts=0,
                next_attempt_at=None,
                last_error=None,
            )
            return change
        attempts = job.attempts + 1
        change.update(attempts=attempts, last_error=result.message)
        if item.verdict == "retry" and attempts < self.config.max_attempts:
            change["next_attempt_at"] = now + self.config.backoff(attempts)
        else:
            change.update(dead_at=now, next_attempt_at=None)
        return change

    def _done(self, work: _Work) -> None:
        """Release the activity, with its sync time if WIMS was read."""
        values: dict[str, Any] = {"claimed_by": None, "claimed_until": None}
        if work.failed_fetch or work.partial_fetch:
            # WIMS could not answer (all): no worker asks it again for this
            # activity before a while, whatever makes the activity due.
            values["claimed_until"] = self.now + timedelta(
                seconds=min(self.config.backoff_base, self.config.interval)
            )
        if work.fetched_at is not None:
            values["last_synced_at"] = work.fetched_at
            # A request made while this sync ran stays for the next one.
            values["sync_requested_at"] = sa.case(
                (Activity.sync_requested_at <= work.fetched_at, None),
                else_=Activity.sync_requested_at,
            )
        with committed_session(self.sync.session_factory) as session:
            session.execute(
                sa.update(Activity)
                .where(
                    Activity.id == work.id,
                    Activity.claimed_by == self.sync.worker_id,
                )
                .values(**values)
            )
        self.works.pop(work.id, None)
        _log_sync(work)


def _log_sync(work: _Work) -> None:
    anomaly = work.failed_fetch or work.dead
    refusal = f"; the LMS says: {work.refusal}" if work.refusal else ""
    log.log(
        logging.WARNING if anomaly else logging.INFO,
        "grade sync activity %s (%s, server %s, lms %r): %s; %d scores, "
        "%d changed, %d sent, %d to retry, %d refused, %d put off%s",
        work.id,
        work.words(),
        work.server.id,
        work.lms_key,
        work.outcome,
        work.scores,
        work.changed,
        work.sent,
        work.failed,
        work.dead,
        work.deferred,
        refusal,
    )
