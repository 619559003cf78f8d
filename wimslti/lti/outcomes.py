"""LTI 1.1 Basic Outcomes: replaceResult, readResult and deleteResult.

A request is a POX envelope in the LTI 1.1 outcomes namespace, POSTed as
``application/xml`` to the ``lis_outcome_service_url`` of a launch and
signed with OAuth 1.0a HMAC-SHA1 in the Authorization header, with an
``oauth_body_hash`` of the exact body (the LTI 1.1 "body signing" profile).
Whatever the LMS answers (a POX status, an HTML error page, an empty body,
nothing at all) becomes an ``OutcomeResult`` that keeps the LMS's own words;
no exception leaves this module for an answer.
"""

import enum
import http.cookiejar
import logging
import threading
import uuid

# Builds requests only; answers are parsed with defusedxml.
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import defusedxml.ElementTree
import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_AUTH_HEADER
from requests.adapters import HTTPAdapter
from requests_oauthlib import OAuth1
from urllib3.exceptions import ReadTimeoutError

log = logging.getLogger(__name__)
# oauthlib and requests-oauthlib log signatures, base strings and signed
# headers at DEBUG: they stay at INFO, even under a DEBUG root logger,
# unless a logging configuration names them.
for _name in ("oauthlib", "requests_oauthlib"):
    if logging.getLogger(_name).level == logging.NOTSET:
        logging.getLogger(_name).setLevel(logging.INFO)

NAMESPACE = "http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0"
CONTENT_TYPE = "application/xml"
SCORE_PLACES = Decimal("0.0001")
# How much of an answer that is not POX is kept to explain it.
EXCERPT_LENGTH = 200
# Answers that say "later": the LMS is overloaded or restarting.
TRANSIENT_HTTP = frozenset({408, 425, 429})


class OutcomeStatus(enum.StrEnum):
    """What became of an outcome request."""

    SUCCESS = "success"
    # The LMS took the request and will process it later.
    PROCESSING = "processing"
    FAILURE = "failure"
    UNSUPPORTED = "unsupported"
    # A POX answer, but not in the LTI 1.1 namespace.
    WRONG_NAMESPACE = "wrong_namespace"
    # HTTP 2xx with something that is not a POX answer: empty, HTML, JSON.
    MALFORMED = "malformed"
    # HTTP 401/403: the LMS refuses our key, secret or signature.
    UNAUTHORIZED = "unauthorized"
    HTTP_ERROR = "http_error"
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    BAD_URL = "bad_url"


@dataclass(frozen=True)
class OutcomeResult:
    """The answer to one outcome request, in the LMS's own words."""

    status: OutcomeStatus
    message: str
    http_status: int | None = None
    content_type: str | None = None
    # readResult: the score the LMS holds, None when it holds none.
    score: Decimal | None = None

    @property
    def accepted(self) -> bool:
        return self.status in (OutcomeStatus.SUCCESS, OutcomeStatus.PROCESSING)

    @property
    def retryable(self) -> bool:
        """Tell whether the same request may work later (an outage, a glitch)."""
        if self.status is OutcomeStatus.HTTP_ERROR:
            status = self.http_status or 0
            return status >= 500 or status in TRANSIENT_HTTP
        return self.status in (
            OutcomeStatus.TIMEOUT,
            OutcomeStatus.UNREACHABLE,
            OutcomeStatus.MALFORMED,
            OutcomeStatus.WRONG_NAMESPACE,
        )

    def __str__(self) -> str:
        return f"{self.status}: {self.message}"


def format_score(score: Decimal | float | str) -> str:
    """Return score as LTI 1.1 wants it: a plain decimal with a dot, in [0, 1].

    At most four decimals, no exponent, and no locale: ``0.75``, ``1``, ``0``.

    :raises ValueError: for a score that is not a number between 0 and 1.
    """
    try:
        value = Decimal(str(score)) if isinstance(score, float) else Decimal(score)
    except InvalidOperation:
        raise ValueError(f"not a number: {score!r}") from None
    if not value.is_finite() or not Decimal(0) <= value <= Decimal(1):
        raise ValueError(f"score {score!r} is not between 0 and 1")
    rounded = value.quantize(SCORE_PLACES, rounding=ROUND_HALF_UP).normalize()
    return format(rounded, "f")


