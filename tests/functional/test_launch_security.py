"""Who may launch: signatures, keys, nonces, timestamps, GUIDs, allowed LMSs."""

import time

import pytest
import sqlalchemy as sa

from tests.functional.conftest import LMS_KEY, LMS_SECRET, PUBLIC_HOST
from tests.functional.launching import teacher_launch
from tests.lti_consumer import RETURN_URL, launch_params, signed_launch
from wimslti.models import Lms, OAuthNonce, WimsClass, WimsServer, WimsUser


def nothing_happened(dbsession, wims):
    dbsession.expire_all()
    assert wims.count() == 0
    assert dbsession.scalars(sa.select(WimsClass)).all() == []
    assert dbsession.scalars(sa.select(WimsUser)).all() == []


@pytest.mark.usefixtures("server")
class TestAuthentication:
    def test_a_wrong_secret_is_refused(self, testapp, wims, dbsession):
        response = teacher_launch(
            testapp,
            secret="not-the-secret",
            status=403,
            launch_presentation_return_url=RETURN_URL,
        )

        assert "consumer key and secret" in response.text
        nothing_happened(dbsession, wims)

    def test_an_unknown_key_is_refused(self, testapp, wims, dbsession):
        teacher_launch(testapp, key="unknown-key", status=403)

        nothing_happened(dbsession, wims)

    @pytest.mark.parametrize(
        "tamper",
        [
            {"oauth_signature": "AAAA"},
            {"oauth_signature": None},
            {"oauth_nonce": None},
            {"oauth_consumer_key": None},
            {"oauth_signature_method": "PLAINTEXT"},
            {"context_id": "ctx-other"},
            # IMS certification 1.4 adds a bogus secret parameter.
            {"oauth_consumer_secret": LMS_SECRET},
        ],
    )
    def test_a_tampered_launch_is_refused(self, testapp, wims, dbsession, tamper):
        params = launch_params({"roles": "Instructor", "user_id": "t-7"})
        fields = dict(
            signed_launch(f"https://{PUBLIC_HOST}/lti/C1/", params, LMS_KEY, LMS_SECRET)
        )
        for name, value in tamper.items():
            if value is None:
                fields.pop(name)
            else:
                fields[name] = value

        testapp.post("/lti/C1/", fields, status=403)

        nothing_happened(dbsession, wims)

    def test_a_replayed_launch_is_refused(self, testapp, wims):
        params = launch_params({"roles": "Instructor", "user_id": "t-7"})
        fields = signed_launch(
            f"https://{PUBLIC_HOST}/lti/C1/", params, LMS_KEY, LMS_SECRET
        )
        testapp.post("/lti/C1/", fields, status=302)

        response = testapp.post("/lti/C1/", fields, status=403)

        assert "already used" in response.text
        assert wims.count("addclass") == 1

    @pytest.mark.parametrize("offset", [-240, 240])
    def test_a_clock_a_few_minutes_off_is_accepted(self, testapp, offset):
        teacher_launch(testapp, timestamp=int(time.time()) + offset)

    @pytest.mark.parametrize("offset", [-7200, 86400])
    def test_a_timestamp_outside_the_window_is_refused(
        self, testapp, wims, dbsession, offset
    ):
        response = teacher_launch(
            testapp, timestamp=int(time.time()) + offset, status=403
        )

        assert "clock" in response.text
        nothing_happened(dbsession, wims)

    def test_nonces_are_stored_once(self, testapp, dbsession):
        teacher_launch(testapp, nonce="n" * 32)
        teacher_launch(testapp, nonce="n" * 32, timestamp=int(time.time()) + 1)

        assert len(dbsession.scalars(sa.select(OAuthNonce)).all()) == 2

    def test_non_ascii_parameters_and_a_strong_secret_verify(
        self, testapp, dbsession, wims
    ):
        lms = dbsession.scalars(sa.select(Lms)).one()
        lms.secret = "p%&=q]$ Ω"
        dbsession.commit()

        teacher_launch(
            testapp,
            secret="p%&=q]$ Ω",
            lis_person_name_family="Núñez-Łaski",
            lis_person_name_given="Zoë",
            context_title="Analyse – 1ʳᵉ année ∑",
        )

        dbsession.expire_all()
        teacher = dbsession.scalars(sa.select(WimsUser)).one()
        assert teacher.lastname == "Núñez-Łaski"
        assert (
            dbsession.scalars(sa.select(WimsClass)).one().name
            == "Analyse – 1ʳᵉ année ∑"
        )


