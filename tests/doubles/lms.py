"""An LMS outcome service double that checks requests the way Moodle does.

Served over real HTTP/1.1 (keep-alive) on 127.0.0.1. Every request must:
not be form-encoded; carry an ``Authorization: OAuth`` header with an
``oauth_body_hash``; be signed HMAC-SHA1 with the secret of its consumer key
over the method, the URL and the query and header parameters; be no more
than 300 s off the clock; and have a body whose SHA-1 is that hash. Then
the POX envelope must be in the LTI 1.1 namespace with version V1.0, a
message identifier, a sourcedId and, for replaceResult, a language and a
``.``-decimal in [0, 1]. What fails is answered like Moodle: HTTP 200,
``text/html``, a POX ``failure`` whose description says why.

Use::

    with LmsDouble.serve({"key": "secret"}) as lms:
        client.replace_result(lms.url, "sid-1", 0.5, key="key", secret="secret")
        assert lms.scores == {"sid-1": "0.5"}

Tests inject answers (``fail_next(kind)``, ``refuse(sourcedid, message)``,
``latency``) and read ``received`` / ``count()`` / ``connections``.
"""

import base64
import contextlib
import dataclasses
import hashlib
import hmac
import re
import socket
import struct
import threading
import time
import xml.etree.ElementTree as ET
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import defusedxml.ElementTree
from oauthlib.oauth1.rfc5849 import signature, utils

NAMESPACE = "http://www.imsglobal.org/services/ltiv1p1/xsd/imsoms_v1p0"
PATH = "/mod/lti/service.php"
# Moodle's OAuth library accepts timestamps 300 s off its clock.
TIMESTAMP_THRESHOLD = 300
OPERATIONS = ("replaceResultRequest", "readResultRequest", "deleteResultRequest")
FAULT_KINDS = (
    "unsupported",
    "processing",
    "wrong_namespace",
    "html401",
    "html403",
    "html500",
    "http503",
    "redirect",
    "empty",
    "json",
    "hang",
    "reset",
)
_SCORE = re.compile(r"\s*(?:0(?:\.\d*)?|1(?:\.0*)?|\.\d+)\s*")


@dataclasses.dataclass(frozen=True)
class Received:
    """One request the double received, and what it answered."""

    operation: str | None
    sourcedid: str | None
    score: str | None
    consumer_key: str | None
    # success, failure, unsupported …, or the fault kind that answered.
    answer: str
    description: str
    message_id: str | None = None
    nonce: str | None = None


