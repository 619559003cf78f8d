"""Explain a launch: what the LMS sent, and what a real launch would decide.

The diagnostic launch (``/lti/test/``) runs the checks of ``LaunchVerifier``
and ``parse_launch`` without stopping at the first failure and without
recording anything: the nonce is looked up in the nonce table, never
stored, so a diagnostic uses up no real launch. When the signature does not
verify against the URL the gateway sees, the URLs the LMS most likely signed
instead are tried — the other scheme, the host and path a proxy forwarded,
the path with or without its trailing slash — and the one that verifies
names the cause (case C09 of the failure cases).
"""

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any
from urllib.parse import SplitResult, urlsplit

import sqlalchemy as sa
from oauthlib.common import Request as OAuthRequest
from oauthlib.oauth1.rfc5849 import SIGNATURE_HMAC_SHA1, signature
from sqlalchemy.orm import Session

from wimslti.i18n import Joined, _
from wimslti.lti.errors import InvalidLaunchParameters
from wimslti.lti.oauth import OAUTH_REQUIRED, SignedRequest
from wimslti.lti.params import parse_launch
from wimslti.lti.roles import parse_roles
from wimslti.models import Lms, OAuthNonce, WimsServer

HIDDEN = "(hidden)"
# Parameters whose value is never shown: the signature, and whatever an LMS
# sends under a name that says it is secret.
HIDDEN_WORDS = ("secret", "password", "passwd")
# An offset this large is worth telling even inside the window.
NOTABLE_OFFSET = 30


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"
    # Could not be checked, because an earlier check failed.
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Check:
    """One question a real launch asks, and its answer for this launch.

    ``summary`` and ``hint`` are translation strings (or ``Joined`` ones).
    """

    name: str
    status: Status
    summary: Any
    hint: Any = ""

    @property
    def refuses(self) -> bool:
        return self.status in (Status.FAILED, Status.UNKNOWN)


@dataclass(frozen=True)
class Diagnosis:
    params: list[tuple[str, str]]
    consumer_key: str
    guid: str
    checks: list[Check]
    checked_url: str
    # The URL that verifies instead of ``checked_url``, when one does.
    signed_url: str = ""
    offset: int | None = None
    lms: Lms | None = None
    authenticated: bool = False
    teacher: bool | None = None
    servers: list[WimsServer] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not any(check.refuses for check in self.checks)

    @property
    def refusal(self) -> Check | None:
        return next((check for check in self.checks if check.refuses), None)


@dataclass(frozen=True)
class ProxyContext:
    """What the gateway knows of the proxies between the LMS and itself."""

    peer_trusted: bool
    public_url: str = ""


