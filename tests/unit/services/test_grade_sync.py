import base64
import dataclasses
import json
import logging
import re
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import responses
import sqlalchemy as sa

from tests.doubles.lms import LmsDouble
from tests.doubles.wims import WimsDouble
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
)
from wimslti.services.grade_sync import (
    HOST_FAILURES_BEFORE_PAUSE,
    GradeSync,
    GradeSyncConfig,
    exam_grade,
    sheet_grade,
    unsent_grades,
)
from wimslti.wims import ExamScore, SheetNotActive, SheetScore, WimsClient

TRANSCRIPTS = Path(__file__).parents[3] / ".." / "shared" / "wims"
KEY = "moodle-key-01"
SECRET = "s3cr3t-Ω%&"
WIMS_PASSWD = "wimsltipass"
T0 = datetime(2026, 12, 4, 12, 0)


def sheet_row(quser="jdoe", percent=0.0, quality=0.0, level=0.0, best=0.0, score=None):
    return SheetScore(quser, percent, quality, level, best, score)


class TestSheetGrade:
    @pytest.mark.parametrize(
        ("score", "grade"),
        [(7.5, "0.75"), (10, "1"), (0.5, "0.05"), (3.333333, "0.3333")],
    )
    def test_the_teacher_formula_score_is_on_ten(self, score, grade):
        row = sheet_row(percent=100, best=100, score=score)

        assert sheet_grade(row) == Decimal(grade)

    def test_without_a_formula_score_the_best_percentage_is_used(self):
        assert sheet_grade(sheet_row(percent=100, best=83)) == Decimal("0.83")

    @pytest.mark.parametrize("score", [-1, None])
    def test_a_formula_score_wims_did_not_compute_falls_back_to_best(self, score):
        row = sheet_row(percent=90, best=83, score=score)

        assert sheet_grade(row) == Decimal("0.83")

    def test_a_bonus_above_the_scale_is_sent_as_one(self, caplog):
        with caplog.at_level(logging.WARNING):
            grade = sheet_grade(sheet_row(percent=100, best=100, score=10.5))

        assert grade == Decimal(1)
        assert "WIMS score 10.5 of jdoe is above 10: 1 is sent" in caplog.text

    def test_a_student_who_did_nothing_has_no_grade(self):
        assert sheet_grade(sheet_row()) is None

    def test_getcsv_writing_a_score_without_work_is_no_grade(self):
        # getsheetscores alone tells who has a score; getcsv writes 0 for none.
        assert sheet_grade(sheet_row(score=0)) is None
        assert sheet_grade(sheet_row(score=4)) is None

    def test_a_formula_score_of_zero_after_work_is_zero(self):
        assert sheet_grade(sheet_row(percent=20, best=20, score=0)) == Decimal(0)

    def test_nan_everywhere_is_no_grade(self):
        row = SheetScore("jdoe", None, None, None, None)

        assert sheet_grade(row) is None

    def test_work_without_best_score_is_zero(self):
        # Exercises done, nothing earned yet: a real 0, not "no score".
        assert sheet_grade(sheet_row(quality=2.5, level=10)) == Decimal(0)


class TestExamGrade:
    @pytest.mark.parametrize(("score", "grade"), [(10, "1"), (7.25, "0.725"), (0, "0")])
    def test_the_exam_score_is_on_ten(self, score, grade):
        assert exam_grade(ExamScore("jdoe", score, 1)) == Decimal(grade)

    def test_an_exam_not_attempted_has_no_grade(self):
        assert exam_grade(ExamScore("jdoe", 0, 0)) is None

    def test_nan_is_no_grade(self):
        assert exam_grade(ExamScore("jdoe", None, 1)) is None