class _Rejected(Exception):
    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class LmsDouble:
    """Play an LMS's LTI 1.1 outcome service for some consumer keys."""

    def __init__(self, consumers: dict[str, str]) -> None:
        self.consumers = dict(consumers)
        self.scores: dict[str, str] = {}
        self.received: list[Received] = []
        self.latency = 0.0
        self.hang_seconds = 30.0
        self.clock = time.time
        self.connections = 0
        self.url = ""
        self._refused: dict[str, str] = {}
        self._faults: deque[tuple[str, bool]] = deque()
        self._lock = threading.RLock()
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._port = 0

    # Serving -------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def serve(cls, consumers: dict[str, str]) -> Iterator["LmsDouble"]:
        """Serve a new double on 127.0.0.1 (free port) for the with block."""
        double = cls(consumers)
        double.start()
        try:
            yield double
        finally:
            double.stop()

    def start(self) -> None:
        """Serve in a background thread, on the same port as before if any."""
        self._closing.clear()
        self._server = _Server(("127.0.0.1", self._port), _Handler)
        self._server.app = self
        self._port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self._port}{PATH}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="lms-double",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving: the port then refuses connections, as a down LMS."""
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.close_open_connections()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    # Test API ------------------------------------------------------------

    def fail_next(self, kind: str, times: int = 1, *, store: bool = False) -> None:
        """Answer the next ``times`` requests with a fault, after the checks.

        kind is one of FAULT_KINDS or ``failure:<description>``. ``hang``
        answers nothing for ``hang_seconds``; ``reset`` closes the connection.
        With store, the request is carried out before the fault is answered
        (an LMS that stores the grade, then fails to say so).
        """
        if kind not in FAULT_KINDS and not kind.startswith("failure:"):
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._faults.extend([(kind, store)] * times)

    def clear_faults(self) -> None:
        """Forget the faults not answered yet."""
        with self._lock:
            self._faults.clear()

    def refuse(self, sourcedid: str, description: str) -> None:
        """Answer ``failure`` with description to every request for sourcedid."""
        with self._lock:
            self._refused[sourcedid] = description

    def count(self, operation: str | None = None, answer: str | None = None) -> int:
        """Return how many requests came (of operation, answered so)."""
        with self._lock:
            return sum(
                1
                for item in self.received
                if (operation is None or item.operation == operation)
                and (answer is None or item.answer == answer)
            )

    def sends(self, sourcedid: str) -> list[str]:
        """Return the scores replaceResult brought for sourcedid, in order."""
        with self._lock:
            return [
                item.score or ""
                for item in self.received
                if item.sourcedid == sourcedid
                and item.operation == "replaceResultRequest"
                and item.answer == "success"
            ]

    # Answering -----------------------------------------------------------

    def answer(
        self, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, str, bytes]:
        """Return (status, content type, body) for one HTTP request."""
        if self.latency:
            self._closing.wait(self.latency)
        try:
            key, nonce = self._check_signature(method, url, headers, body)
            envelope = self._parse(body)
        except _Rejected as rejected:
            self._record(
                Received(None, None, None, None, "failure", rejected.description)
            )
            return self._pox("failure", rejected.description, None, None)
        operation, sourcedid, score, message_id = envelope
        with self._lock:
            fault, store = self._faults.popleft() if self._faults else ("", False)
            refused = self._refused.get(sourcedid or "")
        if fault and store:
            self._apply(operation, sourcedid, score)
        if fault:
            self._record(
                Received(
                    operation, sourcedid, score, key, fault, fault, message_id, nonce
                )
            )
            return self._fault(fault, operation, message_id)
        if refused is not None:
            self._record(
                Received(
                    operation,
                    sourcedid,
                    score,
                    key,
                    "failure",
                    refused,
                    message_id,
                    nonce,
                )
            )
            return self._pox("failure", refused, operation, message_id)
        try:
            description, read = self._apply(operation, sourcedid, score)
        except _Rejected as rejected:
            self._record(
                Received(
                    operation,
                    sourcedid,
                    score,
                    key,
                    "failure",
                    rejected.description,
                    message_id,
                    nonce,
                )
            )
            return self._pox("failure", rejected.description, operation, message_id)
        self._record(
            Received(
                operation,
                sourcedid,
                score,
                key,
                "success",
                description,
                message_id,
                nonce,
            )
        )
        return self._pox("success", description, operation, message_id, read)

    def _check_signature(
        self, method: str, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[str, str]:
        content_type = headers.get("content-type", "")
        if content_type.startswith("application/x-www-form-urlencoded"):
            raise _Rejected(
                "OAuth request body signing must not use "
                "application/x-www-form-urlencoded"
            )
        authorization = headers.get("authorization", "")
        if not authorization.startswith("OAuth "):
            raise _Rejected("OAuth request body signing requires oauth_body_hash body")
        oauth = {
            name: utils.unescape(value)
            for name, value in utils.parse_authorization_header(authorization)
        }
        if "oauth_body_hash" not in oauth:
            raise _Rejected("OAuth request body signing requires oauth_body_hash body")
        if oauth.get("oauth_signature_method") != "HMAC-SHA1":
            raise _Rejected("OAuth signature failed: signature method not supported")
        key = oauth.get("oauth_consumer_key", "")
        secret = self.consumers.get(key)
        if secret is None:
            raise _Rejected("OAuth signature failed: invalid consumer key")
        try:
            timestamp = int(oauth.get("oauth_timestamp", ""))
        except ValueError:
            raise _Rejected("OAuth signature failed: missing timestamp") from None
        if abs(self.clock() - timestamp) > TIMESTAMP_THRESHOLD:
            raise _Rejected("OAuth signature failed: expired timestamp")
        if not oauth.get("oauth_nonce"):
            raise _Rejected("OAuth signature failed: missing nonce")
        query = urlsplit(url).query
        params = signature.collect_parameters(
            uri_query=query, headers={"Authorization": authorization}
        )
        base = signature.signature_base_string(
            method.upper(),
            signature.base_string_uri(url),
            signature.normalize_parameters(params),
        )
        expected = _hmac_sha1(base, secret)
        if not hmac.compare_digest(expected, oauth.get("oauth_signature", "")):
            raise _Rejected("OAuth signature failed: Invalid signature")
        # SHA-1 is what LTI 1.1 body signing prescribes.
        digest = base64.b64encode(hashlib.sha1(body).digest()).decode()  # noqa: S324
        if not hmac.compare_digest(digest, oauth["oauth_body_hash"]):
            raise _Rejected("OAuth oauth_body_hash mismatch")
        return key, oauth["oauth_nonce"]

    def _parse(self, body: bytes) -> tuple[str, str, str | None, str]:
        """Return (operation, sourcedid, score text, message id) of a request.

        The order and presence of elements follow the OMS schema.
        """
        try:
            root = defusedxml.ElementTree.fromstring(body)
        except (ET.ParseError, ValueError):
            raise _Rejected("Invalid XML content") from None
        ns = {"x": NAMESPACE}
        if root.tag != f"{{{NAMESPACE}}}imsx_POXEnvelopeRequest":
            raise _Rejected(f"Not an LTI 1.1 POX request: {root.tag}")
        info = root.find("x:imsx_POXHeader/x:imsx_POXRequestHeaderInfo", ns)
        if info is None:
            raise _Rejected("Missing imsx_POXRequestHeaderInfo")
        if [_local(child.tag) for child in info] != [
            "imsx_version",
            "imsx_messageIdentifier",
        ]:
            raise _Rejected("imsx_POXRequestHeaderInfo does not follow the schema")
        if info[0].text != "V1.0":
            raise _Rejected(f"Unsupported imsx_version {info[0].text!r}")
        message_id = (info[1].text or "").strip()
        if not message_id:
            raise _Rejected("Missing imsx_messageIdentifier")
        body_element = root.find("x:imsx_POXBody", ns)
        if body_element is None or len(body_element) != 1:
            raise _Rejected("imsx_POXBody must hold one request")
        request = body_element[0]
        operation = _local(request.tag)
        if operation not in OPERATIONS or _namespace(request.tag) != NAMESPACE:
            raise _Rejected(f"Unknown operation {operation}")
        sourcedid = request.findtext(
            "x:resultRecord/x:sourcedGUID/x:sourcedId", None, ns
        )
        if not sourcedid:
            raise _Rejected("Missing sourcedId")
        score = None
        if operation == "replaceResultRequest":
            result_score = request.find("x:resultRecord/x:result/x:resultScore", ns)
            if result_score is None:
                raise _Rejected("Missing resultScore")
            if [_local(child.tag) for child in result_score] != [
                "language",
                "textString",
            ]:
                raise _Rejected("resultScore does not follow the schema")
            if not (result_score[0].text or "").strip():
                raise _Rejected("Missing language")
            score = result_score[1].text or ""
        return operation, sourcedid, score, message_id

    def _apply(
        self, operation: str, sourcedid: str, score: str | None
    ) -> tuple[str, str | None]:
        with self._lock:
            if operation == "replaceResultRequest":
                if score is None or not _SCORE.fullmatch(score):
                    raise _Rejected("Score is not between 0 and 1")
                self.scores[sourcedid] = score.strip()
                return f"Grade replaced for {sourcedid}", None
            if operation == "readResultRequest":
                return "Result read", self.scores.get(sourcedid, "")
            self.scores.pop(sourcedid, None)
            return "Grade deleted", None

    def _record(self, received: Received) -> None:
        with self._lock:
            self.received.append(received)

    def _pox(
        self,
        code_major: str,
        description: str,
        operation: str | None,
        message_id: str | None,
        read: str | None = None,
        namespace: str = NAMESPACE,
    ) -> tuple[int, str, bytes]:
        envelope = ET.Element("imsx_POXEnvelopeResponse", xmlns=namespace)
        header = ET.SubElement(envelope, "imsx_POXHeader")
        info = ET.SubElement(header, "imsx_POXResponseHeaderInfo")
        ET.SubElement(info, "imsx_version").text = "V1.0"
        ET.SubElement(info, "imsx_messageIdentifier").text = str(self.clock())
        status = ET.SubElement(info, "imsx_statusInfo")
        ET.SubElement(status, "imsx_codeMajor").text = code_major
        ET.SubElement(status, "imsx_severity").text = (
            "status" if code_major == "success" else "error"
        )
        ET.SubElement(status, "imsx_description").text = description
        ET.SubElement(status, "imsx_messageRefIdentifier").text = message_id or ""
        if operation:
            ET.SubElement(status, "imsx_operationRefIdentifier").text = operation
        body = ET.SubElement(envelope, "imsx_POXBody")
        if operation:
            response = ET.SubElement(body, operation.replace("Request", "Response"))
            if read is not None:
                result = ET.SubElement(response, "result")
                result_score = ET.SubElement(result, "resultScore")
                ET.SubElement(result_score, "language").text = "en"
                ET.SubElement(result_score, "textString").text = read
        payload = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(envelope)
        # Moodle labels its POX answers text/html.
        return 200, "text/html; charset=utf-8", payload

    def _fault(
        self, kind: str, operation: str, message_id: str
    ) -> tuple[int, str, bytes]:
        if kind.startswith("failure:"):
            return self._pox("failure", kind[len("failure:") :], operation, message_id)
        if kind in ("unsupported", "processing"):
            return self._pox(kind, f"{operation} is {kind}", operation, message_id)
        if kind == "wrong_namespace":
            return self._pox(
                "success",
                "Grade replaced",
                operation,
                message_id,
                namespace="http://www.imsglobal.org/lis/oms1p0/pox",
            )
        if kind in ("html401", "html403"):
            page = b"<html><head><title>Log in</title></head><body>Log in</body></html>"
            return int(kind[4:]), "text/html; charset=utf-8", page
        if kind == "html500":
            page = (
                b"<html><body><h1>Internal Server Error</h1>"
                b"<pre>Traceback (most recent call last): ...</pre></body></html>"
            )
            return 500, "text/html; charset=utf-8", page
        if kind == "http503":
            return 503, "text/html", b"<html><body>Service Unavailable</body></html>"
        if kind == "redirect":
            return 302, "text/html", b""
        if kind == "empty":
            return 200, "text/xml", b""
        if kind == "json":
            return 200, "application/json", b'{"status": "ok"}'
        if kind == "hang":
            self._closing.wait(self.hang_seconds)
        raise _DropConnection


def _hmac_sha1(base_string: str, client_secret: str) -> str:
    key = utils.escape(client_secret) + "&"
    digest = hmac.new(key.encode(), base_string.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _namespace(tag: str) -> str:
    return tag[1:].partition("}")[0] if tag.startswith("{") else ""


class _DropConnection(Exception):
    """Close the connection without an answer."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    app: LmsDouble

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        with self.app._lock:
            self.app.connections += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Close kept-alive connections, as a restarting server does."""
        with self._open_lock:
            for request in list(self._open):
                with contextlib.suppress(OSError):
                    request.shutdown(socket.SHUT_RDWR)
            self._open.clear()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that gave up (timeouts) or a stopped server leave broken
        # connections behind; they are not errors of the double.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    # Headers and body are written apart: without this, Nagle's algorithm
    # and the client's delayed ACK add 40 ms to every kept-alive answer.
    disable_nagle_algorithm = True
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        host, port = self.server.server_address[:2]
        url = f"http://{host}:{port}{self.path}"
        if urlsplit(self.path).path != PATH:
            self._reply(404, "text/plain", b"not found")
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            status, content_type, payload = self.server.app.answer(
                "POST", url, headers, body
            )
        except _DropConnection:
            # Linger 0: closing sends a reset instead of a clean end.
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            self.close_connection = True
            return
        extra = [("Location", "https://lms.example.org/login")] if status == 302 else []
        self._reply(status, content_type, payload, extra)

    def _reply(
        self,
        status: int,
        content_type: str,
        payload: bytes,
        extra: list[tuple[str, str]] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in extra or []:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass
