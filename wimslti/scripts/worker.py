"""``wimslti -c INI worker [--once]``: send WIMS scores to the LMS gradebooks.

Without ``--once`` the worker runs until SIGTERM or SIGINT, starting a pass
every ``wimslti.worker_poll`` seconds: each pass syncs the activities that
are due (a teacher's launch, a retry, ``wimslti.worker_interval`` elapsed).
With ``--once`` it makes one pass over every activity and exits.
"""

import argparse
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from wimslti.services.grade_sync import GradeSync, GradeSyncConfig

if TYPE_CHECKING:
    from wimslti.scripts.cli import Context

log = logging.getLogger(__name__)


def worker(context: "Context", args: argparse.Namespace) -> int:
    """Run the grade worker (one pass with --once)."""
    context.require_current_database()
    sync = GradeSync(
        context.session_factory, GradeSyncConfig.from_settings(context.settings)
    )
    try:
        if args.once:
            sync.recover()
            report = sync.run_pass(full=True)
            context.out(f"Grade pass: {report.summary()}")
            return 0
        stop = threading.Event()
        with _stopped_by_signals(stop.set):
            run_forever(sync, context.settings["wimslti.worker_poll"], stop)
        return 0
    finally:
        sync.close()


def worker_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--once",
        action="store_true",
        help="make one pass over every activity, then exit",
    )


def run_forever(sync: GradeSync, poll: float, stop: threading.Event) -> None:
    """Run passes every poll seconds until stop is set."""
    sync.recover()
    log.info("grade worker %s started", sync.worker_id)
    while not stop.is_set():
        try:
            sync.run_pass(should_stop=stop.is_set)
        except sa.exc.DBAPIError as error:
            # The database may be restarting: the next pass tries again.
            log.error("grade pass failed: database error %s", type(error.orig).__name__)
        stop.wait(poll)
    log.info("grade worker %s stopped", sync.worker_id)


@contextlib.contextmanager
def _stopped_by_signals(stop: Callable[[], None]) -> Iterator[None]:
    """Call stop on SIGTERM and SIGINT inside the with block."""

    def handle(number: int, frame: Any) -> None:
        log.info("grade worker got signal %s: finishing its current work", number)
        stop()

    previous = {
        number: signal.signal(number, handle)
        for number in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
