"""The gateway's settings: one table of names, environment overrides and types."""

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyramid.settings import asbool, aslist

from wimslti.i18n import DEFAULT_LANGUAGE, TRANSLATED_LANGUAGES


class SettingsError(Exception):
    """A setting is missing or has a value that cannot be used."""


def _positive_float(value: Any) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError("must be greater than 0")
    return number


def _positive_int(value: Any) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError("must be greater than 0")
    return number


def _words(value: Any) -> list[str]:
    return aslist(value, flatten=True)


def _languages(value: Any) -> list[str]:
    languages = [language.lower() for language in _words(value)]
    unknown = [lang for lang in languages if lang not in TRANSLATED_LANGUAGES]
    if unknown:
        raise ValueError(
            f"no translation for {', '.join(unknown)} "
            f"(there are: {', '.join(TRANSLATED_LANGUAGES)})"
        )
    # English stays the language of last resort.
    return [DEFAULT_LANGUAGE, *(lang for lang in languages if lang != DEFAULT_LANGUAGE)]


# Long enough that the signature of the session cookie cannot be guessed.
SESSION_SECRET_MIN = 32


def _session_secret(value: Any) -> str:
    secret = str(value)
    # production.ini names the variable: an unset one stays unexpanded.
    unexpanded = re.fullmatch(r"\$\{(\w+)\}", secret.strip())
    if unexpanded:
        raise ValueError(f"the environment variable {unexpanded.group(1)} is not set")
    if len(secret) < SESSION_SECRET_MIN:
        raise ValueError(
            f"must be at least {SESSION_SECRET_MIN} characters long, e.g. the output "
            "of: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return secret


@dataclass(frozen=True)
class Setting:
    name: str
    coerce: Callable[[Any], Any] = str
    env: str | None = None
    default: Any = None
    required: bool = False
    # A secret's value is never repeated in an error message.
    secret: bool = False


SETTINGS = (
    Setting("sqlalchemy.url", env="WIMSLTI_DATABASE_URL", required=True),
    Setting("wimslti.config_dir", env="WIMSLTI_CONFIG_DIR", required=True),
    Setting("wimslti.wims_timeout", _positive_float, default=10.0),
    Setting("wimslti.lms_timeout", _positive_float, default=10.0),
    Setting("wimslti.oauth_window", _positive_int, default=600),
    # Roles (lower-case, without URN prefix) that may create and supervise a
    # class. A TeachingAssistant removed from here launches as a learner,
    # and the gateway says so in its log. Mentors (Canvas observers,
    # parents) are not teachers.
    Setting(
        "wimslti.teacher_roles",
        _words,
        default=[
            "instructor",
            "administrator",
            "staff",
            "contentdeveloper",
            "teachingassistant",
        ],
    ),
    # How long a launch waits for another launch that is creating the same
    # class or user, before it asks the person to try again.
    Setting("wimslti.claim_wait", _positive_float, default=8.0),
    # Proxies whose X-Forwarded-Proto/Host/Prefix headers are believed.
    Setting("wimslti.trusted_proxies", _words, default=[]),
    # The public base URL, when it is fixed: overrides what proxies say.
    Setting("wimslti.public_url", default=""),
    Setting("wimslti.sync_config_at_start", asbool, default=True),
    # The grade worker (docs/grades.md): every activity with grade links is
    # synced once per interval; a teacher's launch or a due retry is picked
    # up within the poll delay.
    Setting("wimslti.worker_interval", _positive_float, default=900.0),
    Setting("wimslti.worker_poll", _positive_float, default=5.0),
    # How many grades are sent to LMSs at the same time.
    Setting("wimslti.grade_pool_size", _positive_int, default=16),
    # Retries of a grade the LMS could not take: base * 2**n seconds, at most
    # the cap, and given up (the link is marked dead) after max_attempts.
    Setting("wimslti.grade_backoff_base", _positive_float, default=60.0),
    Setting("wimslti.grade_backoff_cap", _positive_float, default=900.0),
    Setting("wimslti.grade_max_attempts", _positive_int, default=100),
    # How long a worker's claim on an activity lasts without being renewed;
    # longer than wims_timeout + lms_timeout.
    Setting("wimslti.worker_lease", _positive_float, default=300.0),
    # getclassmodif is asked from this long before the last sync: WIMS reads
    # the date in its own time zone and writes scores up to a minute late.
    Setting("wimslti.wims_clock_margin", _positive_float, default=86400.0),
    # Signs the admin session cookie. Without one the web app makes a random
    # secret per process, so admin logins do not survive a restart.
    Setting(
        "wimslti.session_secret",
        _session_secret,
        env="WIMSLTI_SESSION_SECRET",
        default="",
        secret=True,
    ),
    # The languages of the pages for people (wimslti/i18n.py): the launch's
    # launch_presentation_locale or the browser's language when it is one of
    # these, else English: every language with a catalog unless narrowed.
    Setting(
        "wimslti.languages",
        _languages,
        env="WIMSLTI_LANGUAGES",
        default=list(TRANSLATED_LANGUAGES),
    ),
    # The translation domain of {% trans %} in the templates.
    Setting("jinja2.i18n.domain", default="wimslti"),
    # Send the session cookie over https only; false for http://127.0.0.1.
    Setting("wimslti.session_cookie_secure", asbool, default=True),
    # The SMTP server of the class credentials mail (pyramid_mailer's names);
    # without mail.host no mail is sent.
    Setting("mail.host", env="WIMSLTI_MAIL_HOST", default=""),
    Setting("mail.port", _positive_int, default=25),
    Setting("mail.username", default=""),
    Setting("mail.password", env="WIMSLTI_MAIL_PASSWORD", default="", secret=True),
    Setting("mail.tls", asbool, default=False),
    Setting("mail.ssl", asbool, default=False),
    Setting("mail.default_sender", env="WIMSLTI_MAIL_SENDER", default=""),
    # Seconds the mail thread waits for the SMTP server at each step.
    Setting("wimslti.mail_timeout", _positive_float, default=10.0),
)


def load_settings(raw: dict[str, Any], environ: dict[str, str]) -> dict[str, Any]:
    """Return ``raw`` with every known setting coerced, defaulted or overridden.

    :raises SettingsError: for a missing required setting or a bad value.
    """
    settings = dict(raw)
    for setting in SETTINGS:
        value = settings.get(setting.name)
        if setting.env and environ.get(setting.env):
            value = environ[setting.env]
        if value is None or value == "":
            if setting.required:
                raise SettingsError(f"setting {setting.name} is required")
            value = setting.default
        else:
            try:
                value = setting.coerce(value)
            except ValueError as error:
                shown = setting.name if setting.secret else f"{setting.name}={value!r}"
                raise SettingsError(f"setting {shown}: {error}") from error
        settings[setting.name] = value
    return settings
