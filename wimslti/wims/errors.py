"""Errors raised by the WIMS adm/raw client.

The message of an adm/raw refusal is WIMS's own text, kept verbatim; the
subclass is picked from that text (see ``refusal``).
"""

import re


class WimsError(Exception):
    """Base class of every error of the adm/raw client."""

    def __init__(self, message: str, *, job: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.job = job

    def __str__(self) -> str:
        if self.job:
            return f"{self.job}: {self.message}"
        return self.message


class WimsRefused(WimsError):
    """adm/raw answered with status ERROR."""


class ClassNotFound(WimsRefused):
    """The class does not exist (never created, deleted or expired)."""


class ClassNotConnected(WimsRefused):
    """The class exists but does not accept our ident/rclass."""


class ClassExists(WimsRefused):
    """addclass was given a qclass that is already a class of ours."""


class UserNotFound(WimsRefused):
    """The login is not (or no longer) a user of the class."""


class UserExists(WimsRefused):
    """adduser was given a login that is already used in the class."""


class DeletedUserFound(WimsRefused):
    """adduser was given a login that is in the class trash; use recuser."""


class ItemNotFound(WimsRefused):
    """The sheet or exam does not exist in the class."""


class SheetNotActive(WimsRefused):
    """Scores were asked for a sheet that is not active."""


class IdentificationFailure(WimsRefused):
    """WIMS refused our ident, password, User-Agent, IP or protocol."""


class InvalidLogin(WimsRefused):
    """WIMS refused a login name (``supervisor`` or wrong length)."""


class WimsUnavailable(WimsError):
    """WIMS cannot answer now (busy, down, unreachable); retry later."""


class WimsTimeout(WimsUnavailable):
    """WIMS did not answer within the client timeout."""


class WimsRejectedRequest(WimsError):
    """WIMS rejected the request itself (HTTP 450): it should never be sent."""


class WimsProtocolError(WimsError):
    """The answer cannot be understood at all."""


# Each pattern matches a whole message as WIMS 4.15a writes it (NOTES.md);
# the first match wins.
_REFUSALS: tuple[tuple[re.Pattern[str], type[WimsRefused]], ...] = (
    (re.compile(r"class \S+ not existing"), ClassNotFound),
    (re.compile(r"connection refused by requested class \(.*\)"), ClassNotConnected),
    (re.compile(r"class \S+ already exists"), ClassExists),
    (re.compile(r"user .* not in this class \(.*\)"), UserNotFound),
    (re.compile(r"user already exists in this class \(.*\)"), UserExists),
    (re.compile(r"Deleted user found\. Use Recuser instead\."), DeletedUserFound),
    (
        re.compile(
            r"element #\S* of type (sheet|exam) does not exist in this class.*",
        ),
        ItemNotFound,
    ),
    (re.compile(r"Sheet #\S* must be active"), SheetNotActive),
    (re.compile(r"identification failure.*", re.IGNORECASE), IdentificationFailure),
    (re.compile(r"login name must not be .*"), InvalidLogin),
)


def refusal(message: str, *, job: str | None = None) -> WimsRefused:
    """Return the WimsRefused subclass instance that matches a WIMS message."""
    text = message.strip()
    for pattern, error_class in _REFUSALS:
        if pattern.fullmatch(text):
            return error_class(message, job=job)
    return WimsRefused(message, job=job)
