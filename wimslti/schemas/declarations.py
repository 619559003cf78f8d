"""Colander schemas of the LMS and WIMS server declarations.

They validate the YAML files under ``config/`` and will generate the admin
forms, so titles and descriptions speak to a WIMS or Moodle administrator.
Error messages never repeat the value they refuse: some fields are secrets.
"""

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import colander
import sqlalchemy as sa

from wimslti.models import Lms, WimsServer
from wimslti.wims.client import CLASS_LIMIT_MAX, CLASS_LIMIT_MIN


def column_length(column: sa.ColumnElement[Any]) -> int:
    """Return the length declared for the string ``column``."""
    if not isinstance(column.type, sa.String) or column.type.length is None:
        raise TypeError(f"{column} is not a string column with a length")
    return column.type.length


LMS_KEY_LENGTH = column_length(Lms.__table__.c.key)
LMS_SECRET_LENGTH = column_length(Lms.__table__.c.secret)
LMS_GUID_LENGTH = column_length(Lms.__table__.c.guid)
LMS_NAME_LENGTH = column_length(Lms.__table__.c.name)
LMS_URL_LENGTH = column_length(Lms.__table__.c.url)
WIMS_NAME_LENGTH = column_length(WimsServer.__table__.c.name)
WIMS_URL_LENGTH = column_length(WimsServer.__table__.c.url)
WIMS_IDENT_LENGTH = column_length(WimsServer.__table__.c.ident)
WIMS_PASSWD_LENGTH = column_length(WimsServer.__table__.c.passwd)
WIMS_RCLASS_LENGTH = column_length(WimsServer.__table__.c.rclass)
WIMS_EMAIL_LENGTH = column_length(WimsServer.__table__.c.contact_email)

# The primary key is a 32-bit integer on every database we support.
MAX_WIMS_ID = 2**31 - 1
# The one range of class sizes: WIMS puts a class of more than 500 back to 30.
CLASS_LIMIT_RANGE = (CLASS_LIMIT_MIN, CLASS_LIMIT_MAX)
# WIMS's own class creation form offers expiration dates up to "1 years
# 3 months" ahead (adm/class/regclass); 454 days fits in that span whatever
# the day of creation.
CLASS_LIFETIME_RANGE = (1, 454)

# Connection files and rclass are single words in WIMS: a space, "/" or "+"
# would break class_connections=+ident/rclass+.
WORD_PATTERN = re.compile(r"[A-Za-z0-9_-]+")


class Text(colander.String):
    """A text value; numbers and booleans are refused instead of converted.

    YAML reads ``secret: 0123`` as the number 83, so a value that is not
    already text is an error asking for quotes, never a silent conversion.
    """

    def __init__(self, strip: bool = True) -> None:
        super().__init__()
        self.strip = strip

    def deserialize(self, node: colander.SchemaNode, cstruct: Any) -> Any:
        if cstruct is colander.null or cstruct is None:
            return colander.null
        if not isinstance(cstruct, str):
            raise colander.Invalid(node, "must be text (put the value in quotes)")
        value = cstruct.strip() if self.strip else cstruct
        return value if value.strip() else colander.null


class Integer(colander.Int):
    """A whole number, written as a number or as digits (from ``${VAR}``)."""

    def deserialize(self, node: colander.SchemaNode, cstruct: Any) -> Any:
        if cstruct is colander.null or cstruct is None or cstruct == "":
            return colander.null
        # bool is an int subclass: "class_limit: yes" must not become 1.
        if isinstance(cstruct, int) and not isinstance(cstruct, bool):
            return cstruct
        if isinstance(cstruct, str) and re.fullmatch(r"\s*[+-]?\d+\s*", cstruct):
            return int(cstruct)
        raise colander.Invalid(node, "must be a whole number")


class StrictMapping(colander.Mapping):
    """A mapping that names its unknown fields, without showing their values."""

    def __init__(self) -> None:
        super().__init__(unknown="ignore")

    def deserialize(self, node: colander.SchemaNode, cstruct: Any) -> Any:
        if cstruct is colander.null:
            return super().deserialize(node, cstruct)
        if not isinstance(cstruct, dict):
            raise colander.Invalid(node, "must be a mapping of field: value lines")
        known = {child.name for child in node.children}
        unknown = sorted(str(name) for name in cstruct if name not in known)
        message = None
        if unknown:
            names = ", ".join(child.name for child in node.children)
            message = f"unknown field {', '.join(unknown)} (known fields: {names})"
        try:
            appstruct = super().deserialize(node, cstruct)
        except colander.Invalid as error:
            if message:
                error.msg = message
            raise
        if message:
            raise colander.Invalid(node, message)
        return appstruct


