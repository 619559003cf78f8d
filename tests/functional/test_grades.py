"""Grade passback end to end: launches, WIMS scores, the worker, the gradebook."""

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.doubles.lms import LmsDouble
from tests.functional.conftest import LMS_KEY, LMS_SECRET
from tests.functional.launching import launch, teacher_launch
from tests.gateway_ini import write_gateway_ini
from tests.lti_consumer import BASE_LAUNCH
from wimslti.models import (
    Activity,
    ActivityState,
    ClassState,
    GradeLink,
    WimsClass,
    WimsUser,
)
from wimslti.scripts.cli import main
from wimslti.services.grade_sync import GradeSync, GradeSyncConfig

PROJECT = Path(__file__).resolve().parents[2]
CONSOLE_SCRIPT = Path(sys.executable).parent / "wimslti"
SOURCEDID = BASE_LAUNCH["lis_result_sourcedid"]


class TestGradePassback:
    def test_a_worksheet_score_reaches_the_gradebook(
        self, testapp, wims, qclass, gradebook, worker, dbsession
    ):
        qsheet = wims.add_sheet(qclass)
        launch(testapp, f"/lti/C1/S{qsheet}/", lis_outcome_service_url=gradebook.url)
        quser = quser_of(dbsession, "u-1001")
        # jdoe's numbers in the recording: the teacher's formula makes 8.32.
        wims.set_sheet_score(
            qclass, qsheet, quser, percent=100, quality=5.41, best=100, score=8.32
        )

        worker.run_pass()

        assert gradebook.scores == {SOURCEDID: "0.832"}

    def test_without_the_formula_score_the_best_percentage_is_sent(
        self, testapp, wims, qclass, gradebook, worker, dbsession, caplog
    ):
        qsheet = wims.add_sheet(qclass)
        launch(testapp, f"/lti/C1/S{qsheet}/", lis_outcome_service_url=gradebook.url)
        quser = quser_of(dbsession, "u-1001")
        wims.set_sheet_score(
            qclass, qsheet, quser, percent=100, quality=6, best=80, score=8.32
        )
        wims.fail_next("getcsv", "error:unauthorized")

        with caplog.at_level(logging.WARNING):
            report = worker.run_pass()

        assert gradebook.scores == {SOURCEDID: "0.8"}
        assert report.activities_failed == 0
        assert "getcsv: unauthorized" in caplog.text

    def test_an_exam_score_reaches_the_gradebook(
        self, testapp, wims, qclass, gradebook, worker, dbsession
    ):
        qexam = wims.add_exam(qclass)
        launch(testapp, f"/lti/C1/E{qexam}/", lis_outcome_service_url=gradebook.url)
        wims.set_exam_score(qclass, qexam, quser_of(dbsession, "u-1001"), score=6.5)

        worker.run_pass()

        assert gradebook.scores == {SOURCEDID: "0.65"}

    def test_a_student_who_did_nothing_gets_no_grade(
        self, testapp, wims, qclass, gradebook, worker
    ):
        qsheet = wims.add_sheet(qclass)
        launch(testapp, f"/lti/C1/S{qsheet}/", lis_outcome_service_url=gradebook.url)

        worker.run_pass()

        assert gradebook.received == []

    def test_every_value_arrives_across_contexts_links_and_users(
        self, testapp, wims, server, gradebook, worker, dbsession
    ):
        # Certification 6.4: two contexts, two links in one, two users on one.
        teacher_launch(testapp)
        teacher_launch(testapp, context_id="ctx-43")
        first, second = qclass_of(dbsession, "ctx-42"), qclass_of(dbsession, "ctx-43")
        sheet_a, sheet_b = wims.add_sheet(first), wims.add_sheet(first)
        sheet_c = wims.add_sheet(second)
        students = [
            ("ctx-42", sheet_a, "u-1", 100),
            ("ctx-42", sheet_a, "u-2", 35),
            ("ctx-42", sheet_b, "u-1", 72),
            ("ctx-43", sheet_c, "u-3", 90),
        ]
        for context_id, qsheet, user_id, best in students:
            launch(
                testapp,
                f"/lti/C1/S{qsheet}/",
                context_id=context_id,
                user_id=user_id,
                lis_person_name_given=f"Student{user_id[-1]}",
                lis_result_sourcedid=f"{context_id}/{qsheet}/{user_id}",
                lis_outcome_service_url=gradebook.url,
            )
            qclass = qclass_of(dbsession, context_id)
            quser = quser_of(dbsession, user_id, context_id)
            wims.set_sheet_score(
                qclass, qsheet, quser, percent=100, best=best, score=best / 10
            )

        worker.run_pass()

        assert gradebook.scores == {
            f"ctx-42/{sheet_a}/u-1": "1",
            f"ctx-42/{sheet_a}/u-2": "0.35",
            f"ctx-42/{sheet_b}/u-1": "0.72",
            f"ctx-43/{sheet_c}/u-3": "0.9",
        }


class TestTeacherLaunch:
    def test_it_asks_for_a_sync_and_never_talks_to_the_gradebook(
        self, testapp, wims, qclass, gradebook, worker, dbsession
    ):
        qsheet = wims.add_sheet(qclass)
        launch(testapp, f"/lti/C1/S{qsheet}/", lis_outcome_service_url=gradebook.url)
        wims.set_sheet_score(
            qclass, qsheet, quser_of(dbsession, "u-1001"), percent=100, score=6
        )
        # A gradebook that never answers cannot hold the teacher back.
        gradebook.fail_next("hang", times=5)

        response = teacher_launch(testapp, f"/lti/C1/S{qsheet}/")

        assert response.location.startswith(wims.url + "?session=")
        assert gradebook.received == []
        dbsession.expire_all()
        activity = dbsession.scalars(sa.select(Activity)).one()
        assert activity.sync_requested_at is not None

        gradebook.clear_faults()
        worker.run_pass()
        assert gradebook.scores == {SOURCEDID: "0.6"}
        dbsession.expire_all()
        assert dbsession.get(Activity, activity.id).sync_requested_at is None

    def test_the_running_worker_picks_the_request_up(
        self, testapp, wims, qclass, gradebook, dbsession, ini
    ):
        qsheet = wims.add_sheet(qclass)
        launch(testapp, f"/lti/C1/S{qsheet}/", lis_outcome_service_url=gradebook.url)
        process = start_worker(ini)
        try:
            # The worker syncs the new activity once: no score yet.
            wait_until(lambda: synced(dbsession))
            wims.set_sheet_score(
                qclass, qsheet, quser_of(dbsession, "u-1001"), percent=100, score=4.5
            )
            assert gradebook.received == []

            teacher_launch(testapp, f"/lti/C1/S{qsheet}/")

            wait_until(lambda: gradebook.scores)
            assert gradebook.scores == {SOURCEDID: "0.45"}
        finally:
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0


class TestWorkerProcesses:
    def test_a_killed_worker_resumes_where_it_was(
        self, testapp, wims, qclass, gradebook, dbsession, ini
    ):
        qsheet = wims.add_sheet(qclass)
        students = enrol(testapp, wims, dbsession, qclass, qsheet, gradebook, 60)
        gradebook.latency = 0.1

        process = start_worker(ini, "--once")
        wait_until(lambda: len(sent_links(dbsession)) >= 5)
        process.kill()
        process.wait()
        recorded = sent_links(dbsession)
        assert len(recorded) < 60

        gradebook.latency = 0
        run_worker(ini, "--once")

        assert gradebook.scores == students
        for sourcedid in recorded:
            assert len(gradebook.sends(sourcedid)) == 1
        assert len(sent_links(dbsession)) == 60

    def test_concurrent_workers_send_each_grade_once(
        self, testapp, wims, qclass, gradebook, dbsession, ini
    ):
        expected = {}
        for _ in range(3):
            qsheet = wims.add_sheet(qclass)
            expected |= enrol(testapp, wims, dbsession, qclass, qsheet, gradebook, 15)
        gradebook.latency = 0.01

        processes = [start_worker(ini, "--once") for _ in range(3)]
        assert [process.wait(timeout=120) for process in processes] == [0, 0, 0]

        assert gradebook.scores == expected
        assert all(len(gradebook.sends(sourcedid)) == 1 for sourcedid in expected)


class TestCheckClasses:
    def test_a_class_wims_lost_is_marked_gone_and_kept(
        self, testapp, wims, qclass, gradebook, dbsession, ini, capsys
    ):
        qsheet = wims.add_sheet(qclass)
        launch(testapp, f"/lti/C1/S{qsheet}/", lis_outcome_service_url=gradebook.url)
        other = wims.add_class()
        wims.delete_class(qclass)

        assert main(["-c", ini, "check-classes"]) == 0

        assert capsys.readouterr().out.splitlines() == [
            f"server 1 (WIMS test): 1 checked, 1 gone ({qclass})"
        ]
        dbsession.expire_all()
        wims_class = dbsession.scalars(sa.select(WimsClass)).one()
        assert wims_class.state is ClassState.GONE
        assert dbsession.scalars(sa.select(Activity)).one().state is (
            ActivityState.GONE
        )
        assert len(dbsession.scalars(sa.select(GradeLink)).all()) == 1
        assert other in wims.class_ids()

    def test_an_unreachable_server_changes_nothing(
        self, testapp, wims, qclass, dbsession, ini, capsys
    ):
        wims.busy = True

        assert main(["-c", ini, "check-classes"]) == 1

        assert "1 classes could not be checked" in capsys.readouterr().err
        dbsession.expire_all()
        assert dbsession.scalars(sa.select(WimsClass)).one().state is ClassState.READY


# Helpers and fixtures ----------------------------------------------------------


def quser_of(dbsession, user_id, context_id="ctx-42"):
    dbsession.expire_all()
    return dbsession.scalars(
        sa.select(WimsUser.quser)
        .join(WimsClass, WimsUser.class_id == WimsClass.id)
        .where(WimsUser.lms_user_id == user_id, WimsClass.context_id == context_id)
    ).one()


def qclass_of(dbsession, context_id):
    dbsession.expire_all()
    return dbsession.scalars(
        sa.select(WimsClass.qclass).where(WimsClass.context_id == context_id)
    ).one()


def enrol(testapp, wims, dbsession, qclass, qsheet, gradebook, count):
    """Launch count students into a sheet, give each a score; return them."""
    expected = {}
    for number in range(count):
        user_id = f"s{qsheet}-{number}"
        sourcedid = f"sheet {qsheet} student {number}"
        launch(
            testapp,
            f"/lti/C1/S{qsheet}/",
            user_id=user_id,
            lis_person_name_given="Student",
            # A family name of letters only, its own for each student.
            lis_person_name_family="".join(
                chr(ord("a") + int(digit)) for digit in f"{qsheet}{number:03d}"
            ),
            lis_result_sourcedid=sourcedid,
            lis_outcome_service_url=gradebook.url,
        )
        percent = number + 1
        wims.set_sheet_score(
            qclass,
            qsheet,
            quser_of(dbsession, user_id),
            percent=100,
            score=percent / 10,
        )
        expected[sourcedid] = str(percent / 100).rstrip("0").rstrip(".")
    return expected


def sent_links(dbsession):
    dbsession.expire_all()
    return set(
        dbsession.scalars(
            sa.select(GradeLink.sourcedid).where(GradeLink.last_sent_at.is_not(None))
        )
    )


def synced(dbsession):
    dbsession.expire_all()
    return dbsession.scalars(
        sa.select(Activity.last_synced_at).where(Activity.last_synced_at.is_not(None))
    ).first()


def wait_until(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the condition did not come true")
        time.sleep(0.05)


def _environ():
    # The test's database is in the ini, whatever the caller's environment says.
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("WIMSLTI_")
    }


def start_worker(ini, *options):
    return subprocess.Popen(
        [str(CONSOLE_SCRIPT), "-c", ini, "worker", *options], env=_environ()
    )


def run_worker(ini, *options):
    done = subprocess.run(
        [str(CONSOLE_SCRIPT), "-c", ini, "worker", *options],
        env=_environ(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def qclass(server, testapp, wims):
    teacher_launch(testapp)
    return wims.class_ids()[0]


@pytest.fixture
def gradebook():
    with LmsDouble.serve({LMS_KEY: LMS_SECRET}) as double:
        yield double


@pytest.fixture
def worker(session_factory):
    config = GradeSyncConfig(pool_size=4, lms_timeout=2, wims_timeout=2)
    sync = GradeSync(session_factory, config)
    yield sync
    sync.close()


@pytest.fixture
def ini(tmp_path, db_url, app_settings):
    return write_gateway_ini(
        tmp_path / "worker.ini",
        db_url,
        app_settings["wimslti.config_dir"],
        extra="""
            wimslti.wims_timeout = 2
            wimslti.lms_timeout = 2
            wimslti.grade_pool_size = 2
            wimslti.worker_poll = 0.2
        """,
    )