def replace_result_body(sourcedid: str, score: str, message_id: str) -> bytes:
    """Return the replaceResultRequest envelope for a formatted score."""
    record = _record("replaceResultRequest", sourcedid, message_id)
    result = ET.SubElement(record[1], "result")
    result_score = ET.SubElement(result, "resultScore")
    ET.SubElement(result_score, "language").text = "en"
    ET.SubElement(result_score, "textString").text = score
    return _serialize(record[0])


def read_result_body(sourcedid: str, message_id: str) -> bytes:
    """Return the readResultRequest envelope."""
    return _serialize(_record("readResultRequest", sourcedid, message_id)[0])


def delete_result_body(sourcedid: str, message_id: str) -> bytes:
    """Return the deleteResultRequest envelope."""
    return _serialize(_record("deleteResultRequest", sourcedid, message_id)[0])


def _record(
    operation: str, sourcedid: str, message_id: str
) -> tuple[ET.Element, ET.Element]:
    envelope = ET.Element("imsx_POXEnvelopeRequest", xmlns=NAMESPACE)
    header = ET.SubElement(envelope, "imsx_POXHeader")
    info = ET.SubElement(header, "imsx_POXRequestHeaderInfo")
    ET.SubElement(info, "imsx_version").text = "V1.0"
    ET.SubElement(info, "imsx_messageIdentifier").text = message_id
    body = ET.SubElement(envelope, "imsx_POXBody")
    request = ET.SubElement(body, operation)
    record = ET.SubElement(request, "resultRecord")
    guid = ET.SubElement(record, "sourcedGUID")
    ET.SubElement(guid, "sourcedId").text = sourcedid
    return envelope, record


