"""Launches from an LMS into WIMS, end to end against the WIMS double."""

from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from tests.functional.launching import launch, teacher_launch
from tests.lti_consumer import RETURN_URL
from wimslti.models import ClassState, WimsClass, WimsUser


def rows(dbsession, model):
    dbsession.expire_all()
    return dbsession.scalars(sa.select(model)).all()


@pytest.mark.usefixtures("server")
class TestClassLaunch:
    def test_a_teachers_first_launch_creates_the_class(self, testapp, wims, dbsession):
        response = teacher_launch(testapp)

        (wims_class,) = rows(dbsession, WimsClass)
        assert wims_class.state is ClassState.READY
        assert wims.class_ids() == [wims_class.qclass]
        defs = wims.class_defs(wims_class.qclass)
        assert defs["description"] == "Algèbre linéaire L1"
        assert defs["institution"] == "Université Exemple"
        assert defs["lang"] == "fr"
        assert defs["email"] == "noah.martin@example.edu"
        assert response.location.startswith(wims.url + "?session=")
        assert response.location.endswith("&lang=fr")
        assert wims.sessions[_session(response)][1] == "supervisor"
        assert [job for job, _ in wims.calls] == ["addclass", "authuser"]

    def test_a_student_then_gets_a_wims_login(self, testapp, wims, dbsession):
        teacher_launch(testapp)
        wims.reset_calls()

        response = launch(testapp)

        (student,) = [u for u in rows(dbsession, WimsUser) if not u.is_supervisor]
        assert student.quser == "cdurand"
        assert student.lms_user_id == "u-1001"
        qclass = rows(dbsession, WimsClass)[0].qclass
        assert wims.user_defs(qclass, "cdurand")["lastname"] == "Durand"
        assert wims.sessions[_session(response)][1] == "cdurand"
        assert [job for job, _ in wims.calls] == ["adduser", "authuser"]

    def test_a_warm_launch_costs_one_call(self, testapp, wims):
        teacher_launch(testapp)
        launch(testapp)
        wims.reset_calls()

        launch(testapp)
        teacher_launch(testapp)

        assert [job for job, _ in wims.calls] == ["authuser", "authuser"]

    def test_a_student_cannot_create_the_class(self, testapp, wims, dbsession):
        response = launch(testapp, status=403)

        assert "teacher has to open this activity" in response.text
        assert wims.count() == 0
        assert rows(dbsession, WimsClass) == []
        assert rows(dbsession, WimsUser) == []

    def test_a_students_refusal_goes_back_to_the_lms(self, testapp, wims):
        response = launch(testapp, launch_presentation_return_url=RETURN_URL)

        assert response.location.startswith(RETURN_URL + "&lti_errormsg=")
        query = parse_qs(urlsplit(response.location).query)
        assert "teacher" in query["lti_errormsg"][0]

    def test_two_courses_get_two_classes_and_one_course_one(self, testapp, wims):
        teacher_launch(testapp)
        teacher_launch(testapp, resource_link_id="rl-200")
        teacher_launch(testapp, context_id="ctx-43")

        assert len(wims.class_ids()) == 2

    def test_the_path_without_its_trailing_slash_is_the_same(self, testapp, wims):
        teacher_launch(testapp, "/lti/C1")
        launch(testapp, "/lti/C1")

        assert len(wims.class_ids()) == 1

    def test_homonyms_get_distinct_logins(self, testapp, wims, dbsession):
        teacher_launch(testapp)

        launch(
            testapp,
            user_id="u-1",
            lis_person_name_given="Jean",
            lis_person_name_family="Dupont",
            lis_person_name_full="Jean Dupont",
        )
        launch(
            testapp,
            user_id="u-2",
            lis_person_name_given="Julie",
            lis_person_name_family="Dupont",
            lis_person_name_full="Julie Dupont",
        )
        launch(
            testapp,
            user_id="u-2",
            lis_person_name_given="Julie",
            lis_person_name_family="Dupont",
            lis_person_name_full="Julie Dupont",
        )

        logins = {u.lms_user_id: u.quser for u in rows(dbsession, WimsUser)}
        assert logins["u-1"] == "jdupont"
        assert logins["u-2"] == "jdupont1"

    def test_a_login_taken_outside_the_gateway_is_skipped(
        self, testapp, wims, dbsession
    ):
        teacher_launch(testapp)
        qclass = wims.class_ids()[0]
        wims.add_user(qclass, "cdurand", lastname="Someone", firstname="Else")

        response = launch(testapp)

        assert wims.sessions[_session(response)][1] == "cdurand1"
        assert wims.user_defs(qclass, "cdurand")["lastname"] == "Someone"


def _session(response) -> str:
    return parse_qs(urlsplit(response.location).query)["session"][0].split(".")[0]


@pytest.mark.usefixtures("server")
class TestRoles:
    @pytest.mark.parametrize(
        "roles",
        [
            "urn:lti:role:ims/lis/Instructor",
            "urn:lti:role:ims/lis/Instructor,urn:lti:sysrole:ims/lis/Administrator",
            " Instructor , Learner ",
            "instructor",
            "urn:lti:role:ims/lis/ContentDeveloper",
            "Administrator",
            "urn:lti:role:ims/lis/Instructor/TeachingAssistant",
        ],
    )
    def test_teachers_in_every_shape_create_the_class(self, testapp, wims, roles):
        response = teacher_launch(testapp, roles=roles)

        assert wims.count("addclass") == 1
        assert wims.sessions[_session(response)][1] == "supervisor"

    @pytest.mark.parametrize(
        "roles",
        [
            "urn:lti:instrole:ims/lis/Administrator",
            "urn:lti:instrole:ims/lis/Instructor",
            "urn:non:ims/something/Else",
            "NotALearner",
            "Student",
            "urn:lti:role:ims/lis/Mentor",
        ],
    )
    def test_other_roles_are_learners(self, testapp, wims, roles):
        teacher_launch(testapp)

        response = launch(testapp, roles=roles)

        assert wims.sessions[_session(response)][1] == "cdurand"

    def test_a_learner_from_another_link_keeps_the_login(self, testapp, wims):
        teacher_launch(testapp)
        launch(testapp)

        launch(testapp, resource_link_id="rli-5678")

        assert wims.count("adduser") == 1

    def test_a_person_who_becomes_teacher_is_the_supervisor(self, testapp, wims):
        teacher_launch(testapp)
        launch(testapp)

        response = launch(testapp, roles="Instructor")

        assert wims.sessions[_session(response)][1] == "supervisor"


@pytest.mark.usefixtures("server")
class TestTeacherRolesSetting:
    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings, "wimslti.teacher_roles": "instructor administrator"}

    def test_a_teaching_assistant_launches_as_a_learner(self, testapp, wims):
        teacher_launch(testapp)

        response = launch(testapp, roles="TeachingAssistant", user_id="ta-1")

        assert wims.sessions[_session(response)][1] == "cdurand"
