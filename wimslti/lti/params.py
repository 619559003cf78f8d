"""Read and check the parameters of an LTI 1.1 basic launch.

Only what the gateway truly needs is mandatory: LMS privacy settings
(Canvas "anonymous", Moodle "do not share the launcher's name") may withhold
names and e-mail, and such launches must still work.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

from wimslti.i18n import _
from wimslti.lti.errors import InvalidLaunchParameters
from wimslti.lti.roles import Roles, parse_roles

MESSAGE_TYPE = "basic-lti-launch-request"
LTI_VERSION = "LTI-1p0"
REQUIRED = ("user_id", "context_id", "resource_link_id", "roles")
# Stored as keys: refused, not cut, when longer than their columns.
IDENTIFIERS = ("user_id", "context_id", "resource_link_id")

# Languages WIMS has interface translations for.
WIMS_LANGUAGES = ("en", "fr", "es", "it", "nl", "de", "cn", "ca", "si", "tw")
DEFAULT_LANGUAGE = "en"
# Class levels WIMS knows: primary E1-E6, secondary H1-H6, university U1-U5,
# graduate G, research R.
WIMS_LEVELS = (
    *(f"E{n}" for n in range(1, 7)),
    *(f"H{n}" for n in range(1, 7)),
    *(f"U{n}" for n in range(1, 6)),
    "G",
    "R",
)
CLASS_LIMIT_RANGE = (5, 500)
# A class expires at the latest this many days ahead (or the WIMS server's
# own class lifetime, when longer).
MAX_EXPIRATION_DAYS = 365
MAX_TEXT_LENGTH = 255
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CSS_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(frozen=True)
class ClassOptions:
    """What a teacher's first launch asks for the new WIMS class."""

    name: str | None = None
    institution: str | None = None
    email: str | None = None
    lang: str | None = None
    expiration: date | None = None
    limit: int | None = None
    level: str | None = None
    css: str | None = None
    supervisor_lastname: str | None = None
    supervisor_firstname: str | None = None
    supervisor_email: str | None = None


@dataclass(frozen=True)
class Person:
    """Who launched, with what the LMS chose to share."""

    user_id: str
    given: str = ""
    family: str = ""
    full: str = ""
    email: str = ""

    @property
    def firstname(self) -> str:
        if self.given or self.family:
            return self.given
        return self.full.rpartition(" ")[0] if " " in self.full.strip() else ""

    @property
    def lastname(self) -> str:
        if self.given or self.family:
            return self.family
        return self.full.strip().rpartition(" ")[2]


@dataclass(frozen=True)
class LaunchParams:
    consumer_key: str
    resource_link_id: str
    context_id: str
    person: Person
    roles: Roles
    raw_roles: str
    context_title: str = ""
    context_label: str = ""
    guid: str = ""
    institution: str = ""
    locale: str = ""
    return_url: str = ""
    outcome_url: str = ""
    sourcedid: str = ""
    class_options: ClassOptions = field(default_factory=ClassOptions)

    @property
    def lang(self) -> str:
        """The WIMS language matching ``launch_presentation_locale``."""
        return language_of(self.locale)

    @property
    def accepts_grades(self) -> bool:
        return bool(self.outcome_url and self.sourcedid)


def language_of(locale: str) -> str:
    """Map an LMS locale (``fr-FR``, ``en_US``, ``zh-TW``) to a WIMS language."""
    normalized = locale.strip().lower().replace("_", "-")
    if normalized in ("zh-tw", "zh-hant"):
        return "tw"
    code = normalized.split("-")[0]
    code = {"zh": "cn"}.get(code, code)
    return code if code in WIMS_LANGUAGES else DEFAULT_LANGUAGE


def return_url_of(params: Mapping[str, str]) -> str:
    """Return ``launch_presentation_return_url`` when it is a web URL."""
    url = params.get("launch_presentation_return_url", "").strip()
    return url if url.startswith(("http://", "https://")) else ""


def parse_launch(
    params: Mapping[str, str], *, today: date, max_lifetime_days: int = 0
) -> LaunchParams:
    """Check the launch parameters and return them typed.

    :raises InvalidLaunchParameters: naming every parameter that is wrong.
    """
    problems: list[str] = []
    if params.get("lti_message_type") != MESSAGE_TYPE:
        problems.append(
            _("lti_message_type must be ${value}", mapping={"value": MESSAGE_TYPE})
        )
    if params.get("lti_version") != LTI_VERSION:
        problems.append(
            _(
                "lti_version must be ${value} (LTI 1.0/1.1)",
                mapping={"value": LTI_VERSION},
            )
        )
    missing = [name for name in REQUIRED if not params.get(name, "").strip()]
    if missing:
        problems.append(_("missing ${names}", mapping={"names": ", ".join(missing)}))
    for name in IDENTIFIERS:
        if len(params.get(name, "").strip()) > MAX_TEXT_LENGTH:
            problems.append(_too_long(name))
    custom = _custom_parameters(params, problems)
    options = _class_options(custom, problems, today, max_lifetime_days)
    if problems:
        raise InvalidLaunchParameters(problems)

    def text(name: str) -> str:
        # What is only shown or passed on may be cut; identifiers were checked.
        return params.get(name, "").strip()[:MAX_TEXT_LENGTH]

    return LaunchParams(
        consumer_key=text("oauth_consumer_key"),
        resource_link_id=text("resource_link_id"),
        context_id=text("context_id"),
        person=Person(
            user_id=text("user_id"),
            given=text("lis_person_name_given"),
            family=text("lis_person_name_family"),
            full=text("lis_person_name_full"),
            email=text("lis_person_contact_email_primary"),
        ),
        roles=parse_roles(params["roles"]),
        raw_roles=params["roles"],
        context_title=text("context_title"),
        context_label=text("context_label"),
        guid=text("tool_consumer_instance_guid"),
        institution=text("tool_consumer_instance_description")
        or text("tool_consumer_instance_name"),
        locale=text("launch_presentation_locale"),
        return_url=return_url_of(params),
        outcome_url=params.get("lis_outcome_service_url", "").strip(),
        sourcedid=params.get("lis_result_sourcedid", ""),
        class_options=options,
    )


