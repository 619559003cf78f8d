"""A WIMS adm/raw test double that answers like WIMS 4.15a.

The answers copy the recorded ones of ../shared/wims (NOTES.md): the same
field names, message texts and JSON layout, including what is wrong with
it (values are not escaped, so ``O"Brien`` makes invalid JSON), the
``application/json ; charset=iso-8859-1`` label, plain-text errors before
identification, and HTTP 450 pages for unbalanced brackets, values of 45000
characters or more and a busy server. Like WIMS it stores the bytes it is
sent and returns them, so UTF-8 sent in comes back as mojibake.

Use::

    with WimsDouble.serve() as wims:
        qclass = wims.add_class()
        client = WimsClient(wims.url, "wimslti", "wimsltipass", "myclass")

Tests set state directly (``add_class``, ``add_user``, ``add_sheet``,
``set_sheet_score`` …, whose ``score`` is the teacher-formula score that
getcsv reports), inject faults (``fail_next(job, kind)``,
``latency[job] = seconds``, ``busy = True``) and read ``calls`` /
``count(job)``. The double is also a plain WSGI application.
"""

import contextlib
import dataclasses
import datetime
import io
import re
import secrets
import socket
import string
import struct
import sys
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

SCRIPT = "/wims/wims.cgi"
MAX_LINELEN = 45_000
JSON_TYPE = "application/json ; charset=iso-8859-1"
TEXT_TYPE = "text/plain ; charset=iso-8859-1"
HTML_TYPE = "text/html; charset=iso-8859-1"

FAULT_KINDS = ("busy", "timeout", "reset", "garbage", "html", "reject", "http500")

_SITE_LANGUAGES = ("en", "fr", "es", "it", "de", "nl", "ca", "cn", "si", "tw")
# getclass answers these class properties, in this order, without option.
_CLASS_FIELDS = (
    "password",
    "creator",
    "secure",
    "external_auth",
    "mixed_external_auth",
    "cas_auth",
    "php_auth",
    "authidp",
    "supervisor",
    "description",
    "institution",
    "lang",
    "email",
    "expiration",
    "limit",
    "topscores",
    "superclass",
    "type",
    "level",
    "parent",
    "typename",
    "bgcolor",
    "bgimg",
    "scorecolor",
    "css",
    "logo",
    "logoside",
    "refcolor",
    "ref_menucolor",
    "ref_button_color",
    "ref_button_bgcolor",
    "ref_button_help_color",
    "ref_button_help_bgcolor",
    "theme",
    "theme_icon",
    # WIMS 4.15a really answers an empty key here (NOTES surprise 2).
    "",
    "connections",
    "creation",
    "userlist",
    "usercount",
    "examcount",
    "sheetcount",
)
_USER_FIELDS = (
    "firstname",
    "lastname",
    "email",
    "comments",
    "regnum",
    "photourl",
    "participate",
    "courses",
    "classes",
    "supervise",
    "supervisable",
    "external_auth",
    "agreecgu",
    "regprop1",
    "regprop2",
    "regprop3",
    "regprop4",
    "regprop5",
)
_USER_DEFS = {*_USER_FIELDS, "password"}
_SCORECOLOR = (
    "#ffffff, #ff0000, #ff0000, #ff0000, #ffa500, #ffa500, #fff500, #d2ff00, "
    "#b9ff00, #2fc42f, #259425"
)
_NOT_LOGIN_CHAR = re.compile(r"[^A-Za-z0-9;:^_#%~@-]")
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {closer: opener for opener, closer in _OPENERS.items()}
_SESSION_ALPHABET = string.ascii_uppercase + string.digits
_CSV_SEPARATORS = {"csv": ",", "tsv": "\t", "xls": ";"}
# The getcsv columns the double plays and their labels (as 4.15a wrote them);
# WIMS also has password, regnum, comments, external_auth and manual grades.
_CSV_LABELS = {
    "login": "#",
    "lastname": "Family name",
    "firstname": "First (given) name",
    "email": "email address",
    "average1": "Server average",
}

_PAGE_HEAD = """<html><head>
<meta http-equiv=expires content="1 Jan 1990">
<meta HTTP-EQUIV="Pragma" CONTENT="no-cache">
<meta HTTP-EQUIV="Cache-Control" CONTENT="no-cache">
<!-- Theme CSS style -->
<link rel="stylesheet" href="html/themes/standard/css.css" type="text/css">
<style type="text/css">
 input[type="submit"],input[type="button"],.wims_button{ background-color:#666666;\
color:#FFFFFF;}
 .wims_button_help{ background-color:#008f00;color:#FFFFFF;}
</style>


</head><body class="user_error">
"""
_BUSY_BODY = "\n".join(
    (
        "",
        ' <h1 class="wims_center">We are too busy</h1>',
        ' <hr style="width:50%"/><p>',
        ' This WIMS server <font color="blue">{host}</font> ',
        " is currently overloaded by a large number of requests, and",
        " can no longer satisfy further users. Please come back later, ",
        " or look for another wims mirror site.",
        " <p>We are very sorry for this inconvenience to you, and hope to be able",
        " to serve you soon.",
        " </body></html>",
        "",
    )
)
_UNMATCHED_BODY = """



<h1 class="wims_center">WIMS error</h1><hr/>

There is an error in your request to this WIMS site.
{blank}
  We have detected unmatched parentheses in your request. You may correct the
  error here:
<form action="{url}" method="post" >
<div class='wims_form'>  {name} =
{hidden}   {field}
  Then
  <input type="submit" value="send the corrected request."/>
  </form><p><hr/><div class="wimscenter">
<a href="{url}?module=adm%2Fraw&+cmd=resume"   >Cancel the last request</a>, or
<a href="{url}?"   >wims home</a>.</div>
"""
_HOME_PAGE = """<html><head><title>WIMS</title></head>
<body><h1>WWW Interactive Multipurpose Server</h1></body></html>
"""


class _DropConnection(Exception):
    """Raised by the app to close the connection without an answer."""


class _PlainText(str):
    """A job's whole answer, sent as text/plain without the JSON head."""