def shown_params(fields: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Return the fields as received, with the signature and secrets hidden."""
    return [(name, HIDDEN if _hidden(name) else value) for name, value in fields]


def _hidden(name: str) -> bool:
    lowered = name.lower()
    return lowered == "oauth_signature" or any(w in lowered for w in HIDDEN_WORDS)


def signature_verifies(
    url: str, method: str, fields: Sequence[tuple[str, str]], secret: str
) -> bool:
    """Tell whether the launch's HMAC-SHA1 signature holds for ``url``."""
    given = dict(fields).get("oauth_signature", "")
    request = OAuthRequest(url, method)
    request.params = signature.collect_parameters(
        uri_query=urlsplit(url).query, body=list(fields)
    )
    request.signature = given
    return signature.verify_hmac_sha1(request, secret)


class LaunchDiagnosis:
    """Tell what the gateway makes of a launch, and why."""

    def __init__(
        self,
        dbsession: Session,
        window: int,
        teacher_roles: list[str],
        clock: Callable[[], float] = time.time,
        today: Callable[[], date] = date.today,
    ):
        self.dbsession = dbsession
        self.window = window
        self.teacher_roles = teacher_roles
        self.clock = clock
        self.today = today

    def diagnose(
        self, signed: SignedRequest, proxy: ProxyContext, utf8: bool = True
    ) -> Diagnosis:
        """Return the diagnosis of ``signed``; nothing is written anywhere.

        ``utf8`` tells whether the form data was valid UTF-8: otherwise the
        values were decoded with replacement characters.
        """
        form = dict(signed.params)
        key = form.get("oauth_consumer_key", "")
        guid = form.get("tool_consumer_instance_guid", "").strip()
        checks: list[Check] = []
        if not utf8:
            checks.append(
                Check(
                    "encoding",
                    Status.FAILED,
                    _(
                        "The launch's form data is not valid UTF-8: the values "
                        "shown have replacement characters (�) and the "
                        "signature cannot verify."
                    ),
                    _(
                        "LTI 1.1 launches are sent as UTF-8: check the "
                        "character set settings of the LMS."
                    ),
                )
            )

        lms, key_check = self._key(key)
        checks.append(key_check)
        sig_check, signed_url = self._signature(signed, form, lms, proxy)
        checks.append(sig_check)
        authenticated = sig_check.status is Status.OK
        offset, time_check = self._timestamp(form.get("oauth_timestamp", ""))
        checks.append(time_check)
        checks.append(self._nonce(form, lms is not None))
        checks.append(self._guid(lms, guid, authenticated))
        checks.append(self._parameters(form))

        teacher = None
        if form.get("roles"):
            teacher = parse_roles(form["roles"]).is_teacher(self.teacher_roles)
        servers = self._servers(lms) if authenticated and lms is not None else []
        return Diagnosis(
            params=shown_params(signed.params),
            consumer_key=key,
            guid=guid,
            checks=checks,
            checked_url=signed.url,
            signed_url=signed_url,
            offset=offset,
            lms=lms,
            authenticated=authenticated,
            teacher=teacher,
            servers=servers,
        )

    # -- the checks, in the order a real launch makes them ------------------

    def _key(self, key: str) -> tuple[Lms | None, Check]:
        if not key:
            return None, Check(
                "key", Status.FAILED, _("The launch has no consumer key.")
            )
        lms = self.dbsession.scalars(sa.select(Lms).where(Lms.key == key)).first()
        if lms is None:
            return None, Check(
                "key",
                Status.FAILED,
                _(
                    "The consumer key ${key} is not known to the gateway.",
                    mapping={"key": repr(key)},
                ),
                _(
                    "Check the key typed in the LMS (no space before or after), "
                    "or ask the gateway's administrator to declare this LMS "
                    "with it."
                ),
            )
        if not lms.is_active:
            return None, Check(
                "key",
                Status.FAILED,
                _(
                    "The consumer key ${key} belongs to an LMS the gateway no "
                    "longer serves (retired).",
                    mapping={"key": repr(key)},
                ),
                _("Ask the gateway's administrator to declare it again."),
            )
        return lms, Check(
            "key",
            Status.OK,
            _(
                "The consumer key ${key} is the one of ${name}.",
                mapping={"key": repr(key), "name": lms.name},
            ),
        )

    def _signature(
        self,
        signed: SignedRequest,
        form: dict[str, str],
        lms: Lms | None,
        proxy: ProxyContext,
    ) -> tuple[Check, str]:
        missing = [name for name in OAUTH_REQUIRED if not form.get(name)]
        if missing:
            return Check(
                "signature",
                Status.FAILED,
                _(
                    "The launch is not signed: ${names} missing.",
                    mapping={"names": ", ".join(missing)},
                ),
                _(
                    "The LMS must send an LTI 1.0/1.1 launch signed with the "
                    "consumer key and secret."
                ),
            ), ""
        method = form["oauth_signature_method"]
        if method != SIGNATURE_HMAC_SHA1:
            return Check(
                "signature",
                Status.FAILED,
                _(
                    "The launch is signed with ${method}; LTI 1.1 and the "
                    "gateway use HMAC-SHA1.",
                    mapping={"method": method},
                ),
            ), ""
        if lms is None:
            return Check(
                "signature",
                Status.UNKNOWN,
                _("The signature cannot be checked without a known consumer key."),
            ), ""
        if signature_verifies(signed.url, signed.method, signed.params, lms.secret):
            return Check(
                "signature",
                Status.OK,
                _("The signature verifies for ${url}.", mapping={"url": signed.url}),
            ), ""
        seen = urlsplit(signed.url)
        for candidate in _candidate_urls(seen, signed.headers):
            url = candidate.geturl()
            if signature_verifies(url, signed.method, signed.params, lms.secret):
                summary, hint = _explain(seen, candidate, signed.headers, proxy)
                return Check("signature", Status.FAILED, summary, hint), url
        return Check(
            "signature",
            Status.FAILED,
            _(
                "The signature does not verify for ${url}, nor for the other "
                "URLs the LMS may have signed (http/https, with or without the "
                "trailing slash, the host a proxy forwarded).",
                mapping={"url": signed.url},
            ),
            _(
                "Most likely the shared secret typed in the LMS is not the one "
                "declared for the key ${key} (look for a space copied along "
                "with it). Otherwise a proxy rewrites the URL without saying "
                "so: set wimslti.public_url to the public base URL of the "
                "gateway.",
                mapping={"key": repr(lms.key)},
            ),
        ), ""

    def _timestamp(self, timestamp: str) -> tuple[int | None, Check]:
        if not timestamp.isdigit():
            return None, Check(
                "timestamp",
                Status.FAILED,
                _("The oauth_timestamp is missing or invalid."),
            )
        offset = int(timestamp) - int(self.clock())
        if abs(offset) > self.window:
            return offset, Check(
                "timestamp",
                Status.FAILED,
                _(
                    "Clock skew: the LMS's oauth_timestamp is ${offset} s from "
                    "the gateway's clock, outside the ±${window} s a launch may "
                    "be off.",
                    mapping={"offset": format(offset, "+d"), "window": self.window},
                ),
                _(
                    "Set the clocks of the LMS server and of the gateway by "
                    "NTP. A launch page left open that long and then submitted "
                    "looks the same: launch again from the LMS."
                ),
            )
        status = Status.WARNING if abs(offset) > NOTABLE_OFFSET else Status.OK
        return offset, Check(
            "timestamp",
            status,
            _(
                "The LMS's clock is ${offset} s from the gateway's (allowed: "
                "±${window} s).",
                mapping={"offset": format(offset, "+d"), "window": self.window},
            ),
        )

    def _nonce(self, form: dict[str, str], key_known: bool) -> Check:
        nonce = form.get("oauth_nonce", "")
        timestamp = form.get("oauth_timestamp", "")
        if not (key_known and nonce and timestamp.isdigit()):
            return Check("nonce", Status.UNKNOWN, _("The nonce was not checked."))
        used = self.dbsession.scalars(
            sa.select(OAuthNonce.id).where(
                OAuthNonce.consumer_key == form["oauth_consumer_key"],
                OAuthNonce.nonce == nonce,
                OAuthNonce.timestamp == int(timestamp),
            )
        ).first()
        if used is not None:
            return Check(
                "nonce",
                Status.FAILED,
                _(
                    "Reused nonce: a launch with this very oauth_nonce was "
                    "already accepted, so a real launch would be refused as a "
                    "replay."
                ),
                _(
                    "The browser or the LMS sent an old launch again (reload, "
                    "back button, double click): launch again from the LMS."
                ),
            )
        return Check(
            "nonce",
            Status.OK,
            _(
                "The nonce was not used before (a diagnostic launch does not "
                "use it up)."
            ),
        )

    def _guid(self, lms: Lms | None, guid: str, authenticated: bool) -> Check:
        if lms is None:
            return Check("guid", Status.UNKNOWN, _("The LMS is not known."))
        if not guid:
            return Check(
                "guid",
                Status.OK,
                _(
                    "The LMS sends no tool_consumer_instance_guid: the consumer "
                    "key alone tells the LMS."
                ),
            )
        if not lms.guid:
            return Check(
                "guid",
                Status.WARNING,
                _("${name} is declared without a GUID.", mapping={"name": lms.name}),
                _(
                    "Declare guid: ${guid} for the key ${key}.",
                    mapping={"guid": guid, "key": repr(lms.key)},
                ),
            )
        if guid == lms.guid:
            return Check(
                "guid",
                Status.OK,
                _(
                    "The GUID ${guid} is the one declared.",
                    mapping={"guid": repr(guid)},
                ),
            )
        other = None
        if authenticated:
            other = self.dbsession.scalars(
                sa.select(Lms).where(Lms.guid == guid, Lms.id != lms.id)
            ).first()
        if other is not None:
            return Check(
                "guid",
                Status.FAILED,
                _(
                    "The GUID ${guid} is the one of another LMS (${name}): a "
                    "real launch is refused when the key of one LMS claims "
                    "another.",
                    mapping={"guid": repr(guid), "name": other.name},
                ),
                _("Use the consumer key of that LMS in it."),
            )
        return Check(
            "guid",
            Status.WARNING,
            _(
                "The GUID ${guid} differs from the one declared (${declared}); "
                "a real launch goes on (the key decides) and the gateway logs a "
                "warning.",
                mapping={"guid": repr(guid), "declared": repr(lms.guid)},
            ),
            _(
                "If the LMS moved to a new address, declare guid: ${guid}.",
                mapping={"guid": guid},
            ),
        )

    def _parameters(self, form: dict[str, str]) -> Check:
        try:
            parse_launch(form, today=self.today())
        except InvalidLaunchParameters as error:
            return Check(
                "parameters",
                Status.FAILED,
                _(
                    "The launch parameters would be refused: ${problems}.",
                    mapping={"problems": Joined(error.translatable_problems, "; ")},
                ),
            )
        return Check(
            "parameters", Status.OK, _("The launch parameters are all usable.")
        )

    def _servers(self, lms: Lms) -> list[WimsServer]:
        servers = self.dbsession.scalars(
            sa.select(WimsServer)
            .where(WimsServer.retired_at.is_(None))
            .order_by(WimsServer.id)
        ).all()
        return [server for server in servers if server.allows(lms)]


def _candidate_urls(
    seen: SplitResult, headers: dict[str, str]
) -> Iterator[SplitResult]:
    """Yield the URLs the LMS may have signed instead of ``seen``, likeliest first."""
    lowered = {name.lower(): value for name, value in headers.items()}
    bases = [seen]
    forwarded = _forwarded(seen, lowered)
    if forwarded != seen:
        bases.append(forwarded)
    host, _, port = seen.netloc.rpartition(":")
    if host and port.isdigit():
        # A proxy on another port: the LMS signed the host alone.
        bases.append(seen._replace(netloc=host))
    tried = {seen}
    for base in bases:
        for scheme in (base.scheme, _other_scheme(base.scheme)):
            for path in (base.path, _toggle_slash(base.path)):
                candidate = base._replace(scheme=scheme, path=path)
                if candidate not in tried:
                    tried.add(candidate)
                    yield candidate


def _forwarded(seen: SplitResult, headers: dict[str, str]) -> SplitResult:
    """Return ``seen`` as the forwarding headers of a proxy describe it."""
    proto = _first(headers.get("x-forwarded-proto"))
    host = _first(headers.get("x-forwarded-host"))
    port = _first(headers.get("x-forwarded-port"))
    prefix = _first(headers.get("x-forwarded-prefix")).strip("/")
    original = _first(
        headers.get("x-original-uri") or headers.get("x-forwarded-uri")
    ).split("?")[0]
    url = seen
    if proto in ("http", "https"):
        url = url._replace(scheme=proto)
    if host:
        url = url._replace(netloc=host)
    if port.isdigit() and ":" not in url.netloc:
        url = url._replace(netloc=f"{url.netloc}:{port}")
    if original.startswith("/"):
        url = url._replace(path=original)
    elif prefix and not seen.path.startswith(f"/{prefix}/"):
        url = url._replace(path=f"/{prefix}{seen.path}")
    return url


def _explain(
    seen: SplitResult,
    signed: SplitResult,
    headers: dict[str, str],
    proxy: ProxyContext,
) -> tuple[Any, Any]:
    """Say why the LMS signed ``signed`` and the gateway saw ``seen``."""
    causes = []
    hints = []
    if signed.scheme != seen.scheme:
        causes.append(
            _(
                "http vs https: the LMS signed the launch for ${signed}:// and "
                "the gateway received it as ${seen}://",
                mapping={"signed": signed.scheme, "seen": seen.scheme},
            )
        )
        if signed.scheme == "https":
            hints.append(
                _(
                    "A proxy terminates TLS without telling the gateway: it must "
                    "send X-Forwarded-Proto: https from an address in "
                    "wimslti.trusted_proxies, or set wimslti.public_url."
                )
            )
        else:
            hints.append(
                _(
                    "Write the tool URL in the LMS with https:// (${url}).",
                    mapping={"url": seen._replace(query="").geturl()},
                )
            )
    if signed.netloc.lower() != seen.netloc.lower():
        causes.append(
            _(
                "a proxy changes the host: the LMS signed for ${signed} and the "
                "gateway saw ${seen}",
                mapping={"signed": signed.netloc, "seen": seen.netloc},
            )
        )
    if _strip_slash(signed.path) != _strip_slash(seen.path):
        causes.append(
            _(
                "a proxy changes the path: the LMS signed ${signed} and the "
                "gateway saw ${seen}",
                mapping={"signed": signed.path, "seen": seen.path},
            )
        )
    elif signed.path != seen.path:
        causes.append(
            _(
                "trailing slash: the LMS signed ${signed} and the launch arrived "
                "at ${seen}",
                mapping={"signed": signed.path, "seen": seen.path},
            )
        )
        hints.append(
            _(
                "Something in front of the gateway adds or removes the slash (a "
                "redirect or a rewrite rule): write the URL in the LMS exactly as "
                "the gateway's page of launch URLs gives it, with its slash, and "
                "let the proxy pass the path unchanged."
            )
        )
    if signed.netloc.lower() != seen.netloc.lower() or _strip_slash(
        signed.path
    ) != _strip_slash(seen.path):
        forwarded = any(name.lower().startswith("x-forwarded-") for name in headers)
        if forwarded and not proxy.peer_trusted:
            hints.append(
                _(
                    "The proxy sends X-Forwarded-* headers, but its address is "
                    "not in wimslti.trusted_proxies, so the gateway does not "
                    "believe them: add it there."
                )
            )
        elif proxy.public_url:
            hints.append(
                _(
                    "wimslti.public_url is ${url}: make it the base URL the LMS uses.",
                    mapping={"url": proxy.public_url},
                )
            )
        else:
            hints.append(
                _(
                    "Let the proxy send X-Forwarded-Host (and X-Forwarded-Prefix "
                    "for a sub-path) from an address in wimslti.trusted_proxies, "
                    "or set wimslti.public_url to the public base URL."
                )
            )
    summary = _(
        "The signature verifies only for ${url}: ${causes}.",
        mapping={"url": signed.geturl(), "causes": Joined(causes, "; ")},
    )
    return summary, Joined(hints)


def _first(header: str | None) -> str:
    return (header or "").split(",")[0].strip()


def _other_scheme(scheme: str) -> str:
    return "http" if scheme == "https" else "https"


def _toggle_slash(path: str) -> str:
    if path.endswith("/") and path != "/":
        return path[:-1]
    return path + "/"


def _strip_slash(path: str) -> str:
    return path.rstrip("/")
