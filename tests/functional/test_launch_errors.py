"""Errors a person can act on: bad parameters, WIMS failures, gone classes."""

from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from tests.functional.launching import launch, teacher_launch
from tests.lti_consumer import RETURN_URL
from wimslti.models import Activity, ClassState, WimsClass, WimsUser
from wimslti.services import LaunchService


def classes(dbsession):
    dbsession.expire_all()
    return dbsession.scalars(sa.select(WimsClass)).all()


def error_message(response):
    return parse_qs(urlsplit(response.location).query)["lti_errormsg"][0]


@pytest.mark.usefixtures("server")
class TestInvalidParameters:
    @pytest.mark.parametrize(
        ("removed", "named"),
        [
            ({"resource_link_id": None}, "resource_link_id"),
            ({"lti_version": None}, "lti_version"),
            ({"lti_version": "LTI-1"}, "lti_version"),
            ({"lti_version": "LTI-2p0"}, "lti_version"),
            ({"lti_message_type": None}, "lti_message_type"),
            ({"lti_message_type": "a-basic-lti-launch-request"}, "lti_message_type"),
            ({"user_id": None}, "user_id"),
            ({"context_id": None}, "context_id"),
        ],
    )
    def test_the_lms_is_told_which_parameter(self, testapp, wims, removed, named):
        response = teacher_launch(
            testapp, "/lti/C1/", removed, launch_presentation_return_url=RETURN_URL
        )

        assert response.location.startswith(RETURN_URL + "&")
        assert named in error_message(response)
        assert wims.count() == 0

    def test_without_return_url_a_page_lists_every_problem(
        self, testapp, wims, dbsession
    ):
        response = teacher_launch(
            testapp,
            resource_link_id=None,
            user_id=None,
            resourcelinkid="rli-1234",
            status=400,
        )

        assert "resource_link_id" in response.text
        assert "user_id" in response.text
        assert response.content_type == "text/html"
        assert classes(dbsession) == []

    def test_only_a_resource_link_id_is_a_friendly_error(self, testapp, wims):
        response = launch(
            testapp,
            user_id=None,
            roles=None,
            context_id=None,
            context_title=None,
            context_label=None,
            status=400,
        )

        for name in ("user_id", "roles", "context_id"):
            assert name in response.text

    @pytest.mark.parametrize(
        ("custom", "expected"),
        [
            ({"custom_class_expiration": "20190101"}, "custom_class_expiration"),
            ({"custom_class_expiration": "2030-01-01"}, "yyyymmdd"),
            ({"custom_class_limit": "1000"}, "from 5 to 500"),
            ({"custom_class_lang": "xx"}, "custom_class_lang"),
            ({"custom_class_email": "not-an-email"}, "custom_class_email"),
        ],
    )
    def test_a_bad_custom_value_creates_nothing(
        self, testapp, wims, dbsession, custom, expected
    ):
        response = teacher_launch(testapp, "/lti/C1/", custom, status=400)

        assert expected in response.text
        assert wims.count() == 0
        assert classes(dbsession) == []

    def test_a_fixed_custom_value_then_works(self, testapp, wims):
        teacher_launch(testapp, custom_class_limit="1000", status=400)

        teacher_launch(testapp, custom_class_limit="40")

        assert wims.class_defs(wims.class_ids()[0])["limit"] == "40"

    def test_a_doubled_custom_prefix_is_explained(self, testapp, wims):
        response = teacher_launch(
            testapp,
            custom_custom_class_lang="fr",
            custom_custom_class_limit="40",
            status=400,
        )

        assert "custom_custom_class_lang" in response.text
        assert "class_lang=" in response.text
        assert wims.count() == 0

    def test_custom_parameters_shape_the_class(self, testapp, wims):
        teacher_launch(
            testapp,
            custom_class_name="Analyse 2",
            custom_class_institution="IUT",
            custom_class_lang="es",
            custom_class_limit="60",
            custom_class_expiration="20270601",
            custom_class_level="U2",
            custom_supervisor_lastname="Curie",
            custom_supervisor_firstname="Marie",
        )

        defs = wims.class_defs(wims.class_ids()[0])
        assert defs["description"] == "Analyse 2"
        assert defs["institution"] == "IUT"
        assert defs["lang"] == "es"
        assert defs["limit"] == "60"
        assert defs["expiration"] == "20270601"
        assert defs["level"] == "U2"
        assert defs["supervisor"] == "Marie Curie"


