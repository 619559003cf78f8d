"""The LMS and WIMS server forms: add, edit, retire, restore, test connection."""

import logging

import pytest

from tests.doubles.wims import WimsDouble
from tests.functional.test_admin import (
    FORM,
    browser,
    csrf_token,
    log_in,
    make_admin,
    rows,
    text_of,
)
from wimslti.models import Lms, WimsClass, WimsServer, committed_session, utcnow

WIMS_URL = "http://127.0.0.1:7777/wims/wims.cgi"


@pytest.fixture
def logged_in(app, session_factory):
    make_admin(session_factory)
    client = browser(app)
    log_in(client)
    return client


def errors_of(response):
    """Map each field name to the error shown under it."""
    found = {}
    for error in response.html.find_all("p", class_="invalid-feedback"):
        field_id = error["id"].removeprefix("error-")
        control = response.html.find(id=field_id)
        found[control["name"]] = error.get_text(strip=True)
    return found


def form_of(page, action):
    """Return the form of ``page`` that posts to an URL ending in ``action``."""
    (form,) = [f for f in page.forms.values() if f.action.endswith(action)]
    return form


def help_of(response, name):
    control = response.html.find(attrs={"name": name})
    return response.html.find(id=f"help-{control['id']}").get_text(" ", strip=True)


def add_lms(client, **values):
    form = client.get("/admin/lms/add").forms[FORM]
    fields = {
        "key": "moodle-a",
        "secret": "lms-secret-abc",
        "name": "Moodle A",
        "guid": "moodle.example.edu",
        "url": "https://moodle.example.edu/",
        **values,
    }
    for name, value in fields.items():
        form[name] = value
    return form.submit("save")


def add_wims(client, **values):
    form = client.get("/admin/wims/add").forms[FORM]
    fields = {
        "name": "WIMS A",
        "url": WIMS_URL,
        "ident": "wimslti",
        "passwd": "wims-passwd-abc",
        "rclass": "myclass",
        "allowed_lms": ["moodle-a"],
        **values,
    }
    for name, value in fields.items():
        form[name] = value
    return form.submit("save")


@pytest.fixture
def admin_lms(session_factory):
    with committed_session(session_factory) as session:
        session.add(
            Lms(
                key="moodle-a",
                secret="lms-secret-abc",
                name="Moodle A",
                guid="moodle.example.edu",
            )
        )