class TextList(colander.Sequence):
    """A list of texts; an empty value is an empty list."""

    def __init__(self) -> None:
        super().__init__(accept_scalar=False)

    def deserialize(self, node: colander.SchemaNode, cstruct: Any) -> Any:
        if cstruct is colander.null or cstruct is None:
            return colander.null
        if isinstance(cstruct, str) or not isinstance(cstruct, (list, tuple)):
            raise colander.Invalid(node, "must be a list, one item a line: - item")
        return super().deserialize(node, cstruct)


def _normalise_url(value: Any) -> Any:
    """Lower-case the scheme and host, which are case-insensitive."""
    if not isinstance(value, str):
        return value
    parts = urlsplit(value)
    return urlunsplit(
        parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower())
    )


def _has_valid_port(value: str) -> bool:
    try:
        port = urlsplit(value).port
    except ValueError:
        return False
    return port is None or port > 0


def _check_web_url(node: colander.SchemaNode, value: str) -> None:
    parts = urlsplit(value)
    if not _has_valid_port(value):
        raise colander.Invalid(node, "has an invalid port number")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise colander.Invalid(node, "must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None:
        raise colander.Invalid(node, "must not contain a user name or password")


def lms_url(node: colander.SchemaNode, value: str) -> None:
    """Check ``value`` is an http or https URL."""
    colander.Length(max=LMS_URL_LENGTH)(node, value)
    _check_web_url(node, value)


def wims_cgi_url(node: colander.SchemaNode, value: str) -> None:
    """Check ``value`` is the http or https URL of a WIMS ``wims.cgi``."""
    colander.Length(max=WIMS_URL_LENGTH)(node, value)
    _check_web_url(node, value)
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise colander.Invalid(node, "must not have a ?query or a #fragment")
    # "…/wims.cgi/" makes WIMS build home URLs ending in wims.cgi/wims.cgi.
    if not parts.path.endswith(".cgi"):
        raise colander.Invalid(
            node,
            "must be the URL of wims.cgi itself, without a trailing slash, "
            "e.g. https://wims.example.org/wims/wims.cgi",
        )


def wims_word(node: colander.SchemaNode, value: str) -> None:
    """Check ``value`` is one WIMS word: letters, digits, ``_`` and ``-``."""
    if not WORD_PATTERN.fullmatch(value):
        raise colander.Invalid(
            node, "must contain only letters, digits, '_' and '-' (no spaces)"
        )


def no_duplicates(node: colander.SchemaNode, value: Iterable[str]) -> None:
    """Check no item of the list ``value`` is given twice."""
    seen: set[str] = set()
    twice = []
    for item in value:
        if item in seen and item not in twice:
            twice.append(item)
        seen.add(item)
    if twice:
        raise colander.Invalid(node, f"lists {', '.join(twice)} more than once")


def _length(maximum: int) -> colander.Length:
    return colander.Length(
        min=1, max=maximum, max_err="must be at most ${max} characters long"
    )


def _range(bounds: tuple[int, int]) -> colander.Range:
    return colander.Range(
        min=bounds[0],
        max=bounds[1],
        min_err="must be at least ${min}",
        max_err="must be at most ${max}",
    )


class LmsSchema(colander.MappingSchema):
    """A learning platform allowed to launch the gateway with LTI 1.1."""

    schema_type = StrictMapping

    key = colander.SchemaNode(
        Text(),
        validator=_length(LMS_KEY_LENGTH),
        title="Consumer key",
        description=(
            "The LTI consumer key the LMS signs its launches with: in Moodle the "
            "'Consumer key' of the external tool, in Canvas the 'Consumer Key' "
            "of the app. It identifies the LMS, so it must be unique."
        ),
    )
    secret = colander.SchemaNode(
        Text(strip=False),
        validator=_length(LMS_SECRET_LENGTH),
        title="Shared secret",
        description=(
            "The LTI shared secret paired with the consumer key (Moodle: "
            "'Shared secret'). Keep it out of the files with ${ENV_VAR}."
        ),
    )
    guid = colander.SchemaNode(
        Text(),
        validator=_length(LMS_GUID_LENGTH),
        missing=None,
        title="Instance GUID",
        description=(
            "The tool_consumer_instance_guid the LMS sends in its launches; "
            "Moodle sends its host name, e.g. moodle.example.edu. Optional: "
            "the LMS is found by its consumer key."
        ),
    )
    name = colander.SchemaNode(
        Text(),
        validator=_length(LMS_NAME_LENGTH),
        title="Name",
        description="The name shown to administrators, e.g. 'Moodle of UCA'.",
    )
    url = colander.SchemaNode(
        Text(),
        preparer=_normalise_url,
        validator=lms_url,
        missing=None,
        title="Address",
        description="The home page of the LMS, e.g. https://moodle.example.edu/.",
    )


class AllowedLmsSchema(colander.SequenceSchema):
    """The consumer keys of the LMSs that may use a WIMS server."""

    schema_type = TextList

    key = colander.SchemaNode(Text(), validator=_length(LMS_KEY_LENGTH))


class WimsServerSchema(colander.MappingSchema):
    """A WIMS server reached through its adm/raw module."""

    schema_type = StrictMapping

    id = colander.SchemaNode(
        Integer(),
        validator=_range((1, MAX_WIMS_ID)),
        missing=None,
        title="Number",
        description=(
            "The number in the launch URLs /lti/C<number>/ of this server. It "
            "never changes once given; leave it out and the gateway picks a "
            "new one, but give it explicitly once LMS activities use it."
        ),
    )
    name = colander.SchemaNode(
        Text(),
        validator=_length(WIMS_NAME_LENGTH),
        title="Name",
        description="The name shown to administrators and teachers.",
    )
    url = colander.SchemaNode(
        Text(),
        preparer=_normalise_url,
        validator=wims_cgi_url,
        title="wims.cgi address",
        description=(
            "The http or https URL of the server's wims.cgi, e.g. "
            "https://wims.example.org/wims/wims.cgi (no trailing slash)."
        ),
    )
    ident = colander.SchemaNode(
        Text(),
        validator=colander.All(_length(WIMS_IDENT_LENGTH), wims_word),
        title="Connection ident",
        description=(
            "The name of the connection file in log/classes/.connections/ on "
            "the WIMS server, e.g. 'wimslti' for "
            "log/classes/.connections/wimslti. Its ident_site must list the "
            "address of this gateway."
        ),
    )
    passwd = colander.SchemaNode(
        Text(strip=False),
        validator=_length(WIMS_PASSWD_LENGTH),
        title="Connection password",
        description=(
            "The ident_password of that connection file. Keep it out of the "
            "files with ${ENV_VAR}."
        ),
    )
    rclass = colander.SchemaNode(
        Text(),
        validator=colander.All(_length(WIMS_RCLASS_LENGTH), wims_word),
        title="Class identifier (rclass)",
        description=(
            "The identifier of the classes this gateway creates on the server: "
            "they get class_connections=+ident/rclass+, and adm/raw only lets "
            "this ident reach classes connected with this rclass."
        ),
    )
    class_limit = colander.SchemaNode(
        Integer(),
        validator=_range(CLASS_LIMIT_RANGE),
        missing=150,
        default=150,
        title="Participants per class",
        description=(
            "The default maximum number of participants of a class the gateway "
            "creates (class_limit), at most 500. WIMS also caps it with its "
            "own class_user_limit (log/wims.conf)."
        ),
    )
    class_lifetime_days = colander.SchemaNode(
        Integer(),
        validator=_range(CLASS_LIFETIME_RANGE),
        missing=365,
        default=365,
        title="Class lifetime (days)",
        description=(
            "How many days after its creation a class expires "
            "(class_expiration). WIMS itself offers at most one year and three "
            "months."
        ),
    )
    allowed_lms = AllowedLmsSchema(
        missing=(),
        default=(),
        validator=no_duplicates,
        title="Allowed LMSs",
        description=(
            "The consumer keys of the LMSs whose courses may create classes on "
            "this server; any other LMS is refused."
        ),
    )
    contact_email = colander.SchemaNode(
        Text(),
        validator=colander.All(
            colander.Length(max=WIMS_EMAIL_LENGTH),
            colander.Email(msg="must be an e-mail address"),
        ),
        missing=None,
        title="Contact e-mail",
        description="The e-mail address of the people who run this WIMS server.",
    )