class TestWhatWimsReallyAnswers:
    """The rule on getsheetscores/getexamscores answers recorded from WIMS 4.15a."""

    def test_a_sheet_after_work(self, recorded):
        rows = recorded(67, "getsheetscores")

        assert {row.quser: sheet_grade(row) for row in rows} == {
            "jdoe": Decimal(1),
            "anne@martin": None,
            "elodie": Decimal(1),
            "zoeang": None,
        }

    def test_a_sheet_before_any_work_gives_nothing(self, recorded):
        rows = recorded(63, "getsheetscores")

        assert [sheet_grade(row) for row in rows] == [None] * 4

    def test_numbers_written_as_strings(self, recorded):
        rows = recorded(
            67,
            "getsheetscores",
            edit=lambda text: text.replace('"user_best":100', '"user_best":"100"'),
        )

        assert sheet_grade(rows[0]) == Decimal(1)

    def test_nan_written_as_a_string(self, recorded):
        rows = recorded(
            67,
            "getsheetscores",
            edit=lambda text: re.sub(r'"user_\w+":\d+(\.\d+)?', '"x":"NaN"', text),
        )

        assert [sheet_grade(row) for row in rows] == [None] * 4

    def test_a_quote_in_a_name_does_not_lose_the_class(self, recorded):
        # O"Brien makes the whole answer invalid JSON (NOTES surprise 1).
        rows = recorded(83, "getsheetscores")

        grades = {row.quser: sheet_grade(row) for row in rows}
        assert grades["jdoe"] == Decimal(1)
        assert grades["elodie"] == Decimal(1)
        assert grades["quote"] is None

    def test_an_inactive_sheet_is_refused(self, recorded):
        with pytest.raises(SheetNotActive):
            recorded(69, "getsheetscores")

    def test_an_exam_nobody_attempted_gives_an_empty_string(self, recorded):
        assert recorded(62, "getexamscores") == []

    def test_an_exam_after_an_attempt(self, recorded):
        rows = recorded(70, "getexamscores")

        assert [(row.quser, exam_grade(row)) for row in rows] == [
            ("elodie", Decimal(1))
        ]

    def test_a_sheet_with_the_formula_scores_of_getcsv(self, recorded):
        rows = recorded(67, "getsheetscores")
        table = recorded(78, "getcsv")

        grades = {
            row.quser: sheet_grade(
                dataclasses.replace(row, score=table[row.quser]["sheet2"])
            )
            for row in rows
        }

        # jdoe: percent 100, quality 5.41, so 8.32 by the formula, not 1.
        assert grades == {
            "jdoe": Decimal("0.832"),
            "anne@martin": None,
            "elodie": Decimal(1),
            "zoeang": None,
        }

    @pytest.fixture
    def recorded(self):
        """Return the client's reading of the recorded answer number seq."""
        path = TRANSCRIPTS / "adm_raw_transcript.jsonl"
        if not path.exists():
            pytest.skip(f"WIMS transcripts not found at {path}")
        records = {}
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                record = json.loads(line)
                records[record["seq"]] = record
        url = "http://127.0.0.1:7777/wims/wims.cgi"

        def read(seq, job, edit=lambda text: text):
            record = records[seq]
            text = base64.b64decode(record["response_b64"]).decode("iso-8859-1")
            recorded_code = record["request"]["code"]

            def answer(request):
                code = parse_qs(request.body.decode("ascii"))["code"][0]
                body = edit(text).replace(recorded_code, code)
                return 200, {}, body.encode("iso-8859-1")

            with responses.RequestsMock() as mock:
                mock.add_callback(
                    responses.POST,
                    url,
                    callback=answer,
                    content_type=record["content_type"],
                )
                client = WimsClient(url, "wimslti", WIMS_PASSWD, "myclass")
                request = record["request"]
                item = request.get("qsheet") or request.get("qexam")
                args = [request["qclass"], item] if item else [request["qclass"]]
                return getattr(client, job)(*args)

        return read


class TestBackoff:
    def test_it_doubles_up_to_the_cap(self):
        config = GradeSyncConfig(backoff_base=60, backoff_cap=900)

        delays = [config.backoff(n).total_seconds() for n in range(1, 8)]

        assert delays == [60, 120, 240, 480, 900, 900, 900]

    def test_it_survives_huge_attempt_counts(self):
        config = GradeSyncConfig(backoff_base=60, backoff_cap=900)

        assert config.backoff(10_000).total_seconds() == 900