class TestLmsForms:
    def test_an_lms_is_added(self, logged_in, session_factory):
        response = add_lms(logged_in)

        assert response.status_int == 302
        (lms,) = rows(session_factory, Lms)
        assert (lms.key, lms.secret, lms.name, lms.guid) == (
            "moodle-a",
            "lms-secret-abc",
            "Moodle A",
            "moodle.example.edu",
        )
        assert (lms.source, lms.source_file) == ("admin", None)
        page = response.follow()
        assert response.location.endswith(f"/admin/lms/{lms.id}")
        assert "Added the LMS Moodle A." in page.text
        assert "lms-secret-abc" not in page.text

    def test_the_help_speaks_to_a_moodle_administrator(self, logged_in):
        page = logged_in.get("/admin/lms/add")

        assert "tool_consumer_instance_guid" in help_of(page, "guid")
        assert "Consumer key" in help_of(page, "key")
        assert "Shared secret" in help_of(page, "secret")
        assert page.forms[FORM]["secret"].attrs["type"] == "password"

    def test_errors_appear_on_their_fields(self, logged_in, session_factory):
        response = add_lms(logged_in, name="", url="ftp://moodle.example.edu/")

        assert response.status_int == 200
        assert errors_of(response) == {
            "name": "Required",
            "url": "must be an http:// or https:// URL",
        }
        assert rows(session_factory, Lms) == []
        assert "lms-secret-abc" not in response.text

    def test_a_key_can_be_used_once(self, logged_in, session_factory, admin_lms):
        response = add_lms(logged_in, name="Another")

        assert errors_of(response) == {
            "key": "is already the key of the LMS 'Moodle A' (made in the admin)"
        }
        assert len(rows(session_factory, Lms)) == 1

    def test_the_edit_form_is_filled_in_without_the_secret(self, logged_in, admin_lms):
        form = logged_in.get("/admin/lms/1/edit").forms[FORM]

        assert form["key"].value == "moodle-a"
        assert form["name"].value == "Moodle A"
        assert form["guid"].value == "moodle.example.edu"
        assert form["url"].value == ""
        assert form["secret"].value == ""
        assert "lms-secret-abc" not in logged_in.get("/admin/lms/1/edit").text

    def test_an_empty_secret_keeps_the_secret(
        self, logged_in, session_factory, admin_lms
    ):
        form = logged_in.get("/admin/lms/1/edit").forms[FORM]
        form["name"] = "Moodle of A"

        response = form.submit("save", status=302)

        (lms,) = rows(session_factory, Lms)
        assert (lms.name, lms.secret) == ("Moodle of A", "lms-secret-abc")
        assert response.location.endswith("/admin/lms/1/")
        assert "changed: name" in response.follow().text

    def test_a_new_secret_replaces_the_secret(
        self, logged_in, session_factory, admin_lms
    ):
        form = logged_in.get("/admin/lms/1/edit").forms[FORM]
        form["secret"] = "a-new-secret-xyz"

        response = form.submit("save", status=302).follow()

        assert rows(session_factory, Lms)[0].secret == "a-new-secret-xyz"
        assert "a-new-secret-xyz" not in response.text

    def test_an_edit_is_validated_too(self, logged_in, session_factory, admin_lms):
        form = logged_in.get("/admin/lms/1/edit").forms[FORM]
        form["key"] = "x" * 300

        response = form.submit("save", status=200)

        assert errors_of(response) == {"key": "must be at most 255 characters long"}
        assert rows(session_factory, Lms)[0].key == "moodle-a"

    def test_cancel_changes_nothing(self, logged_in, session_factory, admin_lms):
        form = logged_in.get("/admin/lms/1/edit").forms[FORM]
        form["name"] = "Changed"

        response = form.submit("cancel", status=302)

        assert response.location.endswith("/admin/lms/1/")
        assert rows(session_factory, Lms)[0].name == "Moodle A"


