"""The class credentials mail, sent to the supervisor of a new WIMS class.

When a launch creates a class, its supervisor is mailed the class
identifier, the class password and the supervisor password, in the class's
language (English when there is no template for it), through the SMTP
server of the ``mail.*`` settings (pyramid_mailer's names). The message is
rendered during the request and sent from a background thread with a socket
timeout, so that a slow SMTP server never keeps the teacher waiting. A
failure is one warning in the log, which never holds the passwords; without
``mail.host`` no mail is sent and the log says so.
"""

import logging
import re
import smtplib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyramid.config import Configurator
from pyramid.renderers import render
from pyramid_mailer.interfaces import IMailer
from pyramid_mailer.mailer import Mailer
from pyramid_mailer.message import Message

from wimslti.lti.params import LaunchParams
from wimslti.models import WimsClass
from wimslti.settings import SettingsError

log = logging.getLogger(__name__)

# Languages with a template mail/class_credentials_<lang>.jinja2.
LANGUAGES = ("en", "fr")
FALLBACK_LANGUAGE = "en"
TEMPLATE = "mail/class_credentials_{lang}.jinja2"
BARE_LF = re.compile(rb"(?<!\r)\n")


@dataclass(frozen=True)
class CredentialsMail:
    recipient: str
    subject: str
    body: str


def supervisor_address(params: LaunchParams, wims_class: WimsClass) -> str:
    """Return the address of the class supervisor, as the class was created."""
    return (
        params.class_options.supervisor_email or params.person.email or wims_class.email
    )


def template_language(lang: str) -> str:
    return lang if lang in LANGUAGES else FALLBACK_LANGUAGE


class MailService:
    """Mail a new class's credentials to its supervisor, without waiting."""

    def __init__(
        self,
        mailer: Mailer | None,
        sender: str,
        render_template: Callable[[str, dict[str, Any]], str],
    ):
        self.mailer = mailer
        self.sender = sender
        self.render_template = render_template

    def send_class_credentials(
        self, wims_class: WimsClass, params: LaunchParams
    ) -> threading.Thread | None:
        """Start sending the credentials of ``wims_class``; return the thread.

        Return None when no mail is sent: no SMTP server is configured, or no
        address is known.
        """
        if self.mailer is None:
            log.info(
                "no mail.host configured: no credentials mail is sent for class %s",
                wims_class.qclass,
            )
            return None
        recipient = supervisor_address(params, wims_class)
        if not recipient:
            log.warning(
                "no address for the credentials mail of class %s", wims_class.qclass
            )
            return None
        try:
            mail = self.compose(wims_class, params, recipient)
            message = Message(
                subject=mail.subject,
                sender=self.sender,
                recipients=[mail.recipient],
                body=mail.body,
            )
        except Exception as error:  # the launch must go on
            log.warning(
                "credentials mail of class %s not composed: %s",
                wims_class.qclass,
                type(error).__name__,
            )
            return None
        thread = threading.Thread(
            target=self._send,
            args=(message, wims_class.qclass, wims_class.wims_server_id),
            name=f"mail-{wims_class.qclass}",
            daemon=True,
        )
        thread.start()
        return thread

    def compose(
        self, wims_class: WimsClass, params: LaunchParams, recipient: str
    ) -> CredentialsMail:
        """Render the mail in the class's language, English as the fallback."""
        lang = template_language(wims_class.lang)
        options = params.class_options
        text = self.render_template(
            TEMPLATE.format(lang=lang),
            {
                "wims_class": wims_class,
                "server": wims_class.wims_server,
                "lms": wims_class.lms,
                "firstname": options.supervisor_firstname or params.person.firstname,
                "lastname": options.supervisor_lastname or params.person.lastname,
            },
        )
        # The template's first line is the subject, the rest the body.
        subject, _, body = text.strip().partition("\n")
        return CredentialsMail(
            recipient=recipient, subject=subject.strip(), body=body.strip() + "\n"
        )

    def _send(self, message: Message, qclass: str, server_id: int) -> None:
        assert self.mailer is not None
        try:
            self.mailer.send_immediately(message)
        except Exception as error:  # no failure may escape a thread
            log.warning(
                "credentials mail of class %s (WIMS server %s) not sent: %s",
                qclass,
                server_id,
                failure_reason(error),
            )
            return
        log.info("credentials mail of class %s sent", qclass)


def failure_reason(error: BaseException) -> str:
    """Describe a sending failure in words that hold no address or message."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "the SMTP server refused the recipient"
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return f"SMTP {error.smtp_code} {text.splitlines()[0] if text else ''}".strip()
    # smtplib turns a read that timed out into SMTPServerDisconnected.
    if isinstance(error, TimeoutError) or "timed out" in str(error):
        return "the SMTP server did not answer in time"
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return "the SMTP server closed the connection"
    if isinstance(error, OSError):
        return f"{type(error).__name__}: {error.strerror or error}"
    return type(error).__name__


def connection_class(base: type[smtplib.SMTP], timeout: float) -> type[smtplib.SMTP]:
    """Return ``base`` with ``timeout`` and the CRLF line ends SMTP requires.

    repoze.sendmail hands smtplib the message as bytes with bare LF line
    ends, which smtplib sends unchanged: strict SMTP servers refuse them
    ("line too long", RFC 5321 4.5.3.1.6) or treat them as smuggling.
    """

    class Connection(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["timeout"] = timeout
            super().__init__(*args, **kwargs)

        def sendmail(self, from_addr, to_addrs, msg, *args, **kwargs):
            if isinstance(msg, bytes):
                msg = BARE_LF.sub(b"\r\n", msg)
            return super().sendmail(from_addr, to_addrs, msg, *args, **kwargs)

    return Connection


def factory(context: Any, request: Any) -> MailService:
    settings = request.registry.settings
    mailer = request.registry.getUtility(IMailer) if settings["mail.host"] else None
    return MailService(
        mailer,
        sender=settings["mail.default_sender"],
        render_template=lambda name, values: render(name, values, request=request),
    )


def includeme(config: Configurator) -> None:
    settings = config.get_settings()
    if settings["mail.host"] and not settings["mail.default_sender"]:
        raise SettingsError("setting mail.default_sender is required with mail.host")
    config.include("pyramid_mailer")
    mailer = config.registry.getUtility(IMailer)
    # repoze.sendmail connects with a fixed 10 s timeout and bare LFs; its
    # documented hook, the connection class, is given ours instead.
    smtp_mailer = mailer.smtp_mailer
    smtp_mailer.smtp = connection_class(
        type(smtp_mailer).smtp, settings["wimslti.mail_timeout"]
    )
    config.register_service_factory(factory, iface=MailService)