@pytest.mark.usefixtures("server")
class TestPrivacy:
    NO_PERSON = {
        "lis_person_name_given": None,
        "lis_person_name_family": None,
        "lis_person_name_full": None,
        "lis_person_contact_email_primary": None,
    }

    def test_learners_without_names_get_distinct_logins(self, testapp, wims, dbsession):
        teacher_launch(testapp)

        launch(testapp, "/lti/C1/", self.NO_PERSON, user_id="u-1")
        launch(testapp, "/lti/C1/", self.NO_PERSON, user_id="u-2")

        dbsession.expire_all()
        logins = [u.quser for u in dbsession.scalars(sa.select(WimsUser)) if u.quser]
        assert len(set(logins)) == 2
        assert all(4 <= len(login) <= 24 for login in logins)

    def test_a_canvas_test_student_gets_in(self, testapp, wims):
        teacher_launch(testapp)

        launch(
            testapp,
            lis_person_contact_email_primary="",
            lis_person_name_given=None,
            lis_person_name_family=None,
            lis_person_name_full="Test Student",
            user_id="canvas-test",
        )

    def test_a_first_teacher_launch_without_email_says_what_to_share(
        self, testapp, wims
    ):
        response = teacher_launch(testapp, "/lti/C1/", self.NO_PERSON, status=400)

        assert "e-mail" in response.text
        assert "class_email" in response.text
        assert wims.count() == 0

    def test_a_teacher_without_email_may_give_one_as_custom_parameter(
        self, testapp, wims
    ):
        teacher_launch(
            testapp, "/lti/C1/", self.NO_PERSON, custom_class_email="prof@example.edu"
        )

        assert wims.class_defs(wims.class_ids()[0])["email"] == "prof@example.edu"

    def test_the_class_exists_then_no_email_is_needed(self, testapp, wims):
        teacher_launch(testapp)

        teacher_launch(testapp, "/lti/C1/", self.NO_PERSON, user_id="t-8")

    def test_names_outside_latin_1_are_sent_transliterated(
        self, testapp, wims, dbsession
    ):
        teacher_launch(testapp, context_title="Mathématiques – cœur du programme €")

        launch(
            testapp,
            lis_person_name_given="Łucja",
            lis_person_name_family="Øvergård",
            lis_person_name_full="Łucja Øvergård",
        )

        qclass = wims.class_ids()[0]
        assert wims.class_defs(qclass)["description"] == (
            "Mathématiques - coeur du programme EUR"
        )
        dbsession.expire_all()
        student = dbsession.scalars(
            sa.select(WimsUser).where(WimsUser.lms_user_id == "u-1001")
        ).one()
        assert student.quser == "lovergard"
        assert student.lastname == "Øvergård"
        assert wims.user_defs(qclass, "lovergard")["firstname"] == "Lucja"


