"""The class page of teachers: worksheets, exams and their launch URLs."""

from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
import webtest

from tests.functional.conftest import PUBLIC_HOST
from tests.functional.launching import launch, teacher_launch
from tests.functional.test_admin import log_in, make_admin, text_of
from tests.lti_consumer import RETURN_URL
from wimslti.models import WimsClass, WimsServer
from wimslti.services.class_links import TEACHER_COOKIE

PAGE = "/lti/C1/classes/{}/"


def the_class(dbsession, context_id="ctx-42"):
    dbsession.expire_all()
    return dbsession.scalars(
        sa.select(WimsClass).where(WimsClass.context_id == context_id)
    ).one()


def pass_cookie(response):
    """Return the teacher pass the response sets, as a Morsel, or None."""
    for header in response.headers.getall("Set-Cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        if TEACHER_COOKIE in cookie:
            return cookie[TEACHER_COOKIE]
    return None


def items(page, kind):
    """Return (number, title, state, URL, grades) of each row of ``kind``."""
    return [
        (
            *(cell.get_text(" ", strip=True) for cell in row.find_all("td")[:3]),
            row.select_one("input.url")["value"],
            row.select_one("td.grades").get_text(" ", strip=True),
        )
        for row in page.html.select(f"table.{kind}s tr.item")
    ]


def browser(app):
    return webtest.TestApp(
        app, extra_environ={"HTTP_HOST": PUBLIC_HOST, "wsgi.url_scheme": "https"}
    )


@pytest.fixture
def school(testapp, wims, dbsession):
    """A class made by a teacher's launch, with two sheets and an exam."""
    teacher_launch(testapp)
    wims_class = the_class(dbsession)
    wims.add_sheet(wims_class.qclass, title="Vecteurs", status=1)
    wims.add_sheet(wims_class.qclass, title="Matrices", status=0)
    wims.add_exam(wims_class.qclass, title="Partiel", status=3)
    wims.reset_calls()
    return wims_class


@pytest.mark.usefixtures("server")
class TestTheTeacherLaunch:
    def test_a_warm_class_launch_still_costs_one_call_and_goes_to_wims(
        self, testapp, wims
    ):
        teacher_launch(testapp)
        wims.reset_calls()

        response = teacher_launch(testapp)

        assert response.status_int == 302
        assert response.location.startswith(wims.url + "?session=")
        assert [job for job, _ in wims.calls] == ["authuser"]
        assert pass_cookie(response) is not None

    def test_the_pass_is_scoped_to_the_class_page_and_fit_for_an_iframe(
        self, testapp, dbsession
    ):
        response = teacher_launch(testapp)

        cookie = pass_cookie(response)
        assert cookie["path"] == f"/lti/C1/classes/{the_class(dbsession).id}"
        assert cookie["httponly"]
        assert cookie["secure"]
        assert cookie["samesite"] == "None"
        assert int(cookie["max-age"]) == 2 * 3600

    def test_over_plain_http_the_pass_is_lax_and_not_secure(self, app, server):
        plain = webtest.TestApp(app, extra_environ={"HTTP_HOST": PUBLIC_HOST})

        response = teacher_launch(plain, url=f"http://{PUBLIC_HOST}/lti/C1/")

        cookie = pass_cookie(response)
        assert not cookie["secure"]
        assert cookie["samesite"] == "Lax"

    def test_a_student_launch_gives_no_pass(self, testapp):
        teacher_launch(testapp)
        student = browser(testapp.app)

        response = launch(student)

        assert pass_cookie(response) is None


@pytest.mark.usefixtures("server")
class TestTheClassPage:
    def test_it_lists_worksheets_and_exams_with_state_and_launch_url(
        self, testapp, school, wims
    ):
        page = testapp.get(PAGE.format(school.id))

        assert items(page, "sheet") == [
            (
                "1",
                "Vecteurs",
                "open to students",
                f"https://{PUBLIC_HOST}/lti/C1/S1/",
                "none yet",
            ),
            (
                "2",
                "Matrices",
                "in preparation",
                f"https://{PUBLIC_HOST}/lti/C1/S2/",
                "none yet",
            ),
        ]
        assert items(page, "exam") == [
            (
                "1",
                "Partiel",
                "hidden from students",
                f"https://{PUBLIC_HOST}/lti/C1/E1/",
                "none yet",
            )
        ]
        assert page.html.select_one("#class-url")["value"] == (
            f"https://{PUBLIC_HOST}/lti/C1/"
        )
        assert page.headers["Cache-Control"] == "no-store"

    def test_it_asks_wims_only_when_opened(self, testapp, school, wims):
        testapp.get(PAGE.format(school.id))

        assert sorted(job for job, _ in wims.calls) == ["listexams", "listsheets"]

    def test_it_tells_which_items_send_grades(self, testapp, school):
        student = browser(testapp.app)
        launch(student, "/lti/C1/S1/")
        launch(student, "/lti/C1/S1/", user_id="u-1002", lis_person_name_given="Léa")

        page = testapp.get(PAGE.format(school.id))

        grades = [row[4] for row in items(page, "sheet")]
        assert grades == ["for 2 students", "none yet"]

    def test_a_class_without_items_says_so(self, testapp, dbsession):
        teacher_launch(testapp)

        page = testapp.get(PAGE.format(the_class(dbsession).id))

        assert "The class has no worksheet yet" in text_of(page)
        assert "The class has no exam yet." in text_of(page)

    def test_a_wims_failure_is_told_on_the_page(self, testapp, school, wims):
        wims.fail_next("listsheets", "busy")

        page = testapp.get(PAGE.format(school.id))

        assert "WIMS could not list the worksheets and exams" in text_of(page)
        assert "Vecteurs" not in page.text

    def test_a_class_wims_lost_is_told_on_the_page(self, testapp, school, wims):
        wims.delete_class(school.qclass)

        page = testapp.get(PAGE.format(school.id))

        assert "WIMS no longer has this class." in text_of(page)


@pytest.mark.usefixtures("server")
class TestWhoMaySeeIt:
    def test_an_anonymous_visitor_is_refused_and_wims_is_not_asked(
        self, app, school, wims
    ):
        response = browser(app).get(PAGE.format(school.id), status=403)

        assert "This page is for the teachers of the course" in text_of(response)
        assert f"https://{PUBLIC_HOST}/lti/C1/links/" in response.text
        for hidden in ("Vecteurs", school.qclass, school.name):
            assert hidden not in response.text
        assert wims.count() == 0

    def test_a_student_is_refused(self, app, school):
        student = browser(app)
        launch(student)

        student.get(PAGE.format(school.id), status=403)

    def test_the_pass_of_one_class_does_not_open_another(
        self, testapp, school, dbsession
    ):
        other = teacher_launch(testapp, context_id="ctx-43")
        value = pass_cookie(other).value
        visitor = browser(testapp.app)

        visitor.get(
            PAGE.format(school.id),
            headers={"Cookie": f"{TEACHER_COOKIE}={value}"},
            status=403,
        )
        visitor.get(
            PAGE.format(the_class(dbsession, "ctx-43").id),
            headers={"Cookie": f"{TEACHER_COOKIE}={value}"},
            status=200,
        )

    def test_a_forged_pass_is_refused(self, testapp, app, school):
        value = pass_cookie(teacher_launch(testapp)).value
        forged = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")

        browser(app).get(
            PAGE.format(school.id),
            headers={"Cookie": f"{TEACHER_COOKIE}={forged}"},
            status=403,
        )

    def test_an_admin_sees_it_too(self, app, school, session_factory):
        make_admin(session_factory)
        admin = webtest.TestApp(
            app,
            extra_environ={
                "HTTP_HOST": PUBLIC_HOST,
                "wsgi.url_scheme": "https",
                "HTTP_ORIGIN": f"https://{PUBLIC_HOST}",
            },
        )
        log_in(admin)

        page = admin.get(PAGE.format(school.id))

        assert [row[1] for row in items(page, "sheet")] == ["Vecteurs", "Matrices"]

    def test_no_page_lists_the_classes(self, app, school):
        visitor = browser(app)

        visitor.get("/lti/C1/classes/", status=404)
        visitor.get("/lti/C1/classes/999/", status=404)

    def test_a_class_is_found_under_its_own_server_only(
        self, app, school, dbsession, lms
    ):
        dbsession.add(
            WimsServer(
                id=2,
                name="WIMS 2",
                url="http://127.0.0.1:9/wims.cgi",
                ident="wimslti",
                passwd="passwd-2",
                rclass="myclass",
                allowed_lms=[lms],
            )
        )
        dbsession.commit()

        browser(app).get(f"/lti/C2/classes/{school.id}/", status=404)


@pytest.mark.usefixtures("server")
class TestTheLinksLaunch:
    def test_it_shows_the_page_instead_of_entering_wims(self, testapp, school, wims):
        response = teacher_launch(testapp, "/lti/C1/links/", status=200)

        assert [row[1] for row in items(response, "sheet")] == ["Vecteurs", "Matrices"]
        assert sorted(job for job, _ in wims.calls) == ["listexams", "listsheets"]
        assert pass_cookie(response) is not None
        assert f"https://{PUBLIC_HOST}{PAGE.format(school.id)}" in response.text

    def test_its_pass_opens_the_page_afterwards(self, app, school):
        teacher = browser(app)
        teacher_launch(teacher, "/lti/C1/links/", status=200)

        page = teacher.get(PAGE.format(school.id))

        assert [row[1] for row in items(page, "exam")] == ["Partiel"]

    def test_a_student_is_refused(self, testapp, school, wims):
        response = launch(testapp, "/lti/C1/links/", status=403)

        assert "for the teachers of the course" in text_of(response)
        assert "Vecteurs" not in response.text
        assert pass_cookie(response) is None
        assert wims.count() == 0

    def test_a_students_refusal_goes_back_to_the_lms(self, testapp, school):
        response = launch(
            testapp, "/lti/C1/links/", launch_presentation_return_url=RETURN_URL
        )

        query = parse_qs(urlsplit(response.location).query)
        assert "for the teachers of the course" in query["lti_errormsg"][0]

    def test_before_the_class_exists_it_says_what_to_do(self, testapp, wims):
        response = teacher_launch(testapp, "/lti/C1/links/", status=404)

        assert "does not exist yet" in text_of(response)
        assert "/lti/C1/" in text_of(response)
        assert wims.count() == 0

    def test_it_is_a_signed_launch(self, testapp, school):
        teacher_launch(testapp, "/lti/C1/links/", secret="wrong", status=403)

    def test_a_get_tells_how_to_launch_it(self, testapp):
        page = testapp.get("/lti/C1/links/", status=405)

        assert f"https://{PUBLIC_HOST}/lti/C1/links/" in page.text


@pytest.mark.usefixtures("server")
class TestTheAdminClassPage:
    def test_it_shows_the_same_list(self, app, school, session_factory):
        make_admin(session_factory)
        admin = webtest.TestApp(
            app,
            extra_environ={
                "HTTP_HOST": PUBLIC_HOST,
                "wsgi.url_scheme": "https",
                "HTTP_ORIGIN": f"https://{PUBLIC_HOST}",
            },
        )
        log_in(admin)

        page = admin.get(f"/admin/classes/{school.id}/")

        assert items(page, "sheet")[0] == (
            "1",
            "Vecteurs",
            "open to students",
            f"https://{PUBLIC_HOST}/lti/C1/S1/",
            "none yet",
        )
        assert [row[1] for row in items(page, "exam")] == ["Partiel"]