class _Refusal(Exception):
    """An adm/raw ERROR answer, with WIMS's message."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclasses.dataclass
class _Item:
    """A sheet or an exam."""

    status: int
    expiration: str
    title: str
    description: str
    exercises: list[dict[str, str]] = dataclasses.field(default_factory=list)
    duration: int = 0
    attempts: int = 1


@dataclasses.dataclass
class _Class:
    qclass: str
    defs: dict[str, str]
    connections: set[str]
    supervisor: dict[str, str]
    users: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    trash: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    sheets: list[_Item] = dataclasses.field(default_factory=list)
    exams: list[_Item] = dataclasses.field(default_factory=list)
    sheet_scores: dict[tuple[int, str], dict[str, float]] = dataclasses.field(
        default_factory=dict
    )
    exam_scores: dict[tuple[int, str], tuple[float, int]] = dataclasses.field(
        default_factory=dict
    )
    modified: dict[str, datetime.datetime] = dataclasses.field(default_factory=dict)


def is_balanced(value: str) -> bool:
    """Return whether every bracket of value has a partner (WIMS's check)."""
    open_brackets: list[str] = []
    for char in value:
        if char in _OPENERS:
            open_brackets.append(char)
        elif char in _CLOSERS and (
            not open_brackets or open_brackets.pop() != _CLOSERS[char]
        ):
            return False
    return not open_brackets


def wims_login(quser: str) -> str:
    """Return the login WIMS makes of quser: first word, . → @, odd chars out."""
    first_word = re.split(r"[ \t\r\n]+", quser.strip(" \t\r\n"), maxsplit=1)[0]
    return _NOT_LOGIN_CHAR.sub("", first_word.replace(".", "@"))


def _alnum(text: str) -> str:
    # WIMS compares passwords on their letters and digits only.
    return re.sub(r"[^A-Za-z0-9]", "", text)


def _number(value: float) -> str:
    """Write a number like WIMS: 10, 5.41, and "NaN" as a string."""
    if value != value:
        return '"NaN"'
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _csv_number(value: float) -> str:
    """Write a number like getcsv: 10, 8.32, and a bare NaN."""
    if value != value:
        return "NaN"
    return _number(value)


def _numbers(values: Iterable[float]) -> str:
    return "[" + ",".join(_number(value) for value in values) + "]"


def _wims_list(items: Iterable[str]) -> str:
    # WIMS joins the items with commas and then turns every comma into
    # '","', so an item with a comma comes out as two.
    return '["' + ",".join(items).replace(",", '","') + '"]'


def _data_lines(text: str) -> dict[str, str]:
    """Parse data1/data2 ``name=value`` lines."""
    result = {}
    # Only "\n" ends a line: "\x85" is a byte of UTF-8 text sent in (Å).
    for line in text.split("\n"):
        name, sep, value = line.partition("=")
        if sep and name.strip(" \t\r"):
            result[name.strip(" \t\r")] = value.strip(" \t\r")
    return result


def _add_years(day: str, years: int) -> str:
    return str(int(day) + 10_000 * years)


def _exercises(count: int) -> list[dict[str, str]]:
    return [
        {
            "module": "classes/en",
            "title": f"Exercise {index}",
            "params": f"exo=exo{index}&qnum=1",
            "points": "10",
            "weight": "1",
            "description": "",
        }
        for index in range(1, count + 1)
    ]


class WimsDouble:
    """A WSGI application that plays a WIMS server's adm/raw module."""

    def __init__(
        self,
        *,
        ident: str = "wimslti",
        passwd: str = "wimsltipass",
        rclass: str = "myclass",
        agent: str = "python-requests",
    ) -> None:
        self.ident = ident
        self.passwd = passwd
        self.rclass = rclass
        # First word of the User-Agent the connection file requires; "" = any.
        self.agent = agent
        self.latency: dict[str, float] = {}
        self.busy = False
        self.hang_seconds = 30.0
        self.clock: Callable[[], datetime.datetime] = datetime.datetime.now
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.sessions: dict[str, tuple[str, str, str]] = {}
        self.url = ""
        self._lock = threading.RLock()
        self._faults: dict[str, deque[str]] = defaultdict(deque)
        self._classes: dict[str, _Class] = {}
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # Serving -------------------------------------------------------------

    @classmethod
    @contextlib.contextmanager
    def serve(cls, **kwargs: Any) -> Iterator["WimsDouble"]:
        """Serve a new double on 127.0.0.1 (free port) for the with block."""
        double = cls(**kwargs)
        double.start()
        try:
            yield double
        finally:
            double.stop()

    def start(self, port: int = 0) -> None:
        """Serve the double in a background thread; sets ``url``."""
        self._closing.clear()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.app = self
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}{SCRIPT}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="wims-double",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving; requests still sleeping are woken and dropped."""
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    # Test API: faults and counters ---------------------------------------

    def fail_next(self, job: str, kind: str, times: int = 1) -> None:
        """Make the next ``times`` calls of job fail.

        kind is one of: ``busy`` (450 "too busy"), ``timeout`` (no answer
        for ``hang_seconds``, then the connection is closed; the job is not
        done), ``reset`` (connection closed at once), ``garbage`` (200 with
        text that is not an adm/raw answer), ``html`` (200 with a WIMS HTML
        page), ``reject`` (450 "unmatched parentheses"), ``http500``, or
        ``error:<message>`` (an adm/raw ERROR answer with that message).
        Use ``latency[job] = seconds`` for a job that is done but answered
        late (the real addclass can block 120 s after writing the class).
        """
        if kind not in FAULT_KINDS and not kind.startswith("error:"):
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._faults[job].extend([kind] * times)

    def count(self, job: str | None = None) -> int:
        """Return how many requests were received (for job, if given)."""
        with self._lock:
            if job is None:
                return len(self.calls)
            return sum(1 for called, _ in self.calls if called == job)

    def reset_calls(self) -> None:
        """Forget the recorded calls."""
        with self._lock:
            self.calls.clear()

    # Test API: state -----------------------------------------------------

    def add_class(
        self,
        qclass: str | None = None,
        *,
        description: str = "Test class",
        institution: str = "Test institution",
        supervisor: str = "Test Teacher",
        email: str = "teacher@example.org",
        password: str = "classpw",
        lang: str = "en",
        expiration: str | None = None,
        limit: int = 30,
        level: str = "H4",
        ident: str | None = None,
        rclass: str | None = None,
    ) -> str:
        """Create a class connected to ident/rclass (ours by default)."""
        with self._lock:
            qclass = qclass or self._new_class_id()
            creation = self._today()
            self._classes[qclass] = _Class(
                qclass=qclass,
                defs=self._class_defs(
                    {
                        "description": description,
                        "institution": institution,
                        "supervisor": supervisor,
                        "email": email,
                        "password": password,
                        "lang": lang,
                        "expiration": expiration or _add_years(creation, 1),
                        "limit": str(limit),
                        "level": level,
                    },
                    creation,
                    "127.0.0.1",
                ),
                connections={f"{ident or self.ident}/{rclass or self.rclass}"},
                supervisor={
                    "lastname": supervisor.rpartition(" ")[2] or "Teacher",
                    "firstname": supervisor.rpartition(" ")[0],
                    "password": password,
                    "email": email,
                },
            )
            self._touch(self._classes[qclass], ".def")
            return qclass

    def delete_class(self, qclass: str) -> None:
        """Delete a class, as a WIMS administrator or the expiry would."""
        with self._lock:
            del self._classes[qclass]

    def class_ids(self) -> list[str]:
        """Return the ids of the existing classes."""
        with self._lock:
            return sorted(self._classes)

    def class_defs(self, qclass: str) -> dict[str, str]:
        """Return a copy of the stored properties of a class."""
        with self._lock:
            return dict(self._classes[qclass].defs)

    def add_user(
        self,
        qclass: str,
        quser: str,
        *,
        lastname: str = "Doe",
        firstname: str = "John",
        password: str = "userpw",
        email: str = "",
        regnum: str = "",
    ) -> str:
        """Add a user to a class; return the login WIMS made of quser."""
        with self._lock:
            klass = self._classes[qclass]
            login = wims_login(quser)
            klass.users[login] = self._user_defs(
                {
                    "lastname": lastname,
                    "firstname": firstname,
                    "password": password,
                    "email": email,
                    "regnum": regnum,
                }
            )
            self._touch(klass, f".users/{login}")
            return login

    def delete_user(self, qclass: str, quser: str) -> None:
        """Move a user to the class trash, as deluser does."""
        with self._lock:
            klass = self._classes[qclass]
            klass.trash[quser] = klass.users.pop(quser)
            self._touch(klass, f".users/.{quser}")

    def user_defs(self, qclass: str, quser: str) -> dict[str, str] | None:
        """Return a copy of a user's stored properties, None if absent."""
        with self._lock:
            user = self._classes[qclass].users.get(quser)
            return dict(user) if user is not None else None

    def trashed_users(self, qclass: str) -> list[str]:
        """Return the logins in the class trash."""
        with self._lock:
            return sorted(self._classes[qclass].trash)

    def add_sheet(
        self,
        qclass: str,
        *,
        title: str = "Sheet",
        description: str = "",
        status: int = 1,
        expiration: str | None = None,
        exercises: int = 1,
    ) -> int:
        """Add a sheet (active, with one exercise, by default); return its id."""
        with self._lock:
            klass = self._classes[qclass]
            klass.sheets.append(
                _Item(
                    status=status,
                    expiration=expiration or klass.defs["expiration"],
                    title=title,
                    description=description or title,
                    exercises=_exercises(exercises),
                )
            )
            self._touch(klass, "sheets/.sheets")
            return len(klass.sheets)

    def set_sheet_status(self, qclass: str, qsheet: int | str, status: int) -> None:
        """Set the status of a sheet (0 pending, 1 active, 2 expired, 3 hidden)."""
        with self._lock:
            klass = self._classes[qclass]
            klass.sheets[int(qsheet) - 1].status = status
            self._touch(klass, "sheets/.sheets")

    def add_exam(
        self,
        qclass: str,
        *,
        title: str = "Exam",
        description: str = "",
        status: int = 1,
        expiration: str | None = None,
        duration: int = 60,
        attempts: int = 1,
        exercises: int = 1,
    ) -> int:
        """Add an exam (active, with one exercise, by default); return its id."""
        with self._lock:
            klass = self._classes[qclass]
            klass.exams.append(
                _Item(
                    status=status,
                    expiration=expiration or klass.defs["expiration"],
                    title=title,
                    description=description or title,
                    exercises=_exercises(exercises),
                    duration=duration,
                    attempts=attempts,
                )
            )
            self._touch(klass, "exams/.exams")
            return len(klass.exams)

    def set_exam_status(self, qclass: str, qexam: int | str, status: int) -> None:
        """Set the status of an exam."""
        with self._lock:
            klass = self._classes[qclass]
            klass.exams[int(qexam) - 1].status = status
            self._touch(klass, "exams/.exams")

    def set_sheet_score(
        self,
        qclass: str,
        qsheet: int | str,
        quser: str,
        *,
        percent: float = 0.0,
        quality: float = 0.0,
        level: float = 0.0,
        best: float = 0.0,
        score: float = 0.0,
    ) -> None:
        """Set what getsheetscores and getcsv report for a user (NaN allowed).

        score is the score of the teacher's formula, on 0–10, that getcsv
        gives as ``sheet<N>``. The double does not compute it from the other
        numbers: it stays 0, what WIMS answers for no work, unless given.
        """
        with self._lock:
            klass = self._classes[qclass]
            klass.sheet_scores[(int(qsheet), quser)] = {
                "percent": percent,
                "quality": quality,
                "level": level,
                "best": best,
                "score": score,
            }
            self._touch(klass, f"score/{quser}")

    def set_exam_score(
        self,
        qclass: str,
        qexam: int | str,
        quser: str,
        *,
        score: float,
        attempts: int = 1,
    ) -> None:
        """Set what getexamscores reports for a user."""
        with self._lock:
            klass = self._classes[qclass]
            klass.exam_scores[(int(qexam), quser)] = (score, attempts)
            self._touch(klass, f"score/{quser}.exam")

    # WSGI ----------------------------------------------------------------

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes]:
        """Answer one HTTP request (WSGI)."""
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        if not path.startswith(SCRIPT):
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        params = self._params(environ)
        job = params.get("job", "")
        with self._lock:
            self.calls.append((job, params))
            faults = self._faults.get(job)
            fault = faults.popleft() if faults else ""
        status, content_type, text = self._answer(environ, path, params, fault)
        payload = text.encode("iso-8859-1", "replace")
        start_response(
            status,
            [("Content-Type", content_type), ("Content-Length", str(len(payload)))],
        )
        return [payload]

    def _params(self, environ: dict[str, Any]) -> dict[str, str]:
        """Return the GET and POST parameters, each byte one Latin-1 char."""
        fields = parse_qsl(
            environ.get("QUERY_STRING", ""), keep_blank_values=True, encoding="latin-1"
        )
        if environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length).decode("latin-1")
            fields += parse_qsl(body, keep_blank_values=True, encoding="latin-1")
        return dict(fields)

    def _answer(
        self, environ: dict[str, Any], path: str, params: dict[str, str], fault: str
    ) -> tuple[str, str, str]:
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "localhost")
        url = f"{environ.get('wsgi.url_scheme', 'http')}://{host}{SCRIPT}"
        if fault == "timeout":
            self._closing.wait(self.hang_seconds)
            raise _DropConnection
        if fault == "reset":
            raise _DropConnection
        if fault == "http500":
            page = "<html><body><h1>Internal Server Error</h1></body></html>\n"
            return "500 Internal Server Error", HTML_TYPE, page
        if fault == "html":
            return "200 OK", HTML_TYPE, _HOME_PAGE
        if fault == "garbage":
            return "200 OK", TEXT_TYPE, "\x00\x93<<garbage>> 42\n"
        if self.busy or fault == "busy":
            page = _PAGE_HEAD + _BUSY_BODY.format(host=host)
            return "450 Unknown", HTML_TYPE, page
        for name, value in params.items():
            if len(value) >= MAX_LINELEN or not is_balanced(value):
                return "450 Unknown", HTML_TYPE, self._unmatched(url, params, name)
        if fault == "reject":
            return "450 Unknown", HTML_TYPE, self._unmatched(url, params, "data1")
        if params.get("module") != "adm/raw":
            return "200 OK", HTML_TYPE, _HOME_PAGE
        answer = self._adm_raw(environ, path, params, fault)
        delay = self.latency.get(params.get("job", ""), 0)
        if delay:
            self._closing.wait(delay)
        return answer

    def _unmatched(self, url: str, params: dict[str, str], bad: str) -> str:
        hidden = []
        for name, value in params.items():
            if name == bad:
                continue
            if name == "module":
                hidden.append(f'    <input type=hidden name=module value="{value}"/>')
            else:
                hidden.append(
                    f'    <input type="hidden" name="{name}" value="{value}"/>'
                )
        value = params.get(bad, "").rstrip()
        if len(value) >= MAX_LINELEN:
            field = f'<input size="3" name="{bad}" value=""/><p>'
        else:
            rows = value.count("\n") + 1
            field = (
                f'<textarea rows="{rows}" cols="50" name="{bad}">{value}</textarea>\n'
                "   <p>"
            )
        return _PAGE_HEAD + _UNMATCHED_BODY.format(
            blank="\n" * 18,
            url=url,
            name=bad,
            hidden="".join(line + "\n" for line in hidden),
            field=field,
        )

    def _adm_raw(
        self, environ: dict[str, Any], path: str, params: dict[str, str], fault: str
    ) -> tuple[str, str, str]:
        words = params.get("code", "").split()
        code = words[0] if words else ""
        job = params.get("job", "").lower()
        ident = params.get("ident", "")
        if job != "getinfoserver" or ident:
            # Before the ident is known WIMS cannot pick JSON: plain text.
            if not ident:
                return "200 OK", TEXT_TYPE, "ERROR\nidentification failure\n"
            if ident != self.ident:
                return (
                    "200 OK",
                    TEXT_TYPE,
                    "ERROR\nIdentification Failure : bad login/pwd\n",
                )
            if not code:
                return "200 OK", TEXT_TYPE, "ERROR\nrandom code not defined\n"
            if _alnum(params.get("passwd", "")) != _alnum(self.passwd):
                return self._error(code, "Identification Failure : bad login/pwd")
            agent = re.split(r"[./,;\s]", environ.get("HTTP_USER_AGENT", ""))[0]
            if self.agent and agent != self.agent:
                message = f"Identification Failure : '{agent}' is a bad Agent"
                return self._error(code, message)
        if fault.startswith("error:"):
            return self._error(code, fault[len("error:") :])
        handler = getattr(self, f"_job_{job}", None) if job.isalpha() else None
        if handler is None:
            return self._error(code, "wrong request: no job")
        try:
            with self._lock:
                body = handler(params, environ, path)
        except _Refusal as refusal:
            return self._error(code, refusal.message)
        if isinstance(body, _PlainText):
            return "200 OK", TEXT_TYPE, str(body)
        head = f'{{"status" : "OK","code":"{code}"\n,"job":"{job}"\n,'
        return "200 OK", JSON_TYPE, head + body

    def _error(self, code: str, message: str) -> tuple[str, str, str]:
        body = f'{{"status" : "ERROR","code":"{code}","message":"{message}"}}'
        return "200 OK", JSON_TYPE, body

    # State helpers (called with the lock held) ----------------------------

    def _today(self) -> str:
        return self.clock().strftime("%Y%m%d")

    def _touch(self, klass: _Class, path: str) -> None:
        klass.modified[path] = self.clock()

    def _new_class_id(self) -> str:
        while True:
            qclass = str(1_000_000 + secrets.randbelow(9_000_000))
            if qclass not in self._classes:
                return qclass

    def _class_defs(
        self, given: dict[str, str], creation: str, creator: str
    ) -> dict[str, str]:
        defs = dict.fromkeys(_CLASS_FIELDS, "")
        defs.update(
            creator=creator,
            type="0",
            typename="class",
            level="H4",
            css="-theme-",
            theme="standard",
            scorecolor=_SCORECOLOR,
            creation=creation,
        )
        defs.update({key: value for key, value in given.items() if key in defs})
        if not defs["expiration"]:
            defs["expiration"] = _add_years(creation, 1)
        if defs["lang"] not in _SITE_LANGUAGES:
            defs["lang"] = "en"
        limit = defs["limit"]
        defs["limit"] = limit if limit.isdecimal() and 1 <= int(limit) <= 500 else "30"
        return defs

    def _user_defs(self, given: dict[str, str]) -> dict[str, str]:
        defs = dict.fromkeys(sorted(_USER_DEFS), "")
        defs.update({key: value for key, value in given.items() if key in defs})
        return defs

    def _class(self, params: dict[str, str]) -> _Class:
        """Return the class of a request, refused as scripts/check.class does."""
        qclass = params.get("qclass", "").strip()
        rclass = params.get("rclass", "").strip()
        if not qclass or not rclass:
            raise _Refusal("undefined class")
        klass = self._classes.get(qclass)
        if klass is None:
            raise _Refusal(f"class {qclass} not existing")
        if f"{params.get('ident', '')}/{rclass}" not in klass.connections:
            raise _Refusal(f"connection refused by requested class ({qclass})")
        return klass

    def _user(self, klass: _Class, quser: str) -> dict[str, str]:
        if not quser or any(char in quser for char in "./;,?* "):
            raise _Refusal("bad user")
        if quser == "supervisor":
            return klass.supervisor
        user = klass.users.get(quser)
        if user is None:
            raise _Refusal(f"user {quser} not in this class ({klass.qclass})")
        return user

    def _item(self, klass: _Class, kind: str, number: str) -> tuple[int, _Item]:
        items = klass.sheets if kind == "sheet" else klass.exams
        if number.isdecimal() and 1 <= int(number) <= len(items):
            return int(number), items[int(number) - 1]
        raise _Refusal(
            f"element #{number} of type {kind} does not exist in this class "
            f"({klass.qclass})"
        )

    def _by_lastname(self, klass: _Class) -> list[tuple[str, dict[str, str]]]:
        return sorted(klass.users.items(), key=lambda pair: pair[1]["lastname"])

    # Jobs: each returns what follows the status, code and job lines --------

    def _job_checkident(self, params: dict[str, str], *_: Any) -> str:
        return '"message":"Connection accepted",\n"separator":","\n}'

    def _job_getinfoserver(self, params: dict[str, str], *_: Any) -> str:
        session = "".join(secrets.choice(_SESSION_ALPHABET) for _ in range(10))
        return (
            '"server_version":"4.15a",\n'
            f'"compilation_date":"{self.clock():%Y-%m-%d}",\n'
            f'"wims_session":"{session}",\n'
            '"format":"",\n'
            ' "edesc_limit":"250",\n'
            ' "etitle_limit":"40"\n}'
        )

    def _job_gettime(self, params: dict[str, str], *_: Any) -> str:
        return f'"server_time":"{self.clock():%Y%m%d.%H:%M:%S}"}}'

    def _job_addclass(self, params: dict[str, str], environ: Any, _: Any) -> str:
        qclass = params.get("qclass", "").strip()
        if qclass:
            if not qclass.isdecimal() or not 11_111 <= int(qclass) <= 10**9:
                raise _Refusal("bad class id")
            if qclass in self._classes:
                self._class(params)
                # From addclass.proc: an existing simple class is an error;
                # 4.15a was not recorded doing it.
                raise _Refusal(f"class {qclass} already exists")
        else:
            qclass = self._new_class_id()
        data1 = _data_lines(params.get("data1", ""))
        data2 = _data_lines(params.get("data2", ""))
        for name, data in (
            ("cl_description", data1.get("description")),
            ("cl_institution", data1.get("institution")),
            ("cl_supervisor", data1.get("supervisor")),
            ("cl_email", data1.get("email")),
            ("cl_password", data1.get("password")),
            ("su_lastname", data2.get("lastname")),
            ("su_password", data2.get("password")),
        ):
            if not data:
                raise _Refusal(f"incomplete data {name}")
        creation = self._today()
        klass = _Class(
            qclass=qclass,
            defs=self._class_defs(
                data1, creation, environ.get("REMOTE_ADDR", "127.0.0.1")
            ),
            connections={f"{params['ident']}/{params.get('rclass', '')}"},
            supervisor={**data2, "email": data1["email"]},
        )
        self._classes[qclass] = klass
        self._touch(klass, ".def")
        return (
            f'"class_id":"{qclass}",\n'
            f' "message":"class {qclass} correctly added",\n'
            ' "log":""\n}'
        )

    def _job_checkclass(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        return f'"qclass": "{klass.qclass}",\n "message":"Class exists"\n}}'

    def _job_getclass(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        options = [word for word in re.split(r"[,\s]+", params.get("option", ""))]
        options = [word for word in options if word] or list(_CLASS_FIELDS)
        values = {
            **klass.defs,
            "connections": "".join(f"+{c}+  " for c in sorted(klass.connections)),
            "usercount": str(len(klass.users)),
            "examcount": str(len(klass.exams)),
            "sheetcount": str(len(klass.sheets)),
        }
        items = []
        for name in options:
            if name == "userlist":
                items.append(f'"userlist":{_wims_list(sorted(klass.users))}')
            else:
                items.append(f'"{name}":"{values.get(name, "")}"')
        return (
            f'"query_class":"{klass.qclass}",\n  "rclass":"{params["rclass"]}"\n,'
            + ",".join(items)
            + "}"
        )

    def _job_modclass(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        data = _data_lines(params.get("data1", ""))
        changed = {
            name: value
            for name, value in data.items()
            if name in klass.defs and name and klass.defs[name] != value
        }
        if not changed:
            raise _Refusal("nothing done")
        klass.defs.update(changed)
        self._touch(klass, ".def")
        return (
            f'"qclass":"{klass.qclass}",\n"message":"Modifications done",\n'
            '"separator":","\n}'
        )

    def _job_delclass(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        del self._classes[klass.qclass]
        return (
            f'"class_id":"{klass.qclass}",\n'
            f' "message":"class {klass.qclass} correctly deleted",\n'
            ' "log":""\n}'
        )

    def _job_adduser(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        login = wims_login(params.get("quser", ""))
        if login == "supervisor" or not 4 <= len(login) <= 24:
            message = f"login name must not be {login} (illegal, or wrong length)"
            raise _Refusal(message)
        if login in klass.users:
            raise _Refusal(f"user already exists in this class ({klass.qclass})")
        if login in klass.trash:
            raise _Refusal("Deleted user found. Use Recuser instead.")
        data = _data_lines(params.get("data1", ""))
        if not data.get("password") or not data.get("lastname"):
            raise _Refusal("missing data")
        klass.users[login] = self._user_defs(data)
        self._touch(klass, f".users/{login}")
        return f'"message":"user {login} correctly added",\n "user_id":"{login}"\n}}'

    def _job_getuser(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        quser = params.get("quser", "")
        user = self._user(klass, quser)
        options = [word for word in re.split(r"[,\s]+", params.get("option", ""))]
        options = [word for word in options if word] or list(_USER_FIELDS)
        items = ",".join(f'"{name}":"{user.get(name, "")}"' for name in options)
        return (
            f'"query_class":"{klass.qclass}"\n,"queryuser":"{quser}"\n,' + items + "}"
        )

    def _job_checkuser(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        quser = params.get("quser", "")
        self._user(klass, quser)
        return f'"message":"user {quser} exists"\n}}'

    def _job_moduser(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        quser = params.get("quser", "")
        user = self._user(klass, quser)
        data = _data_lines(params.get("data1", ""))
        changed = {
            name: value
            for name, value in data.items()
            if name in _USER_DEFS and user.get(name) != value
        }
        if not changed:
            raise _Refusal("nothing done")
        user.update(changed)
        self._touch(klass, f".users/{quser}")
        return (
            f'"qclass":"{klass.qclass}",\n"message":"Modifications done",\n'
            f'"nb_modifs":"{len(changed)}"\n}}'
        )

    def _job_deluser(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        quser = params.get("quser", "")
        self._user(klass, quser)
        klass.trash[quser] = klass.users.pop(quser)
        self._touch(klass, f".users/.{quser}")
        return (
            f'"qclass":"{klass.qclass}",\n'
            f'"quser":"{quser}","message":"User {quser} moved to trash."}}'
        )

    def _job_recuser(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        login = wims_login(params.get("quser", ""))
        if login == "supervisor" or not 4 <= len(login) <= 24:
            raise _Refusal("bad login name")
        if login in klass.users:
            raise _Refusal("undeleted user exists")
        if login not in klass.trash:
            raise _Refusal("no deleted user found")
        klass.users[login] = klass.trash.pop(login)
        self._touch(klass, f".users/{login}")
        return '"message":"job done. TODO : more explicit messages here..."}'

    def _job_authuser(self, params: dict[str, str], environ: Any, path: str) -> str:
        klass = self._class(params)
        quser = params.get("quser", "")
        self._user(klass, quser)
        session = "".join(secrets.choice(_SESSION_ALPHABET) for _ in range(10))
        ip = params.get("data1", "").split()
        self.sessions[session] = (klass.qclass, quser, ip[0] if ip else "")
        # Like WIMS: the Host header the caller used and the script path; a
        # trailing slash after wims.cgi doubles it (NOTES wimsapi quirk 1).
        ref = SCRIPT if path == SCRIPT else path.rstrip("/") + "/wims.cgi"
        host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "localhost")
        scheme = environ.get("wsgi.url_scheme", "http")
        home_url = f"{scheme}://{host}{ref}?session={session}.1"
        return (
            f'"wims_session":"{session}"\n'
            f',"home_url":"{home_url}"\n'
            f',"user":"{quser}"\n'
            f',"class_id":"{klass.qclass}"\n}}'
        )

    def _job_addsheet(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        data = _data_lines(params.get("data1", ""))
        number = len(klass.sheets) + 1
        # Assumption: the default title follows the class language like the
        # default description seen in 4.15a ("Feuille d'exercices #3").
        default = (
            f"Feuille d'exercices #{number}"
            if klass.defs["lang"] == "fr"
            else f"Worksheet #{number}"
        )
        mode = data.get("sheetmode", "0")
        klass.sheets.append(
            _Item(
                status=int(mode) if mode in ("0", "1", "2", "3") else 0,
                expiration=data.get("expiration") or klass.defs["expiration"],
                title=data.get("title") or default,
                description=data.get("description") or default,
            )
        )
        self._touch(klass, "sheets/.sheets")
        return (
            f'"query_class":"{klass.qclass}",\n'
            f'"sheet_id":{number},\n"sheet_count":{number}\n}}'
        )

    def _job_getsheet(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        number, sheet = self._item(klass, "sheet", params.get("qsheet", ""))
        exolist = ",".join(
            "{" + ",".join(f'"{key}":"{value}"' for key, value in exo.items()) + "}"
            for exo in sheet.exercises
        )
        properties = (
            f"{sheet.status},{sheet.expiration},{sheet.title},{sheet.description},"
        )
        return (
            f'"query_class":"{klass.qclass}"\n'
            f',"query_sheet":"{number}"\n'
            f',"exo_cnt":"{len(sheet.exercises)}"\n'
            f',"sheet_properties":"{properties}"\n'
            f',"sheet_status":"{sheet.status}"\n'
            f',"sheet_expiration":"{sheet.expiration}"\n'
            f',"sheet_title":"{sheet.title}"\n'
            f',"sheet_description":"{sheet.description}"\n'
            f',"exolist":[{exolist}]\n}}'
        )

    def _job_checksheet(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        number, _sheet = self._item(klass, "sheet", params.get("qsheet", ""))
        message = f"sheet {number} exists"
        return f'"query_class":"{klass.qclass}"\n,"message":"{message}"\n}}'

    def _job_listsheets(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        numbers = [str(index) for index in range(1, len(klass.sheets) + 1)]
        titles = [
            f"{index}:{sheet.title}:{sheet.status}"
            for index, sheet in enumerate(klass.sheets, start=1)
        ]
        hidden = sum(1 for sheet in klass.sheets if sheet.status == 3)
        return (
            f'"query_class":"{klass.qclass}"\n'
            f',"nbsheet":"{len(klass.sheets)}"\n'
            f',"sheetlist":{_wims_list(numbers)}\n'
            f',"sheettitlelist":{_wims_list(titles)}\n'
            ',"separator":","\n'
            f',"hidden_sheets":"{hidden}"\n'
            f',"not_hidden_sheets":"{len(klass.sheets) - hidden}"\n}}'
        )

    def _modify(self, item: _Item, data: dict[str, str]) -> int:
        done = 0
        for name, value in data.items():
            if name == "status" and value in ("0", "1", "2", "3"):
                item.status = int(value)
            elif name in ("title", "description", "expiration"):
                setattr(item, name, value)
            elif name in ("duration", "attempts") and value.isdecimal():
                setattr(item, name, int(value))
            else:
                continue
            done += 1
        return done

    def _job_modsheet(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        number, sheet = self._item(klass, "sheet", params.get("qsheet", ""))
        data = _data_lines(params.get("data1", ""))
        data.pop("duration", None)
        data.pop("attempts", None)
        done = self._modify(sheet, data)
        self._touch(klass, "sheets/.sheets")
        return (
            f'"query_class":"{klass.qclass}",\n"querysheet":"{number}",\n'
            f'"changes_requested":{len(data)},\n"changes_done":{done},\n'
            f'"message":"{done} modifications done on sheet {number}."}}'
        )

    def _job_putexo(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        number, sheet = self._item(klass, "sheet", params.get("qsheet", ""))
        if sheet.status != 0:
            raise _Refusal("sheet mustn't be active")
        data = _data_lines(params.get("data1", ""))
        exo = {
            "module": data.get("module", ""),
            "title": data.get("title", ""),
            "params": data.get("params", ""),
            "points": data.get("points", "10"),
            "weight": data.get("weight", "1"),
            "description": data.get("description", ""),
        }
        sheet.exercises.append(exo)
        self._touch(klass, f"sheets/.sheet{number}")
        return (
            f'"message":"exercice correctly added in sheet #{number}",\n'
            f'"query_class":"{klass.qclass}",\n'
            f'"exo_module":"{exo["module"]}",\n'
            f'"querysheet":"{number}",\n'
            f'"exo_count":{len(sheet.exercises)}}}'
        )

    def _job_addexam(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        data = _data_lines(params.get("data1", ""))
        number = len(klass.exams) + 1
        duration = data.get("duration", "")
        attempts = data.get("attempts", "")
        # addexam ignores exammode: a new exam is always inactive (NOTES).
        klass.exams.append(
            _Item(
                status=0,
                expiration=data.get("expiration") or klass.defs["expiration"],
                title=data.get("title") or f"Exam #{number}",
                description=data.get("description") or f"Exam #{number}",
                duration=int(duration) if duration.isdecimal() else 60,
                attempts=int(attempts) if attempts.isdecimal() else 1,
            )
        )
        self._touch(klass, "exams/.exams")
        return (
            f'"query_class":"{klass.qclass}",\n'
            f'"exam_id":{number},\n"exam_count":{number},\n'
            f'"message":"exam #{number} correctly added"\n}}'
        )

    def _job_getexam(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        number, exam = self._item(klass, "exam", params.get("qexam", ""))
        numbered = list(enumerate(exam.exercises, start=1))
        exolist = ",".join(str(index) for index, _exo in numbered)
        exotitles = ",".join(f"{index}:{exo['title']}" for index, exo in numbered)
        properties = (
            f",{exam.status},{exam.expiration},{exam.duration} {exam.attempts},"
            f"{exam.title},{exam.description},,,"
        )
        return (
            f'"query_class":"{klass.qclass}"\n'
            f',"query_exam":"{number}"\n'
            f',"exam_properties":"{properties}"\n'
            f',"exocnt":"{len(exam.exercises)}"\n'
            f',"exolist":"{exolist}"\n'
            f',"exotitlelist":"{exotitles}"\n'
            ',"exam_opening":""\n'
            f',"exam_status":"{exam.status}"\n'
            f',"exam_expiration":"{exam.expiration}"\n'
            f',"exam_duration":"{exam.duration}"\n'
            f',"exam_attempts":"{exam.attempts}"\n'
            f',"exam_title":"{exam.title}"\n'
            f',"exam_description":"{exam.description}"\n'
            ',"exam_cut_hours":""\n}'
        )

    def _job_checkexam(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        number, _exam = self._item(klass, "exam", params.get("qexam", ""))
        return f'"query_class":"{klass.qclass}"\n,"message":"exam {number} exists"\n}}'

    def _job_listexams(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        numbers = [str(index) for index in range(1, len(klass.exams) + 1)]
        titles = [
            f"{index}:{exam.title}:{exam.status}"
            for index, exam in enumerate(klass.exams, start=1)
        ]
        return (
            f'"query_class":"{klass.qclass}"\n'
            f',"nbexam":"{len(klass.exams)}"\n'
            f',"examlist":{_wims_list(numbers)}\n'
            f',"examtitlelist":{_wims_list(titles)}\n}}'
        )

    def _job_modexam(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        number, exam = self._item(klass, "exam", params.get("qexam", ""))
        data = _data_lines(params.get("data1", ""))
        if data.get("status") == "1" and not exam.exercises:
            raise _Refusal("Empty Exam. You can't active an exam with no exercice !")
        done = self._modify(exam, data)
        self._touch(klass, "exams/.exams")
        return (
            f'"query_class":"{klass.qclass}",\n"queryexam":"{number}",\n'
            f'"nb_modifs":"{done}",\n'
            f'"message":"{done} modifications done on exam {number}."}}'
        )

    def _job_getsheetscores(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        number, sheet = self._item(klass, "sheet", params.get("qsheet", ""))
        if sheet.status not in (1, 2):
            raise _Refusal(f"Sheet #{number} must be active")
        if not klass.users:
            raise _Refusal("There is no user in this class")
        active_index = sum(1 for s in klass.sheets[:number] if s.status in (1, 2))
        rows = []
        percents, qualities = [], []
        for login, user in self._by_lastname(klass):
            score = klass.sheet_scores.get((number, login), {})
            percent = score.get("percent", 0.0)
            quality = score.get("quality", 0.0)
            percents.append(percent)
            qualities.append(quality)
            got = [percent / 10] * len(sheet.exercises)
            rows.append(
                f'{{"id":"{login}", "first_name":"{user["firstname"]}", '
                f'"last_name":"{user["lastname"]}", '
                f'"user_percent":{_number(percent)}, '
                f'"user_quality":{_number(quality)}, '
                f'"user_level":{_number(score.get("level", 0.0))}, '
                f'"user_best":{_number(score.get("best", 0.0))}, '
                f'"got_detail":{_numbers(got)}, '
                f'"mean_detail":{_numbers([quality] * len(sheet.exercises))}, '
                f'"remain":{_numbers(10 - value for value in got)}, '
                f'"best_detail":{_numbers(got)}, '
                f'"level_detail":{_numbers(got)}}}'
            )
        return (
            f'"query_sheet":{number}\n'
            f',"query_class":"{klass.qclass}"\n'
            f',"active_index":{active_index}\n'
            ',"requires":[]\n'
            ',"score_status":""\n'
            ',"class_scoremax":10\n'
            f',"weights":{_numbers([1] * len(sheet.exercises))}\n'
            f',"sheet_mean_quality":{_number(sum(qualities) / len(qualities))}\n'
            f',"sheet_mean_percent":{_number(sum(percents) / len(percents))}\n'
            f',"sheet_max_quality":{_number(max(qualities))}\n'
            f',"sheet_max_percent":{_number(max(percents))}\n'
            f',"user_cnt":{len(klass.users)}\n'
            ',"data_scores":[' + ",\n".join(rows) + "]}"
        )

    def _job_linksheet(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        qsheet, sheet = self._item(klass, "sheet", params.get("qsheet", ""))
        qexam, exam = self._item(klass, "exam", params.get("qexam", ""))
        # Assumption: these two texts were not recorded (NOTES: linksheet
        # refuses inactive sheets and active exams).
        if sheet.status != 1:
            raise _Refusal(f"sheet #{qsheet} must be active")
        if exam.status != 0:
            raise _Refusal(f"exam #{qexam} mustn't be active")
        exam.exercises.extend(dict(exo) for exo in sheet.exercises)
        self._touch(klass, "exams/.exams")
        return (
            f'"message":"{len(sheet.exercises)} exercice(s) correctly added in '
            f'exam #{qexam} from sheet #{qsheet}",\n'
            f'"query_class":"{klass.qclass}",\n'
            f'"querysheet":"{qsheet}",\n'
            '"queryexo":"ALL",\n'
            f'"queryexam":"{qexam}",\n'
            f'"exo_count":{len(exam.exercises)}\n}}'
        )

    def _job_getexamscores(self, params: dict[str, str], *_: Any) -> str:
        klass = self._class(params)
        number, exam = self._item(klass, "exam", params.get("qexam", ""))
        if exam.status not in (1, 2, 3):
            raise _Refusal(f"Exam #{number} must be active")
        if not klass.users:
            raise _Refusal("There's no user in this class")
        active_index = sum(1 for e in klass.exams[:number] if e.status in (1, 2))
        rows = []
        scores = []
        for login, user in self._by_lastname(klass):
            score, attempts = klass.exam_scores.get((number, login), (0.0, 0))
            if attempts > 0:
                scores.append(score)
                rows.append(
                    f'{{"id":"{login}", "first_name":"{user["firstname"]}", '
                    f'"last_name":"{user["lastname"]}", '
                    f'"score":{_number(score)} , "attempts" : {attempts}}}'
                )
        data_scores = "[" + ",\n".join(rows) + "]" if rows else '""'
        # 4.15a lists one weight per exercise of every sheet with exercises.
        weights = [1] * sum(len(sheet.exercises) for sheet in klass.sheets)
        return (
            f'"query_exam":{number},\n'
            f'"query_class":"{klass.qclass}",\n'
            f'"active_index":{active_index},\n'
            '"score_status":"",\n'
            '"class_scoremax":10,\n'
            f'"weights":{_numbers(weights)},\n'
            f'"class_user_cnt":{len(klass.users)},\n'
            f'"user_cnt":{len(rows)},\n'
            f'"score_max":{_number(max(scores, default=0))},\n'
            f'"score_mean":{_number(sum(scores) / len(scores) if scores else 0)},\n'
            f'"data_scores":{data_scores}\n}}'
        )

    def _job_getcsv(self, params: dict[str, str], *_: Any) -> str:
        # Modelled on getcsv.proc and seq 77/78 of the transcript: a bare
        # table of ids, labels, an empty line, then one row per user.
        klass = self._class(params)
        sep = _CSV_SEPARATORS.get(params.get("format", ""), ",")
        # Every sheet and exam that is not pending, named by its number.
        sheets = [n for n, sheet in enumerate(klass.sheets, start=1) if sheet.status]
        exams = [n for n, exam in enumerate(klass.exams, start=1) if exam.status]
        labels = dict(_CSV_LABELS)
        labels.update((f"sheet{n}", klass.sheets[n - 1].title) for n in sheets)
        labels.update((f"exam{n}", klass.exams[n - 1].title) for n in exams)
        averages = ["average1"] if sheets or exams else []
        groups = {
            "name": ["lastname", "firstname"],
            "names": ["lastname", "firstname"],
            "allscore": [*averages, "sheets", "exams"],
            "allscores": [*averages, "sheets", "exams"],
            "averages": averages,
            "sheets": [f"sheet{n}" for n in sheets],
            "exams": [f"exam{n}" for n in exams],
        }
        columns: list[str] = []
        option = params.get("option", "").lower() or "login,name"
        for word in re.split(r"[,\s]+", option):
            for name in groups.get(word, [word]):
                for column in groups.get(name, [name]):
                    if column in labels and column not in columns:
                        columns.append(column)
        if not columns:
            raise _Refusal("nothing done")
        lines = [
            sep.join(columns),
            sep.join(f'"{labels[column]}"' for column in columns),
            "",
        ]
        for login, user in self._by_lastname(klass):
            scores = {
                f"sheet{n}": klass.sheet_scores.get((n, login), {}).get("score", 0.0)
                for n in sheets
            }
            scores.update(
                (f"exam{n}", klass.exam_scores.get((n, login), (0.0, 0))[0])
                for n in exams
            )
            cells = {name: f'"{user.get(name, "")}"' for name in _CSV_LABELS}
            cells["login"] = f'"{login}"'
            cells.update((name, _csv_number(value)) for name, value in scores.items())
            # As recorded, the server average is the plain mean of the scores.
            mean = sum(scores.values()) / len(scores) if scores else 0.0
            cells["average1"] = f'"{_csv_number(round(mean, 2))}"'
            lines.append(sep.join(cells[column] for column in columns))
        return _PlainText("".join(line + "\n" for line in lines))

    def _job_getclassmodif(self, params: dict[str, str], *_: Any) -> str:
        # Modelled on getclassmodif.proc (not recorded in the transcripts):
        # data1 goes to `date -d`, the answer is `find -newer` output.
        klass = self._class(params)
        since_text = params.get("data1", "").strip()
        since: datetime.datetime | None
        if not since_text:
            since = self.clock() - datetime.timedelta(days=1)
        else:
            try:
                since = datetime.datetime.fromisoformat(since_text)
            except ValueError:
                since = None
        paths = []
        if since is not None:
            paths = sorted(
                path for path, when in klass.modified.items() if when > since
            )
        return '"modifs":"' + "\n".join(paths) + '"}'


class _Server(ThreadingHTTPServer):
    # Join the request threads on close, so none outlives the test.
    daemon_threads = False
    block_on_close = True
    # Room for the bursts of the concurrency tests (the default is 5).
    request_queue_size = 64
    app: WimsDouble

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout tests) leaves a broken pipe behind.
        if isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    """Serve the WSGI app over HTTP/1.0, one request a connection."""

    protocol_version = "HTTP/1.0"
    timeout = 10
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            environ["HTTP_" + name.upper().replace("-", "_")] = value
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            started[:] = [status, headers]

        try:
            payload = b"".join(self.server.app(environ, start_response))
        except _DropConnection:
            # Linger 0: closing sends a reset instead of a clean end.
            self.connection.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            self.close_connection = True
            return
        status, headers = started
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