@pytest.mark.usefixtures("server")
class TestWhichLms:
    @pytest.fixture
    def other_lms(self, dbsession):
        other = Lms(
            key="canvas-key",
            secret="canvas-secret",
            guid="canvas.example.edu",
            name="Canvas",
        )
        dbsession.add(other)
        dbsession.commit()
        return other

    def test_a_key_claiming_another_lms_guid_is_refused(
        self, testapp, wims, dbsession, other_lms
    ):
        response = teacher_launch(
            testapp, tool_consumer_instance_guid="canvas.example.edu", status=403
        )

        assert "another one" in response.text
        nothing_happened(dbsession, wims)

    def test_a_new_guid_naming_no_lms_is_accepted(self, testapp, dbsession):
        teacher_launch(testapp, tool_consumer_instance_guid="moodle.newdomain.edu")

        dbsession.expire_all()
        assert dbsession.scalars(sa.select(WimsClass)).one().lms.key == LMS_KEY

    def test_a_launch_without_guid_is_accepted(self, testapp):
        teacher_launch(testapp, tool_consumer_instance_guid=None)

    def test_an_lms_not_allowed_on_the_server_is_refused(
        self, testapp, wims, dbsession, other_lms
    ):
        response = teacher_launch(
            testapp,
            key="canvas-key",
            secret="canvas-secret",
            tool_consumer_instance_guid="canvas.example.edu",
            launch_presentation_return_url=RETURN_URL,
        )

        assert response.location.startswith(RETURN_URL)
        assert "not+open+to+your+LMS" in response.location
        nothing_happened(dbsession, wims)

    def test_a_retired_lms_cannot_launch(self, testapp, wims, dbsession):
        lms = dbsession.scalars(sa.select(Lms)).one()
        lms.retired_at = sa.func.now()
        dbsession.commit()

        teacher_launch(testapp, status=403)

        nothing_happened(dbsession, wims)

    def test_a_retired_server_is_not_found(self, testapp, wims, dbsession):
        server = dbsession.get(WimsServer, 1)
        server.retired_at = sa.func.now()
        dbsession.commit()

        response = teacher_launch(testapp, status=404)

        assert "no longer served" in response.text


@pytest.mark.usefixtures("server")
class TestBehindAProxy:
    @pytest.fixture
    def app_settings(self, app_settings):
        return {**app_settings, "wimslti.trusted_proxies": "127.0.0.1"}

    PROXIED = {
        "wsgi.url_scheme": "http",
        "HTTP_HOST": "127.0.0.1:8000",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_FORWARDED_HOST": "lti.example.org",
        "HTTP_X_FORWARDED_PREFIX": "/wims-lti",
    }

    def post(self, testapp, environ, status):
        params = launch_params({"roles": "Instructor", "user_id": "t-7"})
        fields = signed_launch(
            "https://lti.example.org/wims-lti/lti/C1/", params, LMS_KEY, LMS_SECRET
        )
        return testapp.post("/lti/C1/", fields, extra_environ=environ, status=status)

    def test_a_launch_signed_for_the_public_url_verifies(self, testapp, wims):
        self.post(testapp, self.PROXIED, status=302)

        assert wims.count("addclass") == 1

    def test_forwarded_headers_from_elsewhere_do_not_count(self, testapp, wims):
        self.post(testapp, {**self.PROXIED, "REMOTE_ADDR": "192.0.2.1"}, status=403)

        assert wims.count() == 0


@pytest.mark.usefixtures("server")
class TestLogs:
    def test_one_info_line_per_launch_without_secrets(
        self, testapp, wims, caplog, dbsession
    ):
        caplog.set_level("DEBUG", logger="wimslti")
        params = launch_params({"roles": "Instructor", "user_id": "t-7"})
        fields = signed_launch(
            f"https://{PUBLIC_HOST}/lti/C1/", params, LMS_KEY, LMS_SECRET
        )
        signature = dict(fields)["oauth_signature"]

        testapp.post("/lti/C1/", fields, status=302)
        testapp.post("/lti/C1/", fields, status=403)
        teacher_launch(testapp, secret="wrong", status=403)

        launch_lines = [
            r.getMessage()
            for r in caplog.records
            if r.name == "wimslti.launch" and r.levelname == "INFO"
        ]
        assert len(launch_lines) == 3
        assert "launch ok" in launch_lines[0]
        assert "consumer_key='moodle-key-01'" in launch_lines[0]
        assert "context_id='ctx-42'" in launch_lines[0]
        assert "replay" in launch_lines[1]
        text = "\n".join(r.getMessage() for r in caplog.records)
        wims_class = dbsession.scalars(sa.select(WimsClass)).one()
        for secret in (
            LMS_SECRET,
            signature,
            "wimsltipass",
            wims_class.class_password,
            wims_class.supervisor_password,
        ):
            assert secret not in text
