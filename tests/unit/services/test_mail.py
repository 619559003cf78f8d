import smtplib
from datetime import date
from unittest.mock import create_autospec

import pytest
from pyramid_mailer.mailer import Mailer

from tests.lti_consumer import TEACHER, launch_params
from wimslti.lti.params import parse_launch
from wimslti.models import Lms, WimsClass, WimsServer
from wimslti.services.mail import (
    MailService,
    connection_class,
    failure_reason,
    supervisor_address,
    template_language,
)


def params(**changes):
    return parse_launch(launch_params(TEACHER, **changes), today=date(2026, 12, 4))


def wims_class(lang="fr"):
    return WimsClass(
        qclass="1234567",
        name="Algèbre & co",
        lang=lang,
        email="class@example.edu",
        class_password="ClassPass1",
        supervisor_password="SuperPass2",
        expiration=date(2027, 12, 4),
        wims_server_id=1,
        lms=Lms(key="k", secret="s", name="Moodle Exemple"),
        wims_server=WimsServer(id=1, name="WIMS test", url="https://w/wims.cgi"),
    )


class TestSupervisorAddress:
    def test_the_custom_supervisor_email_comes_first(self):
        assert (
            supervisor_address(
                params(custom_supervisor_email="prof@example.edu"), wims_class()
            )
            == "prof@example.edu"
        )

    def test_then_the_launchers_email(self):
        assert supervisor_address(params(), wims_class()) == "noah.martin@example.edu"

    def test_then_the_class_email(self):
        assert (
            supervisor_address(
                params(lis_person_contact_email_primary=None), wims_class()
            )
            == "class@example.edu"
        )


class TestTemplateLanguage:
    @pytest.mark.parametrize(("lang", "chosen"), [("fr", "fr"), ("en", "en")])
    def test_known_languages_have_their_template(self, lang, chosen):
        assert template_language(lang) == chosen

    @pytest.mark.parametrize("lang", ["es", "cn", ""])
    def test_english_is_the_fallback(self, lang):
        assert template_language(lang) == "en"


class TestMailService:
    def test_without_mailer_nothing_is_sent(self, caplog):
        caplog.set_level("INFO")
        service = MailService(None, "gw@example.org", render_template=None)

        assert service.send_class_credentials(wims_class(), params()) is None
        assert "no mail.host configured" in caplog.text

    def test_the_first_line_is_the_subject(self):
        service = MailService(
            None, "gw@example.org", lambda name, values: f"Subject {name}\n\nBody\n"
        )

        mail = service.compose(wims_class("es"), params(), "a@example.edu")

        assert mail.subject == "Subject mail/class_credentials_en.jinja2"
        assert mail.body == "Body\n"

    def test_a_template_error_never_breaks_the_launch(self, caplog):
        def broken(name, values):
            raise KeyError(name)

        mailer = create_autospec(Mailer, instance=True, spec_set=True)
        service = MailService(mailer, "gw@example.org", broken)

        assert service.send_class_credentials(wims_class(), params()) is None
        assert "not composed: KeyError" in caplog.text
        mailer.send_immediately.assert_not_called()

    def test_a_failure_is_one_warning_without_secrets(self, caplog):
        mailer = create_autospec(Mailer, instance=True, spec_set=True)
        mailer.send_immediately.side_effect = smtplib.SMTPDataError(
            554, b"rejected\nmore"
        )
        service = MailService(
            mailer, "gw@example.org", lambda name, values: "S\n\nSuperPass2\n"
        )

        service.send_class_credentials(wims_class(), params()).join(5)

        [record] = caplog.records
        assert record.levelname == "WARNING"
        assert record.getMessage() == (
            "credentials mail of class 1234567 (WIMS server 1) not sent: "
            "SMTP 554 rejected"
        )


class TestFailureReason:
    def test_a_refused_recipient_is_not_named(self):
        error = smtplib.SMTPRecipientsRefused({"x@example.edu": (550, b"no")})

        assert "x@example.edu" not in failure_reason(error)

    def test_a_timeout(self):
        assert "did not answer in time" in failure_reason(TimeoutError("timed out"))


class TestConnectionClass:
    def test_line_ends_become_crlf_and_the_timeout_is_ours(self):
        sent = {}

        class Fake(smtplib.SMTP):
            def __init__(self, host="", port=0, timeout=None):
                sent["timeout"] = timeout

            def sendmail(self, from_addr, to_addrs, msg, *args, **kwargs):
                sent["msg"] = msg

        connection = connection_class(Fake, 3.5)("127.0.0.1", "25", timeout=10)
        connection.sendmail("a@b", ["c@d"], b"A: b\n\nline\r\nline\n")

        assert sent == {"timeout": 3.5, "msg": b"A: b\r\n\r\nline\r\nline\r\n"}
