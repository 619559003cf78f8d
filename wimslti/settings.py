"""The gateway's settings: one table of names, environment overrides and types."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyramid.settings import asbool, aslist


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


@dataclass(frozen=True)
class Setting:
    name: str
    coerce: Callable[[Any], Any] = str
    env: str | None = None
    default: Any = None
    required: bool = False


SETTINGS = (
    Setting("sqlalchemy.url", env="WIMSLTI_DATABASE_URL", required=True),
    Setting("wimslti.config_dir", env="WIMSLTI_CONFIG_DIR", required=True),
    Setting("wimslti.wims_timeout", _positive_float, default=10.0),
    Setting("wimslti.lms_timeout", _positive_float, default=10.0),
    Setting("wimslti.oauth_window", _positive_int, default=600),
    # Roles (lower-case, without URN prefix) that may create and supervise a
    # class. A TeachingAssistant removed from here launches as a learner,
    # and the gateway says so in its log.
    Setting(
        "wimslti.teacher_roles",
        _words,
        default=[
            "instructor",
            "administrator",
            "staff",
            "contentdeveloper",
            "teachingassistant",
            "mentor",
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
                raise SettingsError(
                    f"setting {setting.name}={value!r}: {error}"
                ) from error
        settings[setting.name] = value
    return settings