@pytest.mark.usefixtures("admin_lms")
class TestWimsForms:
    def test_a_server_is_added_for_the_lms_it_allows(self, logged_in, session_factory):
        response = add_wims(logged_in, class_limit="200")

        assert response.status_int == 302
        (server,) = rows(session_factory, WimsServer)
        assert server.id == 1
        assert response.location.endswith("/admin/wims/1")
        assert (server.url, server.ident, server.passwd, server.rclass) == (
            WIMS_URL,
            "wimslti",
            "wims-passwd-abc",
            "myclass",
        )
        assert (server.class_limit, server.class_lifetime_days) == (200, 365)
        assert [lms.key for lms in server.allowed_lms] == ["moodle-a"]
        assert server.source == "admin"
        page = response.follow()
        assert "/lti/C1/" in page.text
        assert "wims-passwd-abc" not in page.text

    def test_a_new_server_gets_a_number_never_given(self, logged_in, session_factory):
        with committed_session(session_factory) as session:
            session.add(
                WimsServer(
                    id=7,
                    name="Old",
                    url="http://127.0.0.1:7000/wims/wims.cgi",
                    ident="a",
                    passwd="b",
                    rclass="c",
                    retired_at=utcnow(),
                )
            )

        add_wims(logged_in)

        assert [server.id for server in rows(session_factory, WimsServer)] == [7, 8]

    def test_a_number_may_be_given_once(self, logged_in, session_factory):
        add_wims(logged_in, id="12")
        response = add_wims(
            logged_in, id="12", url="http://127.0.0.1:7778/wims/wims.cgi"
        )

        assert errors_of(response) == {
            "id": "is already the number of the WIMS server 'WIMS A' (made in the "
            "admin); leave it empty for a new number"
        }
        assert [server.id for server in rows(session_factory, WimsServer)] == [12]

    def test_the_help_speaks_to_a_wims_administrator(self, logged_in):
        page = logged_in.get("/admin/wims/add")

        assert "log/classes/.connections/" in help_of(page, "ident")
        assert "ident_password" in help_of(page, "passwd")
        assert "class_connections=+ident/rclass+" in help_of(page, "rclass")
        assert page.forms[FORM]["passwd"].attrs["type"] == "password"
        select = page.html.find("select", {"name": "allowed_lms"})
        assert select.has_attr("multiple")
        assert [o["value"] for o in select.find_all("option")] == ["moodle-a"]

    def test_errors_appear_on_their_fields(self, logged_in, session_factory):
        response = add_wims(
            logged_in,
            url=WIMS_URL + "/",
            ident="has space",
            class_limit="0",
            class_lifetime_days="a year",
        )

        assert response.status_int == 200
        errors = errors_of(response)
        assert errors["url"].startswith("must be the URL of wims.cgi itself")
        assert errors["ident"] == (
            "must contain only letters, digits, '_' and '-' (no spaces)"
        )
        assert errors["class_limit"] == "must be at least 1"
        assert errors["class_lifetime_days"] == "must be a whole number"
        assert rows(session_factory, WimsServer) == []

    def test_only_offered_lmss_may_be_allowed(self, logged_in, session_factory):
        page = logged_in.get("/admin/wims/add")
        fields = [
            ("csrf_token", page.forms[FORM]["csrf_token"].value),
            ("name", "W"),
            ("url", WIMS_URL),
            ("ident", "wimslti"),
            ("passwd", "p"),
            ("rclass", "myclass"),
            ("__start__", "allowed_lms:sequence"),
            ("allowed_lms", "no-such-lms"),
            ("__end__", "allowed_lms:sequence"),
            ("save", "save"),
        ]

        response = logged_in.post("/admin/wims/add", fields, status=200)

        assert errors_of(response) == {
            "allowed_lms": "no active LMS has the key no-such-lms"
        }
        assert rows(session_factory, WimsServer) == []

    def test_an_address_can_be_used_once(self, logged_in, session_factory):
        add_wims(logged_in)

        response = add_wims(logged_in, name="Again")

        assert errors_of(response)["url"] == (
            "is already the address of the WIMS server 1 'WIMS A' (made in the admin)"
        )

    def test_an_edit_keeps_the_password_and_changes_the_allowed_lmss(
        self, logged_in, session_factory
    ):
        add_wims(logged_in)
        form = logged_in.get("/admin/wims/1/edit").forms[FORM]
        assert form["passwd"].value == ""
        assert form["name"].value == "WIMS A"
        assert "id" not in form.fields
        form["allowed_lms"] = []
        form["class_lifetime_days"] = "200"

        response = form.submit("save", status=302).follow()

        (server,) = rows(session_factory, WimsServer)
        assert server.passwd == "wims-passwd-abc"
        assert server.allowed_lms == []
        assert server.class_lifetime_days == 200
        assert "changed: class_lifetime_days, allowed_lms" in response.text

    def test_an_edit_is_validated_too(self, logged_in, session_factory):
        add_wims(logged_in)
        form = logged_in.get("/admin/wims/1/edit").forms[FORM]
        form["class_lifetime_days"] = "999"
        form["passwd"] = "a-new-passwd"

        response = form.submit("save", status=200)

        assert errors_of(response) == {"class_lifetime_days": "must be at most 454"}
        (server,) = rows(session_factory, WimsServer)
        assert (server.class_lifetime_days, server.passwd) == (365, "wims-passwd-abc")
        assert "a-new-passwd" not in response.text


@pytest.fixture
def used_server(session_factory, logged_in):
    add_wims(logged_in)
    with committed_session(session_factory) as session:
        lms = session.get(Lms, 1)
        server = session.get(WimsServer, 1)
        session.add(
            WimsClass(
                lms=lms,
                wims_server=server,
                context_id="c-1",
                qclass="7654321",
                name="A class",
                class_password="x",
                supervisor_password="y",
            )
        )