def _custom_parameters(params: Mapping[str, str], problems: list[str]) -> dict:
    """Return the custom parameters by lower-case name, without ``custom_``."""
    custom = {}
    doubled = []
    for name, value in params.items():
        lowered = name.lower()
        if lowered.startswith("custom_custom_"):
            doubled.append(name)
        elif lowered.startswith("custom_"):
            custom[lowered.removeprefix("custom_")] = value.strip()
    if doubled:
        # LTI 1.1 consumers add the custom_ prefix themselves; a teacher who
        # typed it in the LMS gets it twice.
        typed = ", ".join(name[len("custom_custom_") :] + "=…" for name in doubled)
        problems.append(
            _(
                "${names}: the custom_ prefix came twice; in the LMS, write the "
                "custom parameters without it (${typed}), the LMS adds custom_ "
                "itself",
                mapping={"names": ", ".join(doubled), "typed": typed},
            )
        )
    return custom


def _class_options(
    custom: dict[str, str], problems: list[str], today: date, max_lifetime_days: int
) -> ClassOptions:
    values: dict[str, object] = {}

    def check_text(name: str, field_name: str, pattern: re.Pattern | None = None):
        value = custom.get(name)
        if not value:
            return
        if len(value) > MAX_TEXT_LENGTH:
            problems.append(_too_long(f"custom_{name}"))
        elif pattern is not None and not pattern.match(value):
            problems.append(
                _(
                    "${name}=${value} is not ${what}",
                    mapping={
                        "name": "custom_" + name,
                        "value": repr(value),
                        "what": _WHAT[name],
                    },
                )
            )
        else:
            values[field_name] = value

    check_text("class_name", "name")
    check_text("class_institution", "institution")
    check_text("class_email", "email", EMAIL)
    check_text("class_css", "css", CSS_NAME)
    check_text("supervisor_lastname", "supervisor_lastname")
    check_text("supervisor_firstname", "supervisor_firstname")
    check_text("supervisor_email", "supervisor_email", EMAIL)

    def check_choice(name: str, field_name: str, choices: tuple[str, ...], what: str):
        value = custom.get(name)
        if not value:
            return
        chosen = next((c for c in choices if c.lower() == value.lower()), None)
        if chosen is None:
            problems.append(
                _(
                    "${name}=${value} is not ${what} (accepted: ${choices})",
                    mapping={
                        "name": "custom_" + name,
                        "value": repr(value),
                        "what": what,
                        "choices": ", ".join(choices),
                    },
                )
            )
        else:
            values[field_name] = chosen

    check_choice("class_lang", "lang", WIMS_LANGUAGES, _("a WIMS language"))
    check_choice("class_level", "level", WIMS_LEVELS, _("a WIMS level"))
    limit = custom.get("class_limit")
    if limit:
        low, high = CLASS_LIMIT_RANGE
        if limit.isdigit() and low <= int(limit) <= high:
            values["limit"] = int(limit)
        else:
            problems.append(
                _(
                    "custom_class_limit=${value} must be a whole number from "
                    "${low} to ${high}",
                    mapping={"value": repr(limit), "low": low, "high": high},
                )
            )
    expiration = custom.get("class_expiration")
    if expiration:
        latest = today + timedelta(days=max(MAX_EXPIRATION_DAYS, max_lifetime_days))
        parsed = _parse_date(expiration)
        if parsed is None or not today < parsed <= latest:
            problems.append(
                _(
                    "custom_class_expiration=${value} must be a date written "
                    "yyyymmdd, after today and at the latest ${latest}",
                    mapping={
                        "value": repr(expiration),
                        "latest": latest.strftime("%Y%m%d"),
                    },
                )
            )
        else:
            values["expiration"] = parsed
    return ClassOptions(**values)  # type: ignore[arg-type]


_WHAT = {
    "class_email": _("a valid e-mail address"),
    "supervisor_email": _("a valid e-mail address"),
    "class_css": _("a valid CSS name (letters, digits, _ . -)"),
}


def _too_long(name: str) -> str:
    return _(
        "${name} is longer than ${limit} characters",
        mapping={"name": name, "limit": MAX_TEXT_LENGTH},
    )


def _parse_date(value: str) -> date | None:
    if not re.fullmatch(r"\d{8}", value):
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None