class TestPass:
    def test_it_sends_each_score_once(self, school, wims, lms, sync, clock):
        activity = school.sheet({"jdoe": 100, "anne": 50})
        sync().run_pass(full=True)

        clock.advance(3600)
        school.request_sync(activity, clock.now)
        report = sync().run_pass(full=True)

        assert wims.count("getsheetscores") == 2
        assert lms.scores == {
            school.sourcedid(activity, "jdoe"): "1",
            school.sourcedid(activity, "anne"): "0.5",
        }
        assert lms.count() == 2
        assert report.grades_sent == 0
        assert report.lms_requests == 0

    def test_it_asks_wims_once_per_activity(self, school, wims, sync):
        school.sheet({f"user{n:02d}": n for n in range(30)})
        school.exam({"jdoe": 7})
        wims.reset_calls()

        report = sync().run_pass(full=True)

        assert wims.count("getsheetscores") == 1
        assert wims.count("getcsv") == 1
        assert wims.count("getexamscores") == 1
        assert report.wims_requests == wims.count() == 3

    def test_a_sheet_is_graded_on_the_teacher_formula(self, school, wims, lms, sync):
        activity = school.sheet(
            {"jdoe": 100, "elodie": 100, "anne": 40},
            formulas={"jdoe": 8.32, "elodie": 10, "anne": 0},
        )

        sync().run_pass(full=True)

        assert lms.scores == {
            school.sourcedid(activity, "jdoe"): "0.832",
            school.sourcedid(activity, "elodie"): "1",
            school.sourcedid(activity, "anne"): "0",
        }
        assert wims.calls[-1][1]["option"] == "login,sheets"

    def test_a_missing_formula_score_falls_back_to_best(self, school, lms, sync):
        activity = school.sheet(
            {"jdoe": 80, "anne": 60}, formulas={"jdoe": float("nan"), "anne": -1}
        )

        sync().run_pass(full=True)

        assert lms.scores == {
            school.sourcedid(activity, "jdoe"): "0.8",
            school.sourcedid(activity, "anne"): "0.6",
        }

    def test_a_sheet_nobody_worked_on_costs_no_getcsv(self, school, wims, sync):
        school.sheet({"jdoe": None, "anne": None})
        wims.reset_calls()

        report = sync().run_pass(full=True)

        assert wims.count("getsheetscores") == 1
        assert wims.count("getcsv") == 0
        assert report.wims_requests == 1

    def test_it_sends_only_what_changed(self, school, wims, lms, sync, clock):
        activity = school.sheet({"jdoe": 40, "anne": 50})
        sync().run_pass(full=True)

        clock.advance(60)
        qsheet = school.qitem(activity)
        wims.set_sheet_score(school.qclass, qsheet, "jdoe", best=90, score=9)
        sync().run_pass(full=True)

        assert lms.sends(school.sourcedid(activity, "jdoe")) == ["0.4", "0.9"]
        assert lms.sends(school.sourcedid(activity, "anne")) == ["0.5"]

    def test_a_student_without_a_score_gets_nothing(self, school, lms, sync):
        activity = school.sheet({"jdoe": 100, "anne": None})

        sync().run_pass(full=True)

        assert school.sourcedid(activity, "anne") not in lms.scores
        assert school.link(activity, "anne").attempts == 0
        assert school.link(activity, "anne").last_outcome is None

    def test_exam_scores_are_on_ten(self, school, lms, sync):
        activity = school.exam({"jdoe": 7.5, "anne": None})

        sync().run_pass(full=True)

        assert lms.scores == {school.sourcedid(activity, "jdoe"): "0.75"}

    def test_every_attempt_is_recorded(self, school, sync, clock):
        activity = school.sheet({"jdoe": 75})

        sync().run_pass(full=True)

        link = school.link(activity, "jdoe")
        assert link.last_score_sent == 0.75
        assert link.last_sent_at == clock.now
        assert link.last_attempt_at == clock.now
        assert link.last_outcome == "success"
        assert link.last_message == f"Grade replaced for {link.sourcedid}"
        assert link.last_error is None
        assert link.pending_score is None
        assert link.last_sent_sourcedid == link.sourcedid

    def test_a_new_sourcedid_gets_the_score_again(self, school, lms, sync, clock):
        activity = school.sheet({"jdoe": 75})
        sync().run_pass(full=True)

        clock.advance(60)
        school.update_link(activity, "jdoe", sourcedid="new-sourcedid")
        school.request_sync(activity, clock.now)
        sync().run_pass(full=True)

        assert lms.scores["new-sourcedid"] == "0.75"

    def test_a_sheet_that_is_not_active_is_no_failure(self, school, lms, sync):
        activity = school.sheet({"jdoe": 75}, status=0)

        report = sync().run_pass(full=True)

        assert report.activities_failed == 0
        assert lms.received == []
        assert school.activity(activity).last_synced_at is not None

    def test_the_pass_is_recorded(self, school, sync, session_factory):
        school.sheet({"jdoe": 75, "anne": 20})

        worker = sync()
        worker.run_pass(full=True)

        with committed_session(session_factory) as session:
            (row,) = session.scalars(sa.select(WorkerPass)).all()
        assert row.worker == worker.worker_id
        assert row.finished_at is not None
        assert (row.activities_synced, row.grades_sent, row.lms_requests) == (1, 2, 2)
        # getsheetscores, then getcsv for the formula scores.
        assert row.wims_requests == 2

    def test_one_info_line_per_activity_and_no_secret(self, school, sync, caplog):
        school.sheet({"jdoe": 75, "anne": 20})
        school.exam({"jdoe": 5})

        with caplog.at_level(logging.DEBUG):
            sync().run_pass(full=True)

        lines = [
            record
            for record in caplog.records
            if record.name == "wimslti.services.grade_sync"
            and record.levelno == logging.INFO
        ]
        assert len(lines) == 2
        assert all(
            f"WIMS class {school.qclass}" in record.getMessage() for record in lines
        )
        assert SECRET not in caplog.text
        assert WIMS_PASSWD not in caplog.text
        assert "oauth_signature" not in caplog.text