@pytest.mark.usefixtures("admin_lms", "used_server")
class TestRetire:
    def test_retiring_asks_first_and_keeps_the_classes(
        self, logged_in, session_factory
    ):
        page = logged_in.get("/admin/wims/1/").click("Retire")
        assert "1 classes, 0 users and 0 grade links stay as they are" in text_of(page)

        form_of(page, "/retire").submit(status=302)

        (server,) = rows(session_factory, WimsServer)
        assert server.retired_at is not None
        assert len(rows(session_factory, WimsClass)) == 1
        assert rows(session_factory, WimsClass)[0].wims_server_id == 1

    def test_retiring_an_lms_keeps_its_classes(self, logged_in, session_factory):
        token = csrf_token(logged_in)

        logged_in.post("/admin/lms/1/retire", {"csrf_token": token}, status=302)

        assert rows(session_factory, Lms)[0].retired_at is not None
        assert len(rows(session_factory, WimsClass)) == 1

    def test_a_retired_record_is_restored_in_the_admin(
        self, logged_in, session_factory
    ):
        with committed_session(session_factory) as session:
            lms = session.get_one(Lms, 1)
            lms.retired_at = utcnow()
            lms.source, lms.source_file = "yaml", "old.yaml"
        page = logged_in.get("/admin/lms/1/")
        assert "old.yaml, which no longer declares it" in text_of(page)
        form_of(page, "/restore").submit(status=302)

        (lms,) = rows(session_factory, Lms)
        assert (lms.retired_at, lms.source, lms.source_file) == (None, "admin", None)

    def test_an_active_record_cannot_be_restored(self, logged_in):
        token = csrf_token(logged_in)

        logged_in.post("/admin/lms/1/restore", {"csrf_token": token}, status=403)


class TestConnection:
    @pytest.fixture
    def wims_double(self):
        with WimsDouble.serve(
            ident="wimslti", passwd="wims-passwd-abc", rclass="myclass"
        ) as double:
            yield double

    def test_wims_accepts_the_connection(self, logged_in, wims_double, admin_lms):
        add_wims(logged_in, url=wims_double.url)
        page = logged_in.get("/admin/wims/1/")
        form = form_of(page, "/test-connection")

        response = form.submit(status=302).follow()

        assert "WIMS answered: Connection accepted" in text_of(response)
        assert [job for job, _ in wims_double.calls] == ["checkident"]

    def test_wims_refuses_a_wrong_password(self, logged_in, wims_double, admin_lms):
        add_wims(logged_in, url=wims_double.url, passwd="not-the-password")
        page = logged_in.get("/admin/wims/1/")
        form = form_of(page, "/test-connection")

        response = form.submit(status=302).follow()

        text = text_of(response)
        assert "Connection test refused or failed" in text
        assert "Identification Failure" in text
        assert "not-the-password" not in response.text

    def test_an_unreachable_wims_is_reported(self, logged_in, admin_lms):
        add_wims(logged_in, url="http://127.0.0.1:9/wims/wims.cgi")
        page = logged_in.get("/admin/wims/1/")
        form = form_of(page, "/test-connection")

        response = form.submit(status=302).follow()

        assert "WimsUnavailable: cannot reach WIMS" in text_of(response)


class TestLogs:
    def test_no_secret_is_ever_logged(self, logged_in, caplog, app_settings):
        caplog.set_level(logging.DEBUG)
        with WimsDouble.serve(ident="wimslti", passwd="wims-passwd-abc") as wims:
            add_lms(logged_in)
            add_wims(logged_in, url=wims.url)
            form = logged_in.get("/admin/lms/1/edit").forms[FORM]
            form["secret"] = "lms-secret-new"
            form.submit("save")
            form = logged_in.get("/admin/wims/1/edit").forms[FORM]
            form["passwd"] = "wims-passwd-new"
            form.submit("save")
            form_of(logged_in.get("/admin/wims/1/"), "/test-connection").submit()
            add_lms(logged_in, key="bad key" * 50, secret="lms-secret-refused")

        for secret in (
            "lms-secret-abc",
            "lms-secret-new",
            "lms-secret-refused",
            "wims-passwd-abc",
            "wims-passwd-new",
            "correct horse battery staple",
        ):
            assert secret not in caplog.text
        assert "Admin changed LMS key='moodle-a': secret" in caplog.text
