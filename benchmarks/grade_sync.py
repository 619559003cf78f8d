"""Time the grade worker: N grade links over M activities, an LMS that is slow.

Run from the project folder::

    .venv/bin/python benchmarks/grade_sync.py --links 10000 --activities 100 \\
        --latency-ms 50

It builds a fresh database (a temporary SQLite file unless --database is
given), a WIMS double with the classes, students, sheets and scores, and an
LMS outcome service double that answers each request after the latency, in
a process of its own as a real LMS would be. Then
it runs one pass (every score is new) and a second pass with nothing changed,
and prints for each its time and the requests it made (two WIMS requests
per worksheet: getsheetscores and getcsv). Everything runs on 127.0.0.1.
"""

import argparse
import logging
import multiprocessing
import random
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

# The doubles live with the tests, beside this folder.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.doubles.lms import LmsDouble
from tests.doubles.wims import WimsDouble
from wimslti.models import (
    Activity,
    ActivityKind,
    Base,
    ClassState,
    GradeLink,
    Lms,
    WimsClass,
    WimsServer,
    WimsUser,
    get_engine,
    get_session_factory,
)
from wimslti.models.migrations import upgrade
from wimslti.services.grade_sync import GradeSync, GradeSyncConfig

KEY = "bench-key"
# Throwaway credentials of a throwaway database and doubles.
SECRET = "bench-secret"  # noqa: S105
WIMS_PASSWD = "wimsltipass"  # noqa: S105
PASSWORD = "pw"  # noqa: S105


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--links", type=int, default=10_000, help="N grade links")
    parser.add_argument("--activities", type=int, default=100, help="M activities")
    parser.add_argument(
        "--latency-ms", type=float, default=50, help="L: the LMS's answer delay"
    )
    parser.add_argument(
        "--per-class", type=int, default=10, help="worksheets per WIMS class"
    )
    parser.add_argument("--pool-size", type=int, default=16)
    parser.add_argument("--database", help="a database URL (default: temporary SQLite)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    # The LMS double is started first, before this process has threads.
    lms = RemoteLms(args.latency_ms / 1000)
    with tempfile.TemporaryDirectory() as folder:
        url = args.database or f"sqlite:///{folder}/bench.sqlite"
        engine = get_engine(url)
        if args.database:
            with engine.begin() as connection:
                Base.metadata.drop_all(connection)
                connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
        upgrade(engine)
        with WimsDouble.serve(passwd=WIMS_PASSWD) as wims:
            expected = build(engine, wims, lms, args)
            print(
                f"{args.links} grade links over {args.activities} activities "
                f"({args.per_class} per class), LMS latency {args.latency_ms:g} ms, "
                f"pool of {args.pool_size}, database {engine.url.get_backend_name()}"
            )
            sync = GradeSync(
                get_session_factory(engine),
                GradeSyncConfig(pool_size=args.pool_size),
            )
            try:
                for name in ("first pass", "second pass, no change"):
                    run(name, sync, wims, lms)
            finally:
                sync.close()
        engine.dispose()
    scores = lms.scores()
    lms.close()
    wrong = sum(1 for sid, text in expected.items() if scores.get(sid) != text)
    print(f"gradebook: {len(scores)} scores, {wrong} wrong or missing")
    return 0 if wrong == 0 else 1


class RemoteLms:
    """An LMS double served by a child process, driven through a pipe."""

    def __init__(self, latency: float) -> None:
        self._pipe, child = multiprocessing.Pipe()
        self._process = multiprocessing.Process(
            target=_serve_lms, args=(latency, child), daemon=True
        )
        self._process.start()
        self.url = self._pipe.recv()

    def stats(self) -> tuple[int, int]:
        """Return (requests received, connections opened)."""
        self._pipe.send("stats")
        return self._pipe.recv()

    def scores(self) -> dict[str, str]:
        self._pipe.send("scores")
        return self._pipe.recv()

    def close(self) -> None:
        self._pipe.send("stop")
        self._process.join()


def _serve_lms(latency: float, pipe) -> None:
    with LmsDouble.serve({KEY: SECRET}) as lms:
        lms.latency = latency
        pipe.send(lms.url)
        while (command := pipe.recv()) != "stop":
            if command == "stats":
                pipe.send((lms.count(), lms.connections))
            else:
                pipe.send(dict(lms.scores))


def run(name: str, sync: GradeSync, wims: WimsDouble, lms: RemoteLms) -> None:
    requests_before, connections_before = lms.stats()
    wims_before = wims.count()
    started = time.perf_counter()
    report = sync.run_pass(full=True)
    elapsed = time.perf_counter() - started
    requests, connections = lms.stats()
    print(
        f"{name}: {elapsed:.2f} s, {requests - requests_before} LMS requests "
        f"({connections - connections_before} connections opened), "
        f"{wims.count() - wims_before} WIMS requests, "
        f"{report.grades_sent} grades sent"
    )


def build(engine: sa.Engine, wims: WimsDouble, lms: RemoteLms, args) -> dict:
    """Fill the database and the WIMS double; return the scores LMS should get."""
    random.seed(1)
    per_activity = args.links // args.activities
    classes = -(-args.activities // args.per_class)
    expected = {}
    with get_session_factory(engine)() as session:
        lms_row = Lms(key=KEY, secret=SECRET, name="Bench LMS")
        server = WimsServer(
            id=1,
            name="WIMS",
            url=wims.url,
            ident="wimslti",
            passwd=WIMS_PASSWD,
            rclass="myclass",
            allowed_lms=[lms_row],
        )
        session.add(server)
        session.flush()
        made = 0
        for number in range(classes):
            qclass = wims.add_class()
            wims_class = WimsClass(
                lms_id=lms_row.id,
                context_id=f"course-{number}",
                wims_server_id=server.id,
                qclass=qclass,
                state=ClassState.READY,
                name=f"Course {number}",
                class_password=PASSWORD,
                supervisor_password=PASSWORD,
            )
            session.add(wims_class)
            session.flush()
            users = []
            for student in range(per_activity):
                quser = f"s{student:05d}"
                wims.add_user(qclass, quser, lastname=f"Student {student}")
                users.append({"class_id": wims_class.id, "lms_user_id": quser})
            session.execute(
                sa.insert(WimsUser), [{**u, "quser": u["lms_user_id"]} for u in users]
            )
            user_ids = session.scalars(
                sa.select(WimsUser.id)
                .where(WimsUser.class_id == wims_class.id)
                .order_by(WimsUser.id)
            ).all()
            for _ in range(min(args.per_class, args.activities - made)):
                qsheet = wims.add_sheet(qclass)
                activity = Activity(
                    class_id=wims_class.id, kind=ActivityKind.SHEET, qitem=qsheet
                )
                session.add(activity)
                session.flush()
                links = []
                for student, user_id in enumerate(user_ids):
                    best = random.randint(1, 100)
                    # The formula score (getcsv) is what is sent; it agrees
                    # with the best percentage so either reading is right.
                    wims.set_sheet_score(
                        qclass,
                        qsheet,
                        f"s{student:05d}",
                        percent=100,
                        best=best,
                        score=best / 10,
                    )
                    sourcedid = f"{qclass}:{qsheet}:{student}"
                    expected[sourcedid] = f"{best / 100:.2f}".rstrip("0").rstrip(".")
                    links.append(
                        {
                            "user_id": user_id,
                            "activity_id": activity.id,
                            "sourcedid": sourcedid,
                            "outcome_url": lms.url,
                        }
                    )
                session.execute(sa.insert(GradeLink), links)
                made += 1
        session.commit()
    return expected


if __name__ == "__main__":
    sys.exit(main())
