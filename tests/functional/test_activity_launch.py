"""Worksheet and exam launches: status rules, grade links, round trips."""

from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from tests.functional.launching import launch, teacher_launch
from wimslti.models import Activity, GradeLink


@pytest.fixture
def qclass(server, testapp, wims):
    teacher_launch(testapp)
    return wims.class_ids()[0]


def links(dbsession):
    dbsession.expire_all()
    return dbsession.scalars(sa.select(GradeLink)).all()


class TestSheetLaunch:
    def test_a_student_opens_an_active_sheet(self, testapp, wims, qclass, dbsession):
        qsheet = wims.add_sheet(qclass, status=1)
        wims.reset_calls()

        response = launch(testapp, f"/lti/C1/S{qsheet}/")

        assert "&module=adm%2Fsheet&+sh=1" in response.location
        assert response.location.startswith(wims.url + "?session=")
        assert [job for job, _ in wims.calls] == ["getsheet", "adduser", "authuser"]
        (link,) = links(dbsession)
        assert link.sourcedid.startswith('{"data"')
        assert link.outcome_url == "https://moodle.example.edu/mod/lti/service.php"
        assert link.activity.kind == "sheet"
        assert link.activity.resource_link_id == "rl-100"

    def test_a_warm_sheet_launch_costs_two_calls(self, testapp, wims, qclass):
        qsheet = wims.add_sheet(qclass)
        launch(testapp, f"/lti/C1/S{qsheet}/")
        wims.reset_calls()

        launch(testapp, f"/lti/C1/S{qsheet}/")

        assert [job for job, _ in wims.calls] == ["getsheet", "authuser"]

    @pytest.mark.parametrize(("status", "words"), [(0, "not open yet"), (3, "hidden")])
    def test_a_student_cannot_open_a_closed_sheet(
        self, testapp, wims, qclass, dbsession, status, words
    ):
        qsheet = wims.add_sheet(qclass, status=status)

        response = launch(testapp, f"/lti/C1/S{qsheet}/", status=403)

        assert words in response.text
        assert links(dbsession) == []
        assert wims.count("adduser") == 0

    def test_a_student_may_open_an_expired_sheet(self, testapp, wims, qclass):
        qsheet = wims.add_sheet(qclass, status=2)

        launch(testapp, f"/lti/C1/S{qsheet}/")

    def test_a_teacher_opens_a_pending_sheet(self, testapp, wims, qclass, dbsession):
        qsheet = wims.add_sheet(qclass, status=0)

        response = teacher_launch(testapp, f"/lti/C1/S{qsheet}/")

        assert wims.sessions[_session(response)][1] == "supervisor"
        # A teacher gets no grade link, and the sheet is queued for a sync.
        assert links(dbsession) == []
        activity = dbsession.scalars(sa.select(Activity)).one()
        assert activity.sync_requested_at is not None

    def test_a_warm_teacher_sheet_launch_costs_one_call(self, testapp, wims, qclass):
        qsheet = wims.add_sheet(qclass)
        teacher_launch(testapp, f"/lti/C1/S{qsheet}/")
        wims.reset_calls()

        teacher_launch(testapp, f"/lti/C1/S{qsheet}/")

        assert [job for job, _ in wims.calls] == ["authuser"]

    def test_an_unknown_sheet_is_not_found(self, testapp, wims, qclass):
        response = launch(testapp, "/lti/C1/S9/", status=404)

        assert "worksheet 9" in response.text

    def test_the_latest_launch_updates_the_grade_link(
        self, testapp, wims, qclass, dbsession
    ):
        qsheet = wims.add_sheet(qclass)
        launch(testapp, f"/lti/C1/S{qsheet}/")

        launch(
            testapp,
            f"/lti/C1/S{qsheet}/",
            lis_result_sourcedid="new-sourcedid",
            lis_outcome_service_url="https://moodle.example.edu/new",
        )

        (link,) = links(dbsession)
        assert (link.sourcedid, link.outcome_url) == (
            "new-sourcedid",
            "https://moodle.example.edu/new",
        )

    def test_a_launch_without_outcome_parameters_stores_no_link(
        self, testapp, wims, qclass, dbsession
    ):
        qsheet = wims.add_sheet(qclass)

        launch(
            testapp,
            f"/lti/C1/S{qsheet}/",
            lis_result_sourcedid=None,
            lis_outcome_service_url=None,
        )

        assert links(dbsession) == []

    def test_a_long_sourcedid_is_kept_whole(self, testapp, wims, qclass, dbsession):
        qsheet = wims.add_sheet(qclass)

        launch(testapp, f"/lti/C1/S{qsheet}/", lis_result_sourcedid="s" * 3000)

        assert links(dbsession)[0].sourcedid == "s" * 3000

    def test_a_sheet_launch_before_the_class_exists_is_refused(
        self, server, testapp, wims
    ):
        launch(testapp, "/lti/C1/S1/", status=403)

        assert wims.count() == 0


class TestExamLaunch:
    def test_a_student_opens_an_active_exam(self, testapp, wims, qclass, dbsession):
        qexam = wims.add_exam(qclass, status=1)
        wims.reset_calls()

        response = launch(testapp, f"/lti/C1/E{qexam}/")

        assert "&module=adm%2Fclass%2Fexam&+job=student&+exam=1" in response.location
        assert [job for job, _ in wims.calls] == ["getexam", "adduser", "authuser"]
        assert links(dbsession)[0].activity.kind == "exam"

    def test_a_student_cannot_open_a_pending_exam(self, testapp, wims, qclass):
        qexam = wims.add_exam(qclass, status=0)

        response = launch(testapp, f"/lti/C1/E{qexam}/", status=403)

        assert "exam 1 is not open yet" in response.text

    def test_a_teacher_opens_a_pending_exam(self, testapp, wims, qclass):
        qexam = wims.add_exam(qclass, status=0)

        teacher_launch(testapp, f"/lti/C1/E{qexam}/")


def _session(response) -> str:
    return parse_qs(urlsplit(response.location).query)["session"][0].split(".")[0]