@pytest.mark.usefixtures("server")
class TestWimsFailures:
    def test_a_wims_error_is_a_502_with_its_message(self, testapp, wims, dbsession):
        wims.fail_next("addclass", "error:incomplete data cl_email")

        response = teacher_launch(testapp, status=502)

        assert "incomplete data cl_email" in response.text
        assert classes(dbsession) == []

    def test_a_wims_timeout_is_a_504(self, testapp, wims):
        teacher_launch(testapp)
        wims.fail_next("authuser", "timeout")

        response = teacher_launch(testapp, status=504)

        assert "did not answer in time" in response.text

    def test_a_busy_wims_is_a_503(self, testapp, wims, dbsession):
        wims.fail_next("addclass", "busy")

        teacher_launch(testapp, status=503)

        assert classes(dbsession) == []

    def test_a_wims_that_is_down_is_a_503_then_recovers(self, testapp, wims, dbsession):
        teacher_launch(testapp)
        launch(testapp)
        wims.busy = True

        response = launch(testapp, status=503)

        assert "busy or cannot be reached" in response.text
        wims.busy = False
        launch(testapp)

    def test_a_wims_nobody_listens_to_is_a_503(self, testapp, dbsession, server):
        server.url = "http://127.0.0.1:9/wims/wims.cgi"
        dbsession.commit()

        teacher_launch(testapp, status=503)

        assert classes(dbsession) == []

    @pytest.mark.parametrize("kind", ["garbage", "html", "http500", "reset"])
    def test_garbage_from_wims_is_no_500(self, testapp, wims, dbsession, kind):
        wims.fail_next("addclass", kind)

        response = teacher_launch(testapp, status="*")

        assert response.status_int in (502, 503)
        assert classes(dbsession) == []

    def test_a_failed_adduser_leaves_no_login(self, testapp, wims, dbsession):
        teacher_launch(testapp)
        wims.fail_next("adduser", "error:missing data")

        launch(testapp, status=502)

        dbsession.expire_all()
        assert [u.quser for u in dbsession.scalars(sa.select(WimsUser))] == [None]

        launch(testapp)

    def test_addclass_answered_late_is_found_on_the_next_launch(
        self, testapp, wims, dbsession, monkeypatch
    ):
        # WIMS writes the class, then blocks rebuilding its index: the client
        # gives up, and the next launch must find the class, not add another.
        wims.latency["addclass"] = 3
        teacher_launch(testapp, status=504)
        (claimed,) = classes(dbsession)
        assert claimed.state is ClassState.CREATING
        wims.latency["addclass"] = 0
        claimed.claimed_at = claimed.claimed_at.replace(year=2000)
        dbsession.commit()

        teacher_launch(testapp)

        (wims_class,) = classes(dbsession)
        assert wims_class.state is ClassState.READY
        assert wims.class_ids() == [wims_class.qclass]

    def test_adduser_answered_late_is_found_on_the_next_launch(
        self, testapp, wims, dbsession
    ):
        teacher_launch(testapp)
        wims.latency["adduser"] = 3
        launch(testapp, status=504)
        dbsession.expire_all()
        student = dbsession.scalars(
            sa.select(WimsUser).where(WimsUser.lms_user_id == "u-1001")
        ).one()
        assert (student.quser, student.state) == ("cdurand", "creating")
        wims.latency["adduser"] = 0
        student.claimed_at = student.claimed_at.replace(year=2000)
        dbsession.commit()
        wims.reset_calls()

        launch(testapp)

        assert [job for job, _ in wims.calls] == ["getuser", "authuser"]
        dbsession.expire_all()
        assert dbsession.get(WimsUser, student.id).state == "ready"


@pytest.mark.usefixtures("server")
class TestClassGoneOnWims:
    def test_the_teacher_gets_a_new_class(self, testapp, wims, dbsession):
        teacher_launch(testapp)
        old = wims.class_ids()[0]
        wims.delete_class(old)

        teacher_launch(testapp)

        states = {c.qclass: c.state for c in classes(dbsession)}
        assert states[old] is ClassState.GONE
        (new,) = wims.class_ids()
        assert states[new] is ClassState.READY

    def test_a_student_is_told_to_wait_for_the_teacher(self, testapp, wims, dbsession):
        teacher_launch(testapp)
        launch(testapp)
        wims.delete_class(wims.class_ids()[0])

        response = launch(testapp, status=403)

        assert "no longer exists" in response.text
        assert classes(dbsession)[0].state is ClassState.GONE

    def test_a_sheet_link_of_a_gone_class_points_at_the_course_link(
        self, testapp, wims
    ):
        teacher_launch(testapp)
        qclass = wims.class_ids()[0]
        wims.add_sheet(qclass)
        teacher_launch(testapp, "/lti/C1/S1/")
        wims.delete_class(qclass)

        response = teacher_launch(testapp, "/lti/C1/S1/", status=404)

        assert "/lti/C1/" in response.text

    def test_a_participant_deleted_in_wims_is_recovered(self, testapp, wims):
        teacher_launch(testapp)
        launch(testapp)
        qclass = wims.class_ids()[0]
        wims.delete_user(qclass, "cdurand")

        launch(testapp)

        assert wims.user_defs(qclass, "cdurand") is not None
        assert wims.count("recuser") == 1