def _serialize(envelope: ET.Element) -> bytes:
    # ASCII with character references is also UTF-8, so the bytes sent, the
    # bytes hashed for oauth_body_hash and the declared encoding all agree.
    text = ET.tostring(envelope, encoding="us-ascii", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + text


def parse_response(
    http_status: int, content_type: str | None, body: bytes
) -> OutcomeResult:
    """Return what an outcome service's HTTP answer says."""
    if http_status in (401, 403):
        return OutcomeResult(
            OutcomeStatus.UNAUTHORIZED,
            _excerpt(http_status, content_type, body),
            http_status,
            content_type,
        )
    if not 200 <= http_status < 300:
        # Redirects are not followed: a POST sent on to a login page would
        # lose its body and its meaning.
        return OutcomeResult(
            OutcomeStatus.HTTP_ERROR,
            _excerpt(http_status, content_type, body),
            http_status,
            content_type,
        )
    # Moodle answers POX labelled text/html: the body decides, not the label.
    try:
        root = defusedxml.ElementTree.fromstring(body) if body.strip() else None
    except (ET.ParseError, ValueError):
        root = None
    if root is None or _local(root.tag) != "imsx_POXEnvelopeResponse":
        return OutcomeResult(
            OutcomeStatus.MALFORMED,
            _excerpt(http_status, content_type, body),
            http_status,
            content_type,
        )
    code_major = (_find_text(root, "imsx_codeMajor") or "").strip().lower()
    description = " ".join((_find_text(root, "imsx_description") or "").split())
    namespace = _namespace(root.tag)
    if namespace != NAMESPACE:
        return OutcomeResult(
            OutcomeStatus.WRONG_NAMESPACE,
            f"answer in namespace {namespace or '(none)'!r}, not LTI 1.1 "
            f"outcomes; it says {code_major or '(no codeMajor)'}: {description}",
            http_status,
            content_type,
            # Read all the same: it lets a readResult confirm a grade.
            score=_read_score(root, None) if code_major == "success" else None,
        )
    try:
        status = OutcomeStatus(code_major)
    except ValueError:
        status = OutcomeStatus.MALFORMED
    if status not in (
        OutcomeStatus.SUCCESS,
        OutcomeStatus.PROCESSING,
        OutcomeStatus.FAILURE,
        OutcomeStatus.UNSUPPORTED,
    ):
        return OutcomeResult(
            OutcomeStatus.MALFORMED,
            f"unknown imsx_codeMajor {code_major!r}: {description}",
            http_status,
            content_type,
        )
    return OutcomeResult(
        status,
        description,
        http_status,
        content_type,
        score=_read_score(root, NAMESPACE) if status is OutcomeStatus.SUCCESS else None,
    )


def _read_score(root: ET.Element, namespace: str | None) -> Decimal | None:
    text = _find_text(root, "textString", namespace)
    if text is None or not text.strip():
        return None
    try:
        score = Decimal(text.strip())
    except InvalidOperation:
        return None
    return score if score.is_finite() else None


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _namespace(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


def _find_text(root: ET.Element, name: str, namespace: str | None = None) -> str | None:
    """Return the text of the first element called name, in any namespace."""
    for element in root.iter():
        if _local(element.tag) == name and (
            namespace is None or _namespace(element.tag) == namespace
        ):
            return element.text or ""
    return None


def _excerpt(http_status: int, content_type: str | None, body: bytes) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    shown = text[:EXCERPT_LENGTH] or "(empty body)"
    return f"HTTP {http_status} {content_type or '(no content type)'}: {shown}"


class OutcomesClient:
    """Send outcome requests, reusing connections (one session per thread)."""

    def __init__(self, timeout: float, *, max_hosts: int = 32) -> None:
        self.timeout = timeout
        self.max_hosts = max_hosts
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def replace_result(
        self, url: str, sourcedid: str, score: Decimal | float, *, key: str, secret: str
    ) -> OutcomeResult:
        """Set the LMS's grade of sourcedid to score (between 0 and 1).

        :raises ValueError: for a score outside [0, 1]; it is never sent.
        """
        message_id = uuid.uuid4().hex
        body = replace_result_body(sourcedid, format_score(score), message_id)
        return self._send(url, body, key, secret)

    def read_result(
        self, url: str, sourcedid: str, *, key: str, secret: str
    ) -> OutcomeResult:
        """Return the grade the LMS holds for sourcedid (in ``score``)."""
        body = read_result_body(sourcedid, uuid.uuid4().hex)
        return self._send(url, body, key, secret)

    def delete_result(
        self, url: str, sourcedid: str, *, key: str, secret: str
    ) -> OutcomeResult:
        """Remove the LMS's grade of sourcedid."""
        body = delete_result_body(sourcedid, uuid.uuid4().hex)
        return self._send(url, body, key, secret)

    def close(self) -> None:
        """Close every connection the client opened."""
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()

    def _send(self, url: str, body: bytes, key: str, secret: str) -> OutcomeResult:
        auth = OAuth1(
            key,
            client_secret=secret,
            signature_method=SIGNATURE_HMAC_SHA1,
            signature_type=SIGNATURE_TYPE_AUTH_HEADER,
            force_include_body=True,
        )
        try:
            response = self._session().post(
                url,
                data=body,
                headers={"Content-Type": CONTENT_TYPE},
                auth=auth,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except (
            requests.exceptions.InvalidURL,
            requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema,
        ) as error:
            return OutcomeResult(OutcomeStatus.BAD_URL, _reason(error))
        except requests.Timeout:
            return OutcomeResult(
                OutcomeStatus.TIMEOUT, f"no answer within {self.timeout:g} s"
            )
        except requests.ConnectionError as error:
            # A read timeout while the body arrives comes as a ConnectionError
            # wrapping urllib3's ReadTimeoutError.
            if error.args and isinstance(error.args[0], ReadTimeoutError):
                return OutcomeResult(
                    OutcomeStatus.TIMEOUT, f"no answer within {self.timeout:g} s"
                )
            return OutcomeResult(OutcomeStatus.UNREACHABLE, _reason(error))
        except requests.RequestException as error:
            return OutcomeResult(OutcomeStatus.UNREACHABLE, _reason(error))
        return parse_response(
            response.status_code, response.headers.get("Content-Type"), response.content
        )

    def _session(self) -> requests.Session:
        # A requests.Session is not safe to share between threads; each
        # thread keeps its own keep-alive connections.
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # A grade request carries no cookie: an LMS session cookie would
            # otherwise ride along with every later grade.
            session.cookies.set_policy(
                http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
            )
            adapter = HTTPAdapter(pool_connections=self.max_hosts, pool_maxsize=1)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session


def _reason(error: Exception) -> str:
    # The class and the host say enough; str(error) can be a page long.
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:EXCERPT_LENGTH] if text else ''}"