class TestRetries:
    def test_a_transient_failure_is_retried_with_backoff(
        self, school, lms, sync, clock
    ):
        activity = school.sheet({"jdoe": 75})
        lms.fail_next("http503")
        worker = sync()

        worker.run_pass()
        link = school.link(activity, "jdoe")
        assert (link.attempts, link.last_outcome) == (1, "http_error")
        assert link.pending_score == 0.75
        assert link.next_attempt_at == clock.now + timedelta(seconds=60)
        assert link.last_error.startswith("HTTP 503 text/html")

        clock.advance(30)
        worker.run_pass()
        assert lms.count() == 1

        clock.advance(31)
        worker.run_pass()
        assert lms.scores == {school.sourcedid(activity, "jdoe"): "0.75"}
        assert school.link(activity, "jdoe").attempts == 0

    def test_the_delay_doubles(self, school, lms, sync, clock):
        activity = school.sheet({"jdoe": 75})
        lms.fail_next("http503", times=3)
        worker = sync()

        delays = []
        for _ in range(3):
            worker.run_pass()
            link = school.link(activity, "jdoe")
            delays.append((link.next_attempt_at - clock.now).total_seconds())
            clock.now = link.next_attempt_at

        assert delays == [60, 120, 240]

    def test_too_many_attempts_mark_the_link_dead(self, school, lms, sync, clock):
        activity = school.sheet({"jdoe": 75})
        lms.fail_next("http503", times=10)
        worker = sync(max_attempts=3)

        for _ in range(5):
            worker.run_pass()
            clock.advance(3600)

        link = school.link(activity, "jdoe")
        assert lms.count() == 3
        assert link.dead_at is not None
        assert link.attempts == 3

    def test_a_refused_grade_is_not_retried(self, school, lms, sync, clock):
        activity = school.sheet({"jdoe": 75, "anne": 50})
        refused = school.sourcedid(activity, "jdoe")
        lms.refuse(refused, "User is not enrolled in this course")
        worker = sync()

        report = worker.run_pass()
        clock.advance(7200)
        worker.run_pass(full=True)

        link = school.link(activity, "jdoe")
        assert link.dead_at is not None
        assert link.last_outcome == "failure"
        assert link.last_error == "User is not enrolled in this course"
        assert link.pending_score == 0.75
        assert len([r for r in lms.received if r.sourcedid == refused]) == 1
        assert lms.scores == {school.sourcedid(activity, "anne"): "0.5"}
        assert report.grades_dead == 1

    def test_a_relaunch_revives_a_refused_grade(self, school, lms, sync, clock):
        activity = school.sheet({"jdoe": 75})
        lms.fail_next("failure:Tool does not accept grades")
        worker = sync()
        worker.run_pass()

        clock.advance(60)
        school.relaunch("jdoe", clock.now)
        worker.run_pass()

        assert lms.scores == {school.sourcedid(activity, "jdoe"): "0.75"}
        assert school.link(activity, "jdoe").dead_at is None

    def test_unsent_grades_list_why(self, school, lms, sync, session_factory):
        activity = school.sheet({"jdoe": 75, "anne": 50})
        lms.refuse(school.sourcedid(activity, "jdoe"), "User is not enrolled")

        sync().run_pass()

        with committed_session(session_factory) as session:
            (unsent,) = unsent_grades(session, activity)
        assert unsent.lms_user_id == "lms-jdoe"
        assert unsent.dead
        assert unsent.score == 0.75
        assert unsent.last_error == "User is not enrolled"

    def test_an_lms_refusing_the_key_stops_the_pass_for_it(
        self, school, lms, sync, clock, session_factory
    ):
        activity = school.sheet({f"user{n:02d}": 50 for n in range(10)})
        lms.fail_next("html401", times=100)
        worker = sync(pool_size=1)

        report = worker.run_pass()

        assert lms.count() == 1
        assert report.grades_dead == 10
        links = school.links(activity)
        assert {link.last_outcome for link in links} == {"unauthorized"}
        assert all(link.dead_at is not None for link in links)

        # The administrator puts the right secret: every grade goes.
        lms.clear_faults()
        clock.advance(60)
        with committed_session(session_factory) as session:
            session.execute(sa.update(Lms).values(updated_at=clock.now))
        worker.run_pass()
        assert len(lms.scores) == 10

    def test_an_lms_down_for_an_hour_gets_every_grade_back(
        self, school, lms, sync, clock
    ):
        activity = school.sheet({f"user{n:02d}": n + 1 for n in range(30)})
        lms.stop()
        worker = sync(pool_size=2)

        report = worker.run_pass()
        # A down host gets a few requests, not one per grade.
        assert report.grades_failed <= HOST_FAILURES_BEFORE_PAUSE + 4
        assert report.grades_deferred >= 30 - HOST_FAILURES_BEFORE_PAUSE - 4
        for _ in range(4):
            clock.advance(900)
            worker.run_pass()

        lms.start()
        clock.advance(900)
        worker.run_pass()

        assert len(lms.scores) == 30
        assert lms.scores[school.sourcedid(activity, "user04")] == "0.05"
        assert all(link.pending_score is None for link in school.links(activity))

    def test_a_grade_stored_behind_a_broken_answer_is_verified(self, school, lms, sync):
        activity = school.sheet({"jdoe": 75})
        lms.fail_next("empty", store=True)

        report = sync().run_pass()

        link = school.link(activity, "jdoe")
        assert link.last_outcome == "verified"
        assert link.last_score_sent == 0.75
        assert report.lms_requests == 2

    def test_a_broken_answer_without_the_grade_is_retried(self, school, lms, sync):
        activity = school.sheet({"jdoe": 75})
        lms.fail_next("wrong_namespace")

        sync().run_pass()

        link = school.link(activity, "jdoe")
        assert link.last_outcome == "wrong_namespace"
        assert link.attempts == 1
        assert link.pending_score == 0.75

    def test_processing_counts_as_taken(self, school, lms, sync):
        activity = school.sheet({"jdoe": 75})
        lms.fail_next("processing")

        sync().run_pass()

        link = school.link(activity, "jdoe")
        assert link.last_outcome == "processing"
        assert link.pending_score is None