class TestOtherRequests:
    def test_a_get_explains_the_url_must_be_launched(self, server, testapp):
        response = testapp.get("/lti/C1/", status=405)

        assert "launched from an LMS" in response.text
        assert response.headers["Allow"] == "POST"

    def test_a_get_without_trailing_slash_is_spotted(self, server, testapp):
        response = testapp.get("/lti/C1", status=405)

        assert "trailing slash" in response.text
        assert "https://lti.example.org/lti/C1/" in response.text

    def test_an_unknown_server_is_not_found(self, server, testapp):
        response = launch(testapp, "/lti/C99/", status=404)

        assert "no WIMS server" in response.text

    @pytest.mark.parametrize("path", ["/lti/Cx/", "/lti/C1/S1/E2/", "/lti/C1/X3/"])
    def test_malformed_launch_urls_are_not_found(self, server, testapp, path):
        launch(testapp, path, status=404)

    def test_a_body_that_is_not_utf8_is_no_500(self, server, testapp, wims):
        response = testapp.post(
            "/lti/C1/",
            b"user_id=%ff%fe&roles=Learner&oauth_consumer_key=%e9",
            content_type="application/x-www-form-urlencoded",
            status="*",
        )

        assert response.status_int in (400, 403)
        assert wims.count() == 0


@pytest.mark.usefixtures("server")
class TestDatabaseHiccup:
    def test_a_transient_database_error_replays_the_launch(
        self, testapp, wims, monkeypatch
    ):
        real_launch = LaunchService.launch
        failures = []

        def flaky_launch(self, *args, **kwargs):
            if not failures:
                failures.append(1)
                raise sa.exc.OperationalError("SELECT 1", {}, Exception("db lost"))
            return real_launch(self, *args, **kwargs)

        monkeypatch.setattr(LaunchService, "launch", flaky_launch)

        teacher_launch(testapp)

        assert failures == [1]
        assert wims.count("addclass") == 1

    def test_a_database_down_for_good_is_a_page_not_a_traceback(
        self, testapp, wims, monkeypatch
    ):
        def broken_launch(self, *args, **kwargs):
            raise sa.exc.OperationalError("SELECT 1", {}, Exception("db lost"))

        monkeypatch.setattr(LaunchService, "launch", broken_launch)

        response = teacher_launch(testapp, status=500)

        assert "Traceback" not in response.text
        assert "Reference for the administrator" in response.text


@pytest.mark.usefixtures("server")
class TestWhatPeopleAreTold:
    def test_a_return_url_with_a_fragment_keeps_the_message_in_its_query(
        self, testapp, wims
    ):
        response = launch(
            testapp, launch_presentation_return_url="https://lms.example.edu/r?x=1#top"
        )

        assert response.location.startswith(
            "https://lms.example.edu/r?x=1&lti_errormsg="
        )
        assert response.location.endswith("#top")

    def test_an_oversized_return_url_gets_the_page_instead(self, testapp, wims):
        huge = "https://lms.example.edu/r?" + "x" * 5000

        response = launch(testapp, launch_presentation_return_url=huge, status=403)

        assert "teacher has to open" in response.text

    def test_a_teacher_is_told_how_to_fix_a_missing_sheet(self, testapp, wims):
        teacher_launch(testapp)

        response = teacher_launch(testapp, "/lti/C1/S9/", status=404)

        assert "create it in WIMS" in response.text
        assert "Ask your teacher" not in response.text

    def test_a_wims_refusing_the_gateway_says_whom_to_tell(
        self, testapp, wims, server, dbsession
    ):
        server.passwd = "not-the-password"
        dbsession.commit()

        response = teacher_launch(testapp, status=502)

        assert "the WIMS connection file" in response.text
        assert "not-the-password" not in response.text

    def test_a_student_on_a_sheet_of_a_gone_class_hears_it_is_gone(self, testapp, wims):
        teacher_launch(testapp)
        qclass = wims.class_ids()[0]
        wims.add_sheet(qclass)
        launch(testapp, "/lti/C1/S1/")
        wims.delete_class(qclass)
        launch(testapp, status=403)

        response = launch(testapp, "/lti/C1/S1/", status=403)

        assert "no longer exists" in response.text

    def test_a_nameless_teacher_is_no_student(self, testapp, wims, dbsession):
        teacher_launch(
            testapp,
            lis_person_name_given=None,
            lis_person_name_family=None,
            lis_person_name_full=None,
            lis_person_contact_email_primary=None,
            custom_class_email="prof@example.edu",
        )

        defs = wims.class_defs(wims.class_ids()[0])
        assert defs["supervisor"].startswith("Teacher ")

    def test_the_sheet_title_is_kept(self, testapp, wims, dbsession):
        teacher_launch(testapp)
        wims.add_sheet(wims.class_ids()[0], title="Feuille 1")

        launch(testapp, "/lti/C1/S1/")

        dbsession.expire_all()
        assert dbsession.scalars(sa.select(Activity.title)).one() == "Feuille 1"
