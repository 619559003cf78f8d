"""The class credentials mail, sent through a real SMTP server on 127.0.0.1."""

import contextlib
import email
import email.policy
import logging
import queue
import socket
import threading
import time

import pytest
import sqlalchemy as sa
import webtest
from aiosmtpd.controller import Controller

from tests.functional.launching import launch, teacher_launch
from wimslti import main
from wimslti.models import WimsClass
from wimslti.settings import SettingsError

SENDER = "wimslti@lti.example.org"


class _Collect:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self):
        self.messages = queue.Queue()

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(
            envelope.content, policy=email.policy.default
        )
        self.messages.put((envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 OK"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp():
    handler = _Collect()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller, handler.messages
    controller.stop()


@contextlib.contextmanager
def silent_smtp():
    """Accept SMTP connections and never answer: a server that hangs."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted = []

    def accept():
        with contextlib.suppress(OSError):
            while True:
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        for connection in accepted:
            connection.close()
        thread.join(5)


def mail_settings(port, **more):
    return {
        "mail.host": "127.0.0.1",
        "mail.port": str(port),
        "mail.default_sender": SENDER,
        "wimslti.mail_timeout": "2",
        **more,
    }


def wait_for_log(caplog, text, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [r for r in caplog.records if text in r.getMessage()]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no log line with {text!r}")


def our_log(caplog):
    """Return the gateway's log lines (the test SMTP server logs the message)."""
    return "\n".join(
        r.getMessage() for r in caplog.records if r.name.startswith("wimslti")
    )


def the_class(dbsession):
    dbsession.expire_all()
    return dbsession.scalars(sa.select(WimsClass)).one()


@pytest.mark.usefixtures("server")
class TestCredentialsMail:
    def test_a_new_class_mails_its_credentials(self, testapp, smtp, dbsession):
        _, messages = smtp

        teacher_launch(testapp)

        sender, recipients, message = messages.get(timeout=5)
        wims_class = the_class(dbsession)
        assert sender == SENDER
        assert recipients == ["noah.martin@example.edu"]
        assert message["To"] == "noah.martin@example.edu"
        body = message.get_content()
        for value in (
            wims_class.qclass,
            wims_class.class_password,
            wims_class.supervisor_password,
        ):
            assert value in body
        assert messages.empty()

    def test_it_is_in_the_class_language(self, testapp, smtp):
        _, messages = smtp

        teacher_launch(testapp, launch_presentation_locale="fr-FR")

        message = messages.get(timeout=5)[2]
        assert message["Subject"] == (
            "Votre classe WIMS « Algèbre linéaire L1 » est prête"
        )
        assert "Mot de passe enseignant" in message.get_content()

    def test_english_is_the_language_otherwise(self, testapp, smtp):
        _, messages = smtp

        teacher_launch(testapp, launch_presentation_locale="en-GB")
        teacher_launch(testapp, context_id="ctx-43", custom_class_lang="es")

        subjects = {messages.get(timeout=5)[2]["Subject"] for _ in range(2)}
        assert subjects == {'Your WIMS class "Algèbre linéaire L1" is ready'}

    def test_it_goes_to_the_supervisor_address_given(self, testapp, smtp):
        _, messages = smtp

        teacher_launch(testapp, custom_supervisor_email="prof@example.edu")

        assert messages.get(timeout=5)[1] == ["prof@example.edu"]

    def test_only_the_creation_sends_one(self, testapp, smtp):
        _, messages = smtp
        teacher_launch(testapp)
        messages.get(timeout=5)

        teacher_launch(testapp)
        launch(testapp)

        with pytest.raises(queue.Empty):
            messages.get(timeout=1)

    def test_no_password_is_logged(self, testapp, smtp, dbsession, caplog):
        caplog.set_level(logging.DEBUG)
        _, messages = smtp

        teacher_launch(testapp)

        messages.get(timeout=5)
        wait_for_log(caplog, "credentials mail of class")
        wims_class = the_class(dbsession)
        ours = our_log(caplog)
        assert "sent" in ours
        assert wims_class.class_password not in ours
        assert wims_class.supervisor_password not in ours

    @pytest.fixture
    def app_settings(self, app_settings, smtp):
        controller, _ = smtp
        return {**app_settings, **mail_settings(controller.port)}


@pytest.mark.usefixtures("server")
class TestWhenMailFails:
    def test_a_server_that_refuses_is_one_warning(self, app_settings, caplog):
        caplog.set_level(logging.INFO)
        app = main({}, **app_settings, **mail_settings(free_port()))
        try:
            testapp = webtest.TestApp(
                app,
                extra_environ={
                    "HTTP_HOST": "lti.example.org",
                    "wsgi.url_scheme": "https",
                },
            )

            teacher_launch(testapp)

            [record] = wait_for_log(caplog, "not sent")
        finally:
            app.registry["dbengine"].dispose()
        assert record.levelno == logging.WARNING
        assert "ConnectionRefusedError" in record.getMessage()

    def test_a_hanging_server_does_not_make_the_teacher_wait(
        self, app_settings, dbsession, caplog
    ):
        caplog.set_level(logging.INFO)
        with silent_smtp() as port:
            app = main(
                {},
                **app_settings,
                **mail_settings(port, **{"wimslti.mail_timeout": "1"}),
            )
            try:
                testapp = webtest.TestApp(
                    app,
                    extra_environ={
                        "HTTP_HOST": "lti.example.org",
                        "wsgi.url_scheme": "https",
                    },
                )
                started = time.monotonic()

                teacher_launch(testapp)

                elapsed = time.monotonic() - started
                [record] = wait_for_log(caplog, "not sent")
            finally:
                app.registry["dbengine"].dispose()
        assert elapsed < 1
        assert record.levelno == logging.WARNING
        assert "did not answer in time" in record.getMessage()
        wims_class = the_class(dbsession)
        assert wims_class.supervisor_password not in our_log(caplog)


@pytest.mark.usefixtures("server")
class TestWithoutMailHost:
    def test_the_log_says_no_mail_is_sent(self, testapp, caplog):
        caplog.set_level(logging.INFO)

        teacher_launch(testapp)

        assert "no mail.host configured" in caplog.text

    def test_a_host_needs_a_sender(self, app_settings):
        with pytest.raises(SettingsError, match=r"mail\.default_sender"):
            main({}, **app_settings, **{"mail.host": "127.0.0.1"})