class TestWimsSide:
    def test_an_untouched_class_is_not_asked_for_scores(
        self, school, wims, lms, sync, clock
    ):
        school.sheet({"jdoe": 75})
        school.sheet({"jdoe": 30})
        # The first sync comes well after the scores were written.
        clock.advance(600)
        worker = sync()
        worker.run_pass()
        wims.reset_calls()

        clock.advance(3600)
        report = worker.run_pass()

        assert report.activities_skipped == 2
        assert wims.count("getclassmodif") == 1
        assert wims.count("getsheetscores") == 0

    def test_a_touched_class_is_asked(self, school, wims, lms, sync, clock):
        activity = school.sheet({"jdoe": 75})
        worker = sync()
        worker.run_pass()

        clock.advance(3600)
        qsheet = school.qitem(activity)
        wims.set_sheet_score(school.qclass, qsheet, "jdoe", best=95, score=9.5)
        worker.run_pass()

        assert lms.sends(school.sourcedid(activity, "jdoe")) == ["0.75", "0.95"]

    def test_a_teacher_request_is_always_asked(self, school, wims, sync, clock):
        activity = school.sheet({"jdoe": 75})
        worker = sync()
        worker.run_pass()
        wims.reset_calls()

        clock.advance(10)
        school.request_sync(activity, clock.now)
        worker.run_pass()

        assert wims.count("getsheetscores") == 1
        assert school.activity(activity).sync_requested_at is None

    def test_an_activity_synced_recently_is_not_due(self, school, wims, sync, clock):
        school.sheet({"jdoe": 75})
        worker = sync()
        worker.run_pass()
        wims.reset_calls()

        clock.advance(60)
        worker.run_pass()

        assert wims.calls == []

    def test_a_wims_failure_keeps_pending_grades_going(
        self, school, wims, lms, sync, clock
    ):
        activity = school.sheet({"jdoe": 75})
        lms.fail_next("http503")
        worker = sync()
        worker.run_pass()

        clock.advance(3600)
        wims.fail_next("getclassmodif", "busy")
        wims.fail_next("getsheetscores", "busy")
        report = worker.run_pass()

        assert report.activities_failed == 1
        assert lms.scores == {school.sourcedid(activity, "jdoe"): "0.75"}
        assert school.activity(activity).last_synced_at == T0

    def test_a_wims_failure_is_not_asked_again_at_once(self, school, wims, sync, clock):
        school.sheet({"jdoe": 75})
        wims.fail_next("getsheetscores", "busy")
        worker = sync()
        worker.run_pass()
        wims.reset_calls()

        clock.advance(5)
        worker.run_pass()
        assert wims.calls == []

        clock.advance(60)
        worker.run_pass()
        assert wims.count("getsheetscores") == 1

    def test_a_getcsv_failure_falls_back_to_best_with_one_warning(
        self, school, wims, lms, sync, caplog
    ):
        activity = school.sheet({"jdoe": 100, "anne": 50}, formulas={"jdoe": 8.32})
        wims.fail_next("getcsv", "error:something new")

        with caplog.at_level(logging.INFO, logger="wimslti.services.grade_sync"):
            report = sync().run_pass()

        assert lms.scores == {
            school.sourcedid(activity, "jdoe"): "1",
            school.sourcedid(activity, "anne"): "0.5",
        }
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert [record.getMessage() for record in warnings] == [
            f"getcsv of WIMS class {school.qclass} failed; sheet "
            f"{school.qitem(activity)} is graded on best scores: "
            "getcsv: something new"
        ]
        assert (report.activities_synced, report.activities_failed) == (1, 0)
        assert report.wims_requests == 2
        assert school.activity(activity).last_synced_at == T0

    @pytest.mark.parametrize("fault", ["garbage", "html"])
    def test_an_answer_that_is_no_table_falls_back_to_best(
        self, school, wims, lms, sync, fault
    ):
        activity = school.sheet({"jdoe": 100}, formulas={"jdoe": 8.32})
        wims.fail_next("getcsv", fault)

        report = sync().run_pass()

        assert lms.scores == {school.sourcedid(activity, "jdoe"): "1"}
        assert report.activities_failed == 0

    def test_a_busy_getcsv_reads_the_sheet_again_soon(
        self, school, wims, lms, sync, clock
    ):
        activity = school.sheet({"jdoe": 100}, formulas={"jdoe": 8.32})
        wims.fail_next("getcsv", "busy")
        worker = sync()
        worker.run_pass()
        assert lms.sends(school.sourcedid(activity, "jdoe")) == ["1"]
        assert school.activity(activity).last_synced_at is None
        wims.reset_calls()

        clock.advance(5)
        worker.run_pass()
        assert wims.calls == []

        clock.advance(60)
        worker.run_pass()
        assert lms.sends(school.sourcedid(activity, "jdoe")) == ["1", "0.832"]
        assert school.activity(activity).last_synced_at == clock.now

    def test_a_class_gone_at_getcsv_is_marked_gone(self, school, wims, lms, sync):
        activity = school.sheet({"jdoe": 100}, formulas={"jdoe": 8.32})
        wims.fail_next("getcsv", f"error:class {school.qclass} not existing")

        report = sync().run_pass()

        assert report.activities_gone == 1
        assert school.wims_class().state is ClassState.GONE
        assert school.activity(activity).state is ActivityState.GONE
        assert lms.received == []

    def test_a_class_wims_lost_is_marked_gone_with_its_links(
        self, school, wims, lms, sync
    ):
        activity = school.sheet({"jdoe": 75})
        wims.delete_class(school.qclass)

        report = sync().run_pass()

        assert report.activities_gone == 1
        assert school.activity(activity).state is ActivityState.GONE
        assert school.wims_class().state is ClassState.GONE
        assert len(school.links(activity)) == 1
        assert lms.received == []

    def test_a_sheet_wims_lost_marks_only_the_activity_gone(self, school, sync):
        activity = school.sheet({"jdoe": 75})
        school.set_qitem(activity, 99)

        sync().run_pass()

        assert school.activity(activity).state is ActivityState.GONE
        assert school.wims_class().state is ClassState.READY


