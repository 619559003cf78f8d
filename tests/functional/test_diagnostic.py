"""The diagnostic launch at /lti/test/: what a launch carries and would get."""

import logging
import time
import uuid

import pytest
import sqlalchemy as sa
import webtest

from tests.functional.conftest import LMS_GUID, LMS_KEY, LMS_SECRET, PUBLIC_HOST
from tests.functional.launching import teacher_launch
from tests.lti_consumer import TEACHER, launch_params, signed_launch
from wimslti.models import Lms, OAuthNonce, WimsClass, WimsUser

TEST_URL = f"https://{PUBLIC_HOST}/lti/test/"


def diagnose(
    testapp,
    *changes,
    url=TEST_URL,
    path="/lti/test/",
    key=LMS_KEY,
    secret=LMS_SECRET,
    headers=None,
    timestamp=None,
    nonce=None,
    **more,
):
    """POST the base launch B, signed for ``url``, to the diagnostic."""
    fields = signed_launch(
        url,
        launch_params(*changes, **more),
        key,
        secret,
        timestamp=timestamp,
        nonce=nonce,
    )
    return testapp.post(path, fields, headers=headers or {}, status=200)


def check(page, name):
    """Return (status, text) of the check row ``name``."""
    row = page.html.select_one(f"#check-{name}")
    cells = row.find_all("td")
    return cells[1].get_text(strip=True), cells[2].get_text(" ", strip=True)


def page_text(page):
    return " ".join(page.html.get_text().split())


def verdict(page):
    return " ".join(page.html.select_one(".verdict").get_text().split())


def count(dbsession, model):
    dbsession.expire_all()
    return dbsession.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.mark.usefixtures("server")
class TestAGoodLaunch:
    def test_it_would_be_accepted_and_creates_nothing(self, testapp, wims, dbsession):
        page = diagnose(testapp, TEACHER)

        assert verdict(page) == "A real launch with these parameters would be accepted."
        for name in ("key", "signature", "timestamp", "nonce", "guid", "parameters"):
            assert check(page, name)[0] == "ok", name
        assert wims.count() == 0
        assert count(dbsession, WimsClass) == 0
        assert count(dbsession, WimsUser) == 0
        assert count(dbsession, OAuthNonce) == 0

    def test_it_lists_every_parameter_with_secrets_hidden(self, testapp):
        fields = signed_launch(
            TEST_URL,
            launch_params(custom_api_secret="do-not-show", custom_class_lang="fr"),
            LMS_KEY,
            LMS_SECRET,
        )
        signature = dict(fields)["oauth_signature"]

        page = testapp.post("/lti/test/", fields)

        rows = {
            row.find_all("td")[0].get_text(): row.find_all("td")[1].get_text()
            for row in page.html.select("table.params tbody tr")
        }
        assert set(rows) == {name for name, _ in fields}
        assert rows["oauth_signature"] == "(hidden)"
        assert rows["custom_api_secret"] == "(hidden)"
        assert rows["custom_class_lang"] == "fr"
        assert rows["context_title"] == "Algèbre linéaire L1"
        for secret in (signature, "do-not-show", LMS_SECRET):
            assert secret not in page.text

    def test_it_gives_the_guid_to_declare(self, testapp):
        page = diagnose(testapp, tool_consumer_instance_guid="moodle.new.example.edu")

        assert page.html.select_one("#guid").get_text() == "moodle.new.example.edu"
        status, text = check(page, "guid")
        assert status == "warning"
        assert "guid: moodle.new.example.edu" in text

    def test_it_says_who_launched_and_where_they_may_go(self, testapp):
        page = diagnose(testapp, TEACHER)

        assert "A teacher: the first class launch" in page_text(page)
        assert f"https://{PUBLIC_HOST}/lti/C1/" in page.text

    def test_it_does_not_use_up_the_nonce_of_a_real_launch(self, testapp, wims):
        nonce, timestamp = uuid.uuid4().hex, int(time.time())
        diagnose(testapp, TEACHER, nonce=nonce, timestamp=timestamp)

        teacher_launch(testapp, nonce=nonce, timestamp=timestamp)

    def test_it_logs_one_line_without_secrets(self, testapp, caplog):
        caplog.set_level(logging.INFO, logger="wimslti")
        fields = signed_launch(TEST_URL, launch_params(), LMS_KEY, LMS_SECRET)

        testapp.post("/lti/test/", fields)

        [line] = [r.getMessage() for r in caplog.records if "diagnostic" in r.message]
        assert f"key='{LMS_KEY}'" in line
        assert "would=accept" in line
        assert dict(fields)["oauth_signature"] not in caplog.text
        assert LMS_SECRET not in caplog.text
        assert "Camille" not in caplog.text


@pytest.mark.usefixtures("server")
class TestWhyALaunchFails:
    def test_an_unknown_key_is_named(self, testapp):
        page = diagnose(testapp, key="moodle-key-02", secret="whatever")

        assert check(page, "key") == (
            "failed",
            "The consumer key 'moodle-key-02' is not known to the gateway. Check "
            "the key typed in the LMS (no space before or after), or ask the "
            "gateway's administrator to declare this LMS with it.",
        )
        assert check(page, "signature")[0] == "unknown"
        assert verdict(page).startswith(
            "A real launch with these parameters would be refused:"
        )
        assert page.html.select_one("#guid").get_text() == LMS_GUID

    def test_a_retired_lms_is_named(self, testapp, dbsession, lms):
        dbsession.get(Lms, lms.id).retired_at = sa.func.now()
        dbsession.commit()

        page = diagnose(testapp)

        assert "no longer serves" in check(page, "key")[1]

    def test_a_wrong_secret_points_at_the_secret(self, testapp):
        page = diagnose(testapp, secret="not-the-secret")

        status, text = check(page, "signature")
        assert status == "failed"
        assert "shared secret typed in the LMS is not the one declared" in text

    def test_http_signed_against_https_seen(self, testapp):
        page = diagnose(testapp, url=f"http://{PUBLIC_HOST}/lti/test/")

        status, text = check(page, "signature")
        assert status == "failed"
        assert "http vs https" in text
        assert "signed the launch for http://" in text

    def test_https_signed_behind_a_proxy_that_does_not_say_so(self, app):
        inner = webtest.TestApp(app, extra_environ={"HTTP_HOST": PUBLIC_HOST})

        page = diagnose(inner)

        status, text = check(page, "signature")
        assert status == "failed"
        assert "http vs https" in text
        assert "X-Forwarded-Proto: https" in text

    def test_a_proxy_changing_the_host(self, testapp):
        page = diagnose(
            testapp,
            url="https://gw.example.org/lti/test/",
            headers={"X-Forwarded-Host": "gw.example.org"},
        )

        status, text = check(page, "signature")
        assert status == "failed"
        assert "a proxy changes the host" in text
        assert "gw.example.org" in text
        assert "not in wimslti.trusted_proxies" in text

    def test_a_proxy_stripping_a_path_prefix(self, testapp):
        page = diagnose(
            testapp,
            url=f"https://{PUBLIC_HOST}/wims-lti/lti/test/",
            headers={"X-Forwarded-Prefix": "/wims-lti"},
        )

        text = check(page, "signature")[1]
        assert "a proxy changes the path" in text
        assert "/wims-lti/lti/test/" in text

    def test_a_trailing_slash(self, testapp):
        page = diagnose(testapp, url=f"https://{PUBLIC_HOST}/lti/test")

        text = check(page, "signature")[1]
        assert "trailing slash" in text
        assert "signed /lti/test and the launch arrived at /lti/test/" in text

    def test_clock_skew_is_measured(self, testapp):
        page = diagnose(testapp, timestamp=int(time.time()) - 7200)

        status, text = check(page, "timestamp")
        assert status == "failed"
        assert "Clock skew" in text
        offset = int(page.html.select_one("#offset").get_text())
        assert -7210 < offset <= -7200
        assert check(page, "signature")[0] == "ok"

    def test_a_small_offset_is_told_but_accepted(self, testapp):
        page = diagnose(testapp, timestamp=int(time.time()) + 120)

        assert check(page, "timestamp")[0] == "warning"
        assert "would be accepted" in verdict(page)

    def test_a_reused_nonce(self, testapp, wims, dbsession):
        nonce, timestamp = uuid.uuid4().hex, int(time.time())
        teacher_launch(testapp, nonce=nonce, timestamp=timestamp)

        page = diagnose(testapp, TEACHER, nonce=nonce, timestamp=timestamp)

        status, text = check(page, "nonce")
        assert status == "failed"
        assert "Reused nonce" in text
        assert count(dbsession, OAuthNonce) == 1

    def test_the_guid_of_another_lms(self, testapp, dbsession):
        dbsession.add(
            Lms(key="other", secret="other-secret", guid="other.example", name="B")
        )
        dbsession.commit()

        page = diagnose(testapp, tool_consumer_instance_guid="other.example")

        assert check(page, "guid")[0] == "failed"
        assert verdict(page).startswith(
            "A real launch with these parameters would be refused:"
        )

    def test_bad_parameters_are_listed(self, testapp):
        page = diagnose(testapp, custom_custom_class_lang="fr", user_id=None)

        status, text = check(page, "parameters")
        assert status == "failed"
        assert "missing user_id" in text
        assert "custom_ prefix came twice" in text

    def test_an_unsigned_post(self, testapp):
        page = testapp.post("/lti/test/", launch_params())

        assert "The launch is not signed" in check(page, "signature")[1]

    def test_a_body_that_is_not_utf8(self, testapp):
        page = testapp.post(
            "/lti/test/",
            b"user_id=%FF%FE",
            content_type="application/x-www-form-urlencoded",
        )

        status, text = check(page, "encoding")
        assert status == "failed"
        assert "not valid UTF-8" in text


class TestWithoutLaunch:
    def test_a_get_explains_how_to_use_it(self, testapp):
        page = testapp.get("/lti/test/")

        assert f"https://{PUBLIC_HOST}/lti/test/" in page.text
        assert "Launch this URL from the LMS" in page.text

    def test_any_key_gets_the_page_even_with_no_lms_declared(self, testapp):
        page = diagnose(testapp, key="anything", secret="anything")

        assert check(page, "key")[0] == "failed"
