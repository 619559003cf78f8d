"""The admin's doors: login, logout, sessions, CSRF and ACL refusals.

The helpers at the top are shared by the other ``test_admin_*`` modules.
"""

import re

import pytest
import sqlalchemy as sa
import webtest

from tests.functional.conftest import PUBLIC_HOST
from wimslti.models import (
    Activity,
    ActivityKind,
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
from wimslti.models.config_reload import ConfigReload
from wimslti.services.admin_user import AdminUserService

ORIGIN = f"https://{PUBLIC_HOST}"
LOGIN = "alice"
PASSWORD = "correct horse battery staple"
FORM = "admin-form"


def make_admin(session_factory, login=LOGIN, password=PASSWORD):
    with committed_session(session_factory) as session:
        AdminUserService(session).create(login, password)


def browser(app, origin=ORIGIN):
    """Return a WebTest client that sends what a browser sends on this site."""
    return webtest.TestApp(
        app,
        extra_environ={
            "HTTP_HOST": PUBLIC_HOST,
            "wsgi.url_scheme": "https",
            "HTTP_ORIGIN": origin,
        },
    )


def log_in(client, login=LOGIN, password=PASSWORD, path="/login"):
    """Fill in and send the login form; return the answer."""
    form = client.get(path).forms[FORM]
    form["login"] = login
    form["password"] = password
    return form.submit("log_in")


def is_logged_in(client):
    return client.get("/admin/").status_int == 200


def rows(session_factory, model):
    """Return every row of ``model``, with their relationships loaded."""
    query = sa.select(model).order_by(model.id).options(sa.orm.selectinload("*"))
    with session_factory() as session:
        return session.scalars(query).all()


def csrf_token(client):
    page = client.get("/admin/config/")
    return page.html.find("input", {"name": "csrf_token"})["value"]


def text_of(response):
    """Return the visible text of a page, one space between words."""
    text = " ".join(response.html.get_text(" ").split())
    # No space before punctuation that follows an inline element.
    return re.sub(r" ([,.;:)])", r"\1", text).replace("( ", "(")


@pytest.fixture
def admin(session_factory):
    make_admin(session_factory)


@pytest.fixture
def client(app):
    return browser(app)


@pytest.fixture
def logged_in(client, admin):
    log_in(client)
    return client


ADMIN_PAGES = [
    "/admin/",
    "/admin",
    "/admin/lms/",
    "/admin/lms/add",
    "/admin/wims/",
    "/admin/wims/add",
    "/admin/classes/",
    "/admin/config/",
    "/admin/account/",
]


class TestAnonymous:
    @pytest.mark.parametrize("path", ADMIN_PAGES)
    def test_admin_pages_send_to_the_login_page(self, client, path):
        response = client.get(path, status=302)

        assert response.location.startswith(f"{ORIGIN}/login?came_from=%2Fadmin")
        assert "Dashboard" not in response.text

    def test_a_record_page_tells_nothing(self, client, session_factory):
        with committed_session(session_factory) as session:
            session.add(Lms(key="moodle-a", secret="s3cr3t-xyz", name="Moodle A"))

        response = client.get("/admin/lms/1/", status=302)

        assert "Moodle A" not in response.text
        assert "/login" in response.location

    def test_a_post_does_nothing(self, client, tmp_path, session_factory):
        response = client.post("/admin/config/reload", {"csrf_token": "x"}, status=302)
        client.post("/admin/lms/add", {"key": "k", "name": "n"}, status=302)

        assert response.location == f"{ORIGIN}/login"

        assert rows(session_factory, ConfigReload) == []
        assert rows(session_factory, Lms) == []


@pytest.mark.usefixtures("admin")
class TestLogin:
    def test_it_brings_back_to_the_page_asked_for(self, client):
        page = client.get("/admin/wims/").follow()
        form = page.forms[FORM]
        form["login"] = LOGIN
        form["password"] = PASSWORD

        response = form.submit("log_in", status=302)

        assert response.location == f"{ORIGIN}/admin/wims/"
        assert "WIMS servers" in response.follow().text

    def test_it_goes_to_the_dashboard_by_default(self, client):
        response = log_in(client)

        assert response.location == f"{ORIGIN}/admin/"

    @pytest.mark.parametrize(
        "came_from",
        ["https://evil.example/", "//evil.example/admin/", "javascript:alert(1)"],
    )
    def test_it_never_sends_to_another_site(self, client, came_from):
        response = log_in(client, path=f"/login?came_from={came_from}")

        assert response.location == f"{ORIGIN}/admin/"

    @pytest.mark.parametrize(
        ("login", "password"),
        [(LOGIN, "wrong password, long enough"), ("bob", PASSWORD)],
    )
    def test_a_wrong_login_or_password_is_refused(self, client, login, password):
        response = log_in(client, login, password)

        assert response.status_int == 200
        assert "Wrong login or password." in text_of(response)
        assert not is_logged_in(client)

    def test_an_empty_password_is_refused_on_its_field(self, client):
        response = log_in(client, LOGIN, "")

        error = response.html.find("p", class_="invalid-feedback")
        assert error.get_text(strip=True) == "Required"
        assert not is_logged_in(client)

    def test_the_password_is_not_shown_back(self, client):
        response = log_in(client, LOGIN, "wrong password, long enough")

        assert "wrong password, long enough" not in response.text
        assert response.forms[FORM]["login"].value == LOGIN

    def test_logging_in_renews_the_session(self, client):
        before = csrf_token_of_login(client)

        log_in(client)

        assert csrf_token(client) != before

    def test_the_session_cookie_is_protected(self, client):
        response = log_in(client)

        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("wimslti_session=")
        assert "HttpOnly" in cookie
        assert "secure" in cookie.lower()
        assert "SameSite=Lax" in cookie

    def test_an_admin_is_sent_on_from_the_login_page(self, client):
        log_in(client)

        assert client.get("/login", status=302).location == f"{ORIGIN}/admin/"


def csrf_token_of_login(client):
    return client.get("/login").forms[FORM]["csrf_token"].value


class TestLogout:
    def test_it_ends_the_session(self, logged_in):
        page = logged_in.get("/admin/")
        (logout,) = [f for f in page.forms.values() if f.action.endswith("/logout")]

        response = logout.submit(status=302)

        assert response.location == f"{ORIGIN}/login"
        assert logged_in.get("/admin/", status=302)

    def test_the_logout_page_asks_first(self, logged_in):
        page = logged_in.get("/logout")

        page.forms[0].submit(status=302)

        assert not is_logged_in(logged_in)

    def test_a_logout_from_another_site_is_refused(self, logged_in):
        logged_in.post("/logout", {"csrf_token": "forged"}, status=400)

        assert is_logged_in(logged_in)


class TestCsrf:
    def test_a_form_without_its_token_is_refused(self, logged_in, session_factory):
        response = logged_in.post(
            "/admin/lms/add",
            {"key": "moodle-a", "secret": "s3cr3t", "name": "A", "save": "save"},
            status=400,
        )

        assert "Form refused" in response.text
        assert rows(session_factory, Lms) == []

    def test_a_forged_token_is_refused(self, logged_in, session_factory):
        logged_in.post("/admin/config/reload", {"csrf_token": "0" * 40}, status=400)

        assert rows(session_factory, ConfigReload) == []

    def test_a_valid_token_from_another_origin_is_refused(
        self, app, logged_in, session_factory
    ):
        token = csrf_token(logged_in)
        logged_in.extra_environ["HTTP_ORIGIN"] = "https://evil.example"

        logged_in.post("/admin/config/reload", {"csrf_token": token}, status=400)

        assert rows(session_factory, ConfigReload) == []

    def test_the_login_form_needs_its_token(self, client, admin):
        client.post(
            "/login", {"login": LOGIN, "password": PASSWORD, "log_in": ""}, status=400
        )

        assert not is_logged_in(client)

    def test_the_token_comes_with_every_admin_form(self, logged_in):
        token = csrf_token(logged_in)
        for path in ("/admin/lms/add", "/admin/wims/add", "/admin/account/"):
            assert logged_in.get(path).forms[FORM]["csrf_token"].value == token


class TestPasswords:
    def test_a_new_password_ends_the_other_sessions(
        self, app, logged_in, session_factory
    ):
        other = browser(app)
        log_in(other)
        with committed_session(session_factory) as session:
            AdminUserService(session).set_password(LOGIN, "another good password")

        assert not is_logged_in(other)
        assert not is_logged_in(logged_in)
        log_in(other, password="another good password")
        assert is_logged_in(other)

    def test_an_admin_changes_their_password(self, app, logged_in):
        other = browser(app)
        log_in(other)
        form = logged_in.get("/admin/account/").forms[FORM]
        form["current_password"] = PASSWORD
        form["new_password"] = "a brand new password"
        form["new_password-confirm"] = "a brand new password"

        response = form.submit("save", status=302).follow()

        assert "Changed your password" in response.text
        assert is_logged_in(logged_in)
        assert not is_logged_in(other)
        assert log_in(other).status_int == 200
        assert log_in(other, password="a brand new password").status_int == 302

    def test_the_current_password_is_checked_on_its_field(self, logged_in):
        form = logged_in.get("/admin/account/").forms[FORM]
        form["current_password"] = "not my password at all"
        form["new_password"] = "a brand new password"
        form["new_password-confirm"] = "a brand new password"

        response = form.submit("save", status=200)

        error = response.html.find("p", class_="invalid-feedback")
        assert error.get_text(strip=True) == "is wrong: nothing was changed"
        assert (
            error["id"]
            == "error-"
            + response.html.find("input", {"name": "current_password"})["id"]
        )
        assert is_logged_in(logged_in)

    def test_a_short_new_password_is_refused_on_its_field(self, logged_in):
        form = logged_in.get("/admin/account/").forms[FORM]
        form["current_password"] = PASSWORD
        form["new_password"] = "short"
        form["new_password-confirm"] = "short"

        response = form.submit("save", status=200)

        assert "must be at least 12 characters long" in response.text


@pytest.fixture
def yaml_lms(session_factory):
    with committed_session(session_factory) as session:
        session.add(
            Lms(
                key="moodle-y",
                secret="yaml-secret-123",
                name="Moodle YAML",
                source="yaml",
                source_file="lms.yaml",
            )
        )


class TestAcl:
    @pytest.mark.usefixtures("yaml_lms")
    @pytest.mark.parametrize(
        ("method", "path"),
        [("get", "/admin/lms/1/edit"), ("get", "/admin/lms/1/retire")],
    )
    def test_a_yaml_record_cannot_be_changed(self, logged_in, method, path):
        response = getattr(logged_in, method)(path, status=403)

        assert "declared in lms.yaml" in text_of(response)

    @pytest.mark.usefixtures("yaml_lms")
    def test_a_yaml_record_cannot_be_retired_by_post(self, logged_in, session_factory):
        token = csrf_token(logged_in)

        logged_in.post("/admin/lms/1/retire", {"csrf_token": token}, status=403)
        logged_in.post("/admin/lms/1/restore", {"csrf_token": token}, status=403)

        assert rows(session_factory, Lms)[0].retired_at is None

    def test_a_retired_record_cannot_be_edited(self, logged_in, session_factory):
        with committed_session(session_factory) as session:
            session.add(
                Lms(key="moodle-r", secret="s", name="Old", retired_at=utcnow())
            )

        response = logged_in.get("/admin/lms/1/edit", status=403)

        assert "retired" in text_of(response)

    def test_an_unknown_record_is_not_found(self, logged_in):
        logged_in.get("/admin/lms/99/", status=404)
        logged_in.get("/admin/wims/x/", status=404)
        logged_in.get("/admin/nothing/", status=404)


@pytest.fixture
def a_class(session_factory):
    """Make a class with a teacher, a student, a sheet and two grade links."""
    with committed_session(session_factory) as session:
        lms = Lms(key="moodle-a", secret="lms-secret-abc", name="Moodle A")
        server = WimsServer(
            id=1,
            name="WIMS A",
            url="http://127.0.0.1:7777/wims/wims.cgi",
            ident="wimslti",
            passwd="wims-passwd-abc",
            rclass="myclass",
            allowed_lms=[lms],
        )
        wims_class = WimsClass(
            lms=lms,
            context_id="course-42",
            wims_server=server,
            qclass="1234567",
            state=ClassState.READY,
            name="Algèbre L1",
            class_password="class-pw-abc",
            supervisor_password="super-pw-abc",
        )
        teacher = WimsUser(wims_class=wims_class, lms_user_id="t-1", is_supervisor=True)
        student = WimsUser(
            wims_class=wims_class,
            lms_user_id="u-1001",
            quser="cdurand",
            firstname="Camille",
            lastname="Durand",
        )
        sheet = Activity(
            wims_class=wims_class, kind=ActivityKind.SHEET, qitem=2, title="Sheet 2"
        )
        session.add_all([teacher, student, sheet])
        session.add(
            GradeLink(
                user=student,
                activity=sheet,
                sourcedid="sid-1",
                outcome_url="https://moodle.example.edu/outcomes",
                last_score_sent=0.75,
                last_sent_at=utcnow(),
                last_attempt_at=utcnow(),
                attempts=0,
                last_outcome="success",
            )
        )
        session.add(
            GradeLink(
                user=teacher,
                activity=sheet,
                sourcedid="sid-2",
                outcome_url="https://moodle.example.edu/outcomes",
                pending_score=0.5,
                attempts=2,
                last_outcome="failure",
                last_error="HTTP 503 from the LMS",
            )
        )


class TestRunningTheService:
    def test_the_dashboard_counts_what_the_gateway_serves(self, logged_in, a_class):
        text = text_of(logged_in.get("/admin/"))

        assert re.search(r"LMSs 1 active", text)
        assert re.search(r"WIMS servers 1 active", text)
        assert re.search(r"Classes 1 ready", text)
        assert re.search(r"Users 2 in the classes; 1 worksheets and exams", text)
        assert re.search(r"sent 1 ", text)
        assert re.search(r"retrying 1 ", text)
        assert "No worker pass yet" in text

    def test_the_dashboard_shows_the_last_worker_pass(self, logged_in, session_factory):
        with committed_session(session_factory) as session:
            session.add(
                WorkerPass(
                    worker="host:1:a", full=True, finished_at=utcnow(), grades_sent=7
                )
            )

        text = text_of(logged_in.get("/admin/"))

        assert "Last pass (full) by host:1:a" in text
        assert "7 grades sent" in text

    def test_a_class_page_shows_users_activities_and_grade_links(
        self, logged_in, a_class
    ):
        listing = logged_in.get("/admin/classes/")
        page = listing.click("1234567")
        text = text_of(page)

        assert "Class 1234567: Algèbre L1" in text
        assert "cdurand Camille Durand participant" in text
        assert "sheet 2 Sheet 2" in text
        assert "success" in text
        assert "retrying" in text
        assert "failure: HTTP 503 from the LMS" in text

    def test_no_secret_is_ever_shown(self, logged_in, a_class):
        pages = [
            "/admin/",
            "/admin/lms/",
            "/admin/lms/1/",
            "/admin/lms/1/edit",
            "/admin/lms/1/retire",
            "/admin/wims/",
            "/admin/wims/1/",
            "/admin/wims/1/edit",
            "/admin/classes/",
            "/admin/classes/1/",
            "/admin/config/",
        ]
        for path in pages:
            body = logged_in.get(path).text
            for secret in (
                "lms-secret-abc",
                "wims-passwd-abc",
                "class-pw-abc",
                "super-pw-abc",
                PASSWORD,
            ):
                assert secret not in body, (path, secret)