class TestWorkers:
    def test_concurrent_workers_send_each_grade_once(self, school, wims, lms, sync):
        activities = [
            school.sheet({f"user{n:02d}": 10 * n + index for n in range(5)})
            for index in range(12)
        ]
        wims.reset_calls()
        lms.latency = 0.01
        workers = [sync(), sync(), sync()]
        barrier = threading.Barrier(len(workers))
        errors = []

        def run(worker):
            barrier.wait()
            try:
                worker.run_pass()
            except Exception as error:
                errors.append(error)

        threads = [threading.Thread(target=run, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        assert wims.count("getsheetscores") == len(activities)
        assert wims.count("getcsv") == len(activities)
        for activity in activities:
            for n in range(5):
                assert len(lms.sends(school.sourcedid(activity, f"user{n:02d}"))) == 1

    def test_a_restarted_worker_takes_back_the_claims_of_its_dead_predecessor(
        self, school, lms, sync, clock, session_factory
    ):
        activity = school.sheet({"jdoe": 75})
        dead = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],
            capture_output=True,
            text=True,
            check=True,
        )
        worker = sync()
        with committed_session(session_factory) as session:
            session.execute(
                sa.update(Activity).values(
                    claimed_by=f"{worker.host}:{dead.stdout.strip()}:old",
                    claimed_until=clock.now + timedelta(hours=1),
                )
            )

        assert worker.recover() == 1
        worker.run_pass()

        assert lms.scores == {school.sourcedid(activity, "jdoe"): "0.75"}

    def test_a_live_workers_claim_is_left_alone(
        self, school, lms, sync, clock, session_factory
    ):
        school.sheet({"jdoe": 75})
        worker = sync()
        with committed_session(session_factory) as session:
            session.execute(
                sa.update(Activity).values(
                    claimed_by="other-host:1:x",
                    claimed_until=clock.now + timedelta(hours=1),
                )
            )

        assert worker.recover() == 0
        worker.run_pass()

        assert lms.received == []

    def test_a_lapsed_claim_is_taken(self, school, lms, sync, clock, session_factory):
        school.sheet({"jdoe": 75})
        with committed_session(session_factory) as session:
            session.execute(
                sa.update(Activity).values(
                    claimed_by="other-host:1:x",
                    claimed_until=clock.now - timedelta(seconds=1),
                )
            )

        sync().run_pass()

        assert len(lms.scores) == 1

    def test_a_stop_request_ends_the_pass_between_activities(self, school, wims, sync):
        school.sheet({"jdoe": 75})
        school.sheet({"jdoe": 75})
        wims.reset_calls()
        asked = []

        def should_stop():
            asked.append(1)
            return len(asked) > 1

        sync().run_pass(should_stop=should_stop)

        assert wims.count("getsheetscores") == 1


