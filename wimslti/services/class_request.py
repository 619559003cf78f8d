"""What a new WIMS class and its participants are made of, from a launch.

The class takes its name, institution, language and e-mail from the launch,
its custom parameters and the WIMS server's defaults; names the LMS hid are
replaced by placeholders, since WIMS wants a last name.
"""

import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from wimslti.i18n import _
from wimslti.lti.errors import InvalidLaunchParameters
from wimslti.lti.params import LaunchParams
from wimslti.models import Lms, WimsClass, WimsServer
from wimslti.wims import ClassInfo, SupervisorInfo, clean_value
from wimslti.wims.client import NAME_LIMIT

PASSWORD_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class PersonNames:
    firstname: str
    lastname: str

    @property
    def wims_firstname(self) -> str:
        return clean_value(self.firstname, NAME_LIMIT)

    @property
    def wims_lastname(self) -> str:
        return clean_value(self.lastname, NAME_LIMIT)


def person_names(params: LaunchParams, placeholder: str = "Student") -> PersonNames:
    """Return the names to give WIMS, with a placeholder when the LMS hid them."""
    person = params.person
    firstname, lastname = person.firstname, person.lastname
    if not lastname and person.email:
        lastname = person.email.partition("@")[0]
    if not lastname:
        digest = hashlib.sha256(person.user_id.encode()).hexdigest()[:6]
        lastname = f"{placeholder} {digest}"
    return PersonNames(firstname=firstname, lastname=lastname)


@dataclass(frozen=True)
class ClassRequest:
    """What ``addclass`` is sent, and the columns the class row keeps of it."""

    klass: ClassInfo
    supervisor: SupervisorInfo
    columns: dict[str, Any]


def class_request(
    params: LaunchParams, server: WimsServer, lms: Lms, now: datetime
) -> ClassRequest:
    """Build the new class from the launch, its custom parameters and defaults.

    :raises InvalidLaunchParameters: when no e-mail address is known for the
        class (WIMS refuses a class without one).
    """
    options = params.class_options
    email = (
        options.email
        or options.supervisor_email
        or params.person.email
        or server.contact_email
        or ""
    )
    if not email:
        raise InvalidLaunchParameters(
            [
                _(
                    "the WIMS class needs an e-mail address and the LMS shares "
                    "none: let the LMS share the teacher's e-mail, or add the "
                    "custom parameter class_email=… to the activity"
                )
            ]
        )
    names = person_names(params, placeholder="Teacher")
    columns: dict[str, Any] = {
        "name": options.name
        or params.context_title
        or params.context_label
        or f"Course {params.context_id}",
        "institution": options.institution or params.institution or lms.name,
        "lang": options.lang or params.lang,
        "email": email,
        "expiration": options.expiration
        or (now.date() + timedelta(days=server.class_lifetime_days)),
        "user_limit": options.limit or server.class_limit,
        "class_password": new_password(),
        "supervisor_password": new_password(),
    }
    supervisor = SupervisorInfo(
        lastname=options.supervisor_lastname or names.lastname or "Teacher",
        firstname=options.supervisor_firstname or names.firstname,
        password=columns["supervisor_password"],
        email=options.supervisor_email or params.person.email or email,
    )
    klass = _class_info(columns, supervisor, options.level, options.css)
    return ClassRequest(klass=klass, supervisor=supervisor, columns=columns)


def class_request_of(row: WimsClass, params: LaunchParams) -> ClassRequest:
    """Rebuild the ``addclass`` of a claimed class row, to send it again."""
    names = person_names(params, placeholder="Teacher")
    columns: dict[str, Any] = {
        "name": row.name,
        "institution": row.institution,
        "lang": row.lang,
        "email": row.email,
        "expiration": row.expiration,
        "user_limit": row.user_limit,
        "class_password": row.class_password,
        "supervisor_password": row.supervisor_password,
    }
    supervisor = SupervisorInfo(
        lastname=names.lastname or "Teacher",
        firstname=names.firstname,
        password=row.supervisor_password,
        email=params.person.email or row.email,
    )
    options = params.class_options
    klass = _class_info(columns, supervisor, options.level, options.css)
    return ClassRequest(klass=klass, supervisor=supervisor, columns=columns)


def _class_info(
    columns: dict[str, Any],
    supervisor: SupervisorInfo,
    level: str | None,
    css: str | None,
) -> ClassInfo:
    expiration: date = columns["expiration"]
    return ClassInfo(
        description=columns["name"],
        institution=columns["institution"],
        supervisor=f"{supervisor.firstname} {supervisor.lastname}".strip(),
        email=columns["email"],
        password=columns["class_password"],
        lang=columns["lang"],
        expiration=f"{expiration:%Y%m%d}",
        limit=columns["user_limit"],
        level=level,
        css=css,
    )


def new_password() -> str:
    # WIMS keeps only letters and digits of a password.
    return "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(12))