# Fixtures --------------------------------------------------------------------


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += timedelta(seconds=seconds)


class School:
    """An LMS, a WIMS server and a class, with sheets, exams and grade links."""

    def __init__(self, session_factory, wims, lms):
        self.session_factory = session_factory
        self.wims = wims
        self.lms = lms
        self.qclass = wims.add_class()
        with committed_session(session_factory) as session:
            # Declared before the tests' clock starts.
            declared = T0 - timedelta(days=30)
            lms_row = Lms(
                key=KEY,
                secret=SECRET,
                name="Moodle",
                created_at=declared,
                updated_at=declared,
            )
            server = WimsServer(
                id=1,
                name="WIMS",
                url=wims.url,
                ident="wimslti",
                passwd=WIMS_PASSWD,
                rclass="myclass",
                allowed_lms=[lms_row],
            )
            wims_class = WimsClass(
                lms=lms_row,
                context_id="ctx-42",
                wims_server=server,
                qclass=self.qclass,
                state=ClassState.READY,
                name="Class",
                class_password="pw",
                supervisor_password="pw",
            )
            session.add(wims_class)
            session.flush()
            self.class_id = wims_class.id
        self.users = {}

    def sheet(self, bests, status=1, formulas=None):
        """Add a sheet with these best percentages (None: not worked).

        The teacher-formula score of each student is best / 10 unless
        formulas gives it, so both of WIMS's numbers make the same grade.
        """
        qsheet = self.wims.add_sheet(self.qclass, status=status)
        activity = self._activity(ActivityKind.SHEET, qsheet, bests)
        formulas = formulas or {}
        for quser, best in bests.items():
            if best is not None:
                self.wims.set_sheet_score(
                    self.qclass,
                    qsheet,
                    quser,
                    percent=100,
                    quality=5,
                    best=best,
                    score=formulas.get(quser, best / 10),
                )
        return activity

    def exam(self, scores):
        qexam = self.wims.add_exam(self.qclass)
        activity = self._activity(ActivityKind.EXAM, qexam, scores)
        for quser, score in scores.items():
            if score is not None:
                self.wims.set_exam_score(self.qclass, qexam, quser, score=score)
        return activity

    def _activity(self, kind, qitem, students):
        with committed_session(self.session_factory) as session:
            activity = Activity(class_id=self.class_id, kind=kind, qitem=qitem)
            session.add(activity)
            session.flush()
            for quser in students:
                if quser not in self.users:
                    self.wims.add_user(self.qclass, quser, lastname=quser.title())
                    user = WimsUser(
                        class_id=self.class_id, lms_user_id=f"lms-{quser}", quser=quser
                    )
                    session.add(user)
                    session.flush()
                    self.users[quser] = user.id
                session.add(
                    GradeLink(
                        user_id=self.users[quser],
                        activity_id=activity.id,
                        sourcedid=self.sourcedid(activity.id, quser),
                        outcome_url=self.lms.url,
                    )
                )
            return activity.id

    def sourcedid(self, activity_id, quser):
        return f'{{"activity":{activity_id},"user":"{quser}","hash":"a&b<c>"}}'

    def qitem(self, activity_id):
        return self.activity(activity_id).qitem

    def activity(self, activity_id):
        with committed_session(self.session_factory) as session:
            return session.get(Activity, activity_id)

    def wims_class(self):
        with committed_session(self.session_factory) as session:
            return session.get(WimsClass, self.class_id)

    def links(self, activity_id):
        with committed_session(self.session_factory) as session:
            return session.scalars(
                sa.select(GradeLink)
                .where(GradeLink.activity_id == activity_id)
                .order_by(GradeLink.id)
            ).all()

    def link(self, activity_id, quser):
        with committed_session(self.session_factory) as session:
            return session.scalars(
                sa.select(GradeLink).where(
                    GradeLink.activity_id == activity_id,
                    GradeLink.user_id == self.users[quser],
                )
            ).one()

    def update_link(self, activity_id, quser, **values):
        with committed_session(self.session_factory) as session:
            session.execute(
                sa.update(GradeLink)
                .where(
                    GradeLink.activity_id == activity_id,
                    GradeLink.user_id == self.users[quser],
                )
                .values(**values)
            )

    def relaunch(self, quser, when):
        with committed_session(self.session_factory) as session:
            session.execute(
                sa.update(WimsUser)
                .where(WimsUser.id == self.users[quser])
                .values(last_launch_at=when)
            )

    def request_sync(self, activity_id, when):
        with committed_session(self.session_factory) as session:
            session.execute(
                sa.update(Activity)
                .where(Activity.id == activity_id)
                .values(sync_requested_at=when)
            )

    def set_qitem(self, activity_id, qitem):
        with committed_session(self.session_factory) as session:
            session.execute(
                sa.update(Activity)
                .where(Activity.id == activity_id)
                .values(qitem=qitem)
            )


@pytest.fixture
def clock():
    return Clock(T0)


@pytest.fixture
def wims(clock):
    with WimsDouble.serve() as double:
        # WIMS's file times follow the same clock as the worker's.
        double.clock = clock
        yield double


@pytest.fixture
def lms():
    with LmsDouble.serve({KEY: SECRET}) as double:
        yield double


@pytest.fixture
def school(session_factory, wims, lms):
    return School(session_factory, wims, lms)


@pytest.fixture
def sync(session_factory, clock):
    made = []

    def make(**config):
        settings = {
            "pool_size": 4,
            "lms_timeout": 2,
            "wims_timeout": 2,
            "wims_clock_margin": 60,
            **config,
        }
        worker = GradeSync(session_factory, GradeSyncConfig(**settings), clock=clock)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.close()
