"""Client of the WIMS adm/raw module: one method per job, typed results.

WIMS 4.15a stores the bytes it is sent and answers in ISO-8859-1, as JSON
that is not always valid (values are not escaped), as plain text
``OK``/``ERROR`` lines, or as an HTTP 450 HTML page. ``parse_answer`` turns
all of these into a dict or a ``WimsError``; see wims/NOTES.md.
"""

import dataclasses
import datetime
import json
import logging
import math
import re
import secrets
import string
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import urlencode

import requests
from urllib3.exceptions import ReadTimeoutError

from wimslti.wims.errors import (
    WimsError,
    WimsProtocolError,
    WimsRefused,
    WimsRejectedRequest,
    WimsTimeout,
    WimsUnavailable,
    refusal,
)
from wimslti.wims.login import LOGIN_MAX, LOGIN_MIN, RESERVED_LOGIN, wims_login
from wimslti.wims.text import clean_value, is_balanced, to_latin1

log = logging.getLogger(__name__)

# Our own limits: WIMS 4.15a bounds only exercise titles and descriptions
# (getinfoserver etitle_limit 40, edesc_limit 250), which no job here sends.
CLASS_TEXT_LIMIT = 100
NAME_LIMIT = 60
EMAIL_LIMIT = 100
REGNUM_LIMIT = 40
PASSWORD_LIMIT = 64
# WIMS answers HTTP 450 for any parameter value of 45000 characters or more.
MAX_VALUE_LENGTH = 44_999

CLASS_ID_MIN = 11_111
CLASS_ID_MAX = 10**9
CLASS_LIMIT_MIN = 1
CLASS_LIMIT_MAX = 500
_LEVEL = re.compile(r"E[1-6]|H[1-6]|U[1-5]|G|R")
_OPTION = re.compile(r"[a-z_]+")
# getcsv column ids and option words: login, sheets, sheet3, external_auth ...
_COLUMN = re.compile(r"[a-z][a-z0-9_]*")
_CODE_ALPHABET = string.ascii_uppercase + string.digits
_HEADERS = {"Content-Type": "application/x-www-form-urlencoded; charset=ISO-8859-1"}
_T = TypeVar("_T")


@dataclasses.dataclass(frozen=True)
class ClassInfo:
    """The properties of a new class (data1 of addclass)."""

    description: str
    institution: str
    supervisor: str
    email: str
    password: str = dataclasses.field(repr=False)
    lang: str
    expiration: str
    limit: int
    level: str | None = None
    css: str | None = None


@dataclasses.dataclass(frozen=True)
class SupervisorInfo:
    """The supervisor account of a new class (data2 of addclass)."""

    lastname: str
    firstname: str
    password: str = dataclasses.field(repr=False)
    email: str


@dataclasses.dataclass(frozen=True)
class UserInfo:
    """The account of a new class member (data1 of adduser)."""

    lastname: str
    firstname: str
    password: str = dataclasses.field(repr=False)
    email: str | None = None
    regnum: str | None = None


@dataclasses.dataclass(frozen=True)
class AuthSession:
    """A WIMS session opened by authuser."""

    wims_session: str
    home_url: str


@dataclasses.dataclass(frozen=True)
class UserRecord:
    """What WIMS keeps of a class member (getuser, without the password)."""

    quser: str
    lastname: str
    firstname: str
    email: str


@dataclasses.dataclass(frozen=True)
class Sheet:
    """A worksheet; status 0 pending, 1 active, 2 expired, 3 hidden."""

    qsheet: str
    status: int
    title: str
    expiration: str


@dataclasses.dataclass(frozen=True)
class Exam:
    """An exam; status as for sheets, duration in minutes."""

    qexam: str
    status: int
    title: str
    expiration: str
    duration: int | None
    attempts: int | None


@dataclasses.dataclass(frozen=True)
class ItemSummary:
    """One sheet or exam of listsheets / listexams."""

    id: str
    title: str
    status: int


@dataclasses.dataclass(frozen=True)
class SheetScore:
    """The score of one user on a sheet; None where WIMS says NaN.

    score is the score of the teacher's formula on 0–10, which
    getsheetscores does not give: the caller fills it from ``getcsv``.
    """

    quser: str
    percent: float | None
    quality: float | None
    level: float | None
    best: float | None
    score: float | None = None


@dataclasses.dataclass(frozen=True)
class ExamScore:
    """The score of one user who attempted an exam."""

    quser: str
    score: float | None
    attempts: int | None


def new_class_id() -> str:
    """Return a random 7-digit qclass for addclass."""
    return str(1_000_000 + secrets.randbelow(9_000_000))


def _new_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(10))


class WimsClient:
    """Call the adm/raw jobs of one WIMS server as one ident/rclass."""

    def __init__(
        self,
        url: str,
        ident: str,
        passwd: str,
        rclass: str,
        *,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        on_call: Callable[[str, float, str], None] | None = None,
    ) -> None:
        self.url = url
        self.ident = ident
        self.passwd = passwd
        self.rclass = rclass
        self.timeout = timeout
        self._owns_session = session is None
        # requests' default User-Agent is kept: WIMS connection files usually
        # require "python-requests" (ident_agent).
        self.session = session if session is not None else requests.Session()
        # Told of each call: job, seconds, and "ok" or the error's class name.
        self.on_call = on_call

    def __repr__(self) -> str:
        return f"WimsClient({self.url!r}, {self.ident!r}, rclass={self.rclass!r})"

    def close(self) -> None:
        """Close the HTTP session if this client created it."""
        if self._owns_session:
            self.session.close()

    def checkident(self) -> str:
        """Check that WIMS accepts our ident and password; return its message."""
        data = self._call("checkident")
        return str(data.get("message", ""))

    def addclass(
        self, qclass: str, klass: ClassInfo, supervisor: SupervisorInfo
    ) -> str:
        """Create class qclass and return the class id WIMS gives it.

        The caller picks qclass (see ``new_class_id``) so that a retry after a
        timeout finds the class (``ClassExists``) instead of making another.
        A description or name that is empty once made safe for WIMS is
        replaced by a neutral text.

        :raises ValueError: for a qclass, lang, level, expiration, email or
            password WIMS would refuse.
        :raises ClassExists: if qclass is already one of our classes.
        """
        qclass = _class_id(qclass)
        supervisor_name = clean_value(klass.supervisor, CLASS_TEXT_LIMIT)
        data1 = _lines(
            ("description", _text(klass.description, CLASS_TEXT_LIMIT, "Class")),
            ("institution", _text(klass.institution, CLASS_TEXT_LIMIT, "-")),
            ("supervisor", supervisor_name or "Supervisor"),
            ("email", _email(klass.email, "class email")),
            ("password", _password(klass.password, "class password")),
            ("lang", _lang(klass.lang)),
            ("expiration", _date(klass.expiration)),
            ("limit", str(min(max(klass.limit, CLASS_LIMIT_MIN), CLASS_LIMIT_MAX))),
            ("level", _level(klass.level)),
            ("css", clean_value(klass.css or "", CLASS_TEXT_LIMIT)),
        )
        data2 = _lines(
            ("lastname", _text(supervisor.lastname, NAME_LIMIT, "Supervisor")),
            ("firstname", clean_value(supervisor.firstname, NAME_LIMIT)),
            ("password", _password(supervisor.password, "supervisor password")),
            ("email", _email(supervisor.email, "supervisor email")),
        )
        data = self._call("addclass", qclass=qclass, data1=data1, data2=data2)
        return str(_field(data, "class_id", "addclass"))

    def checkclass(self, qclass: str) -> None:
        """Check that class qclass exists and accepts our ident/rclass.

        :raises ClassNotFound: if it does not exist.
        :raises ClassNotConnected: if it does not accept us.
        """
        self._call("checkclass", qclass=str(qclass))

    def getclass(
        self,
        qclass: str,
        options: list[str] | None = None,
    ) -> dict[str, Any]:
        """Return the properties of class qclass (only options, if given)."""
        option = None
        if options:
            for name in options:
                if not _OPTION.fullmatch(name):
                    raise ValueError(f"not a class property name: {name!r}")
            option = ",".join(options)
        data = self._call("getclass", qclass=str(qclass), option=option)
        return {
            key: value
            for key, value in data.items()
            if key not in ("status", "code", "job")
        }

    def delclass(self, qclass: str) -> None:
        """Delete class qclass (WIMS keeps an archive of it)."""
        self._call("delclass", qclass=str(qclass))

    def adduser(self, qclass: str, quser: str, user: UserInfo) -> str:
        """Add user quser to class qclass and return the login WIMS stored.

        An empty last name (once made safe for WIMS) is replaced by quser.

        :raises ValueError: for a login or password WIMS would refuse.
        :raises UserExists: if the login is taken.
        :raises DeletedUserFound: if the login is in the trash (use recuser).
        """
        _check_login(quser)
        data1 = _lines(
            ("lastname", clean_value(user.lastname, NAME_LIMIT) or quser),
            ("firstname", clean_value(user.firstname, NAME_LIMIT)),
            ("password", _password(user.password, "user password")),
            ("email", clean_value(user.email or "", EMAIL_LIMIT)),
            ("regnum", clean_value(user.regnum or "", REGNUM_LIMIT)),
        )
        data = self._call("adduser", qclass=str(qclass), quser=quser, data1=data1)
        return str(_field(data, "user_id", "adduser"))

    def recuser(self, qclass: str, quser: str) -> None:
        """Bring user quser back from the class trash; done if already back."""
        try:
            self._call("recuser", qclass=str(qclass), quser=quser)
        except WimsRefused as error:
            if error.message.strip() != "undeleted user exists":
                raise
            log.debug("recuser: %s is already an active user of %s", quser, qclass)

    def authuser(
        self, qclass: str, quser: str, *, user_ip: str | None = None
    ) -> AuthSession:
        """Open a WIMS session for quser (``supervisor`` for the teacher).

        user_ip, the address of the user's browser, lets WIMS tie an exam
        session to it. home_url is kept exactly as WIMS returns it.
        """
        data1 = clean_value(user_ip, 64) if user_ip else None
        data = self._call("authuser", qclass=str(qclass), quser=quser, data1=data1)
        return AuthSession(
            wims_session=str(_field(data, "wims_session", "authuser")),
            home_url=str(_field(data, "home_url", "authuser")),
        )

    def getuser(self, qclass: str, quser: str) -> UserRecord:
        """Return what class qclass keeps of user quser.

        :raises UserNotFound: if quser is not a member of the class.
        """
        data = self._call(
            "getuser",
            qclass=str(qclass),
            quser=quser,
            option="firstname,lastname,email",
        )
        return UserRecord(
            quser=str(data.get("queryuser", quser)),
            lastname=str(data.get("lastname", "")),
            firstname=str(data.get("firstname", "")),
            email=str(data.get("email", "")),
        )

    def getsheet(self, qclass: str, qsheet: str | int) -> Sheet:
        """Return sheet qsheet of class qclass.

        :raises ItemNotFound: if the sheet does not exist.
        """
        data = self._call("getsheet", qclass=str(qclass), qsheet=str(qsheet))
        return Sheet(
            qsheet=str(data.get("query_sheet", qsheet)),
            status=_int(_field(data, "sheet_status", "getsheet"), "getsheet"),
            title=str(data.get("sheet_title", "")),
            expiration=str(data.get("sheet_expiration", "")),
        )

    def getexam(self, qclass: str, qexam: str | int) -> Exam:
        """Return exam qexam of class qclass.

        :raises ItemNotFound: if the exam does not exist.
        """
        data = self._call("getexam", qclass=str(qclass), qexam=str(qexam))
        # Older WIMS versions spell two keys differently.
        expiration = data.get("exam_expiration", data.get("exam_expiration ", ""))
        return Exam(
            qexam=str(data.get("query_exam", data.get("queryexam", qexam))),
            status=_int(_field(data, "exam_status", "getexam"), "getexam"),
            title=str(data.get("exam_title", "")),
            expiration=str(expiration),
            duration=_optional_int(data.get("exam_duration")),
            attempts=_optional_int(data.get("exam_attempts")),
        )

    def listsheets(self, qclass: str) -> list[ItemSummary]:
        """Return the sheets of class qclass."""
        data = self._call("listsheets", qclass=str(qclass))
        return _summaries(data, "sheetlist", "sheettitlelist", "listsheets")

    def listexams(self, qclass: str) -> list[ItemSummary]:
        """Return the exams of class qclass."""
        data = self._call("listexams", qclass=str(qclass))
        return _summaries(data, "examlist", "examtitlelist", "listexams")

    def getsheetscores(self, qclass: str, qsheet: str | int) -> list[SheetScore]:
        """Return the score of every user of class qclass on sheet qsheet.

        :raises SheetNotActive: if the sheet is pending.
        """
        data = self._call("getsheetscores", qclass=str(qclass), qsheet=str(qsheet))
        return [
            SheetScore(
                quser=quser,
                percent=_number(row.get("user_percent")),
                quality=_number(row.get("user_quality")),
                level=_number(row.get("user_level")),
                best=_number(row.get("user_best")),
            )
            for quser, row in _score_rows(data, "getsheetscores")
        ]

    def getexamscores(self, qclass: str, qexam: str | int) -> list[ExamScore]:
        """Return the score of every user of class qclass who attempted qexam."""
        data = self._call("getexamscores", qclass=str(qclass), qexam=str(qexam))
        return [
            ExamScore(
                quser=quser,
                score=_number(row.get("score")),
                attempts=_optional_int(row.get("attempts")),
            )
            for quser, row in _score_rows(data, "getexamscores")
        ]

    def getcsv(
        self, qclass: str, columns: Iterable[str] = ("login", "sheets", "exams")
    ) -> dict[str, dict[str, float | None]]:
        """Return the score table of class qclass: login → column id → number.

        columns are WIMS's option words: ``sheets`` (every sheet that is not
        pending, as ``sheet<N>`` with N the sheet number), ``exams``
        (``exam<N>``), ``averages``, or one column such as ``sheet2``; login
        is always asked. ``sheet<N>`` is the score of the teacher's formula
        and ``exam<N>`` the exam score, both on 0–10. A cell that is not a
        number (NaN, empty, a name) reads as None.

        :raises ValueError: for a column name that is not a WIMS column id.
        :raises ClassNotFound: if the class does not exist.
        :raises WimsRefused: for another ERROR answer.
        :raises WimsProtocolError: for an answer that is not a table.
        """
        names = [str(column).strip().lower() for column in columns]
        for name in names:
            if not _COLUMN.fullmatch(name):
                raise ValueError(f"not a getcsv column: {name!r}")
        if "login" not in names:
            names.insert(0, "login")
        # wimsapi sends "frmt", which WIMS ignores (NOTES quirk 3): the
        # parameter is "format". Tab-separated, because the names we store
        # have no tabs (clean_value) while they may have commas.
        return self._request(
            "getcsv",
            parse_table,
            qclass=str(qclass),
            format="tsv",
            option=",".join(names),
        )

    def getclassmodif(
        self, qclass: str, since: datetime.date | datetime.datetime
    ) -> list[str]:
        """Return the files of class qclass modified since a date (server time).

        Paths are relative to the class folder, e.g. ``score/jdoe``; WIMS
        writes scores up to a minute late (its log daemon buffers them).
        """
        # TODO: check the answer's layout against a real WIMS; the job is in
        # the adm/raw source but no transcript records it.
        if isinstance(since, datetime.datetime):
            data1 = since.strftime("%Y-%m-%d %H:%M")
        else:
            data1 = since.strftime("%Y-%m-%d")
        data = self._call("getclassmodif", qclass=str(qclass), data1=data1)
        return str(data.get("modifs", "")).split()

    def _call(self, job: str, **params: str | None) -> dict[str, Any]:
        """Send one adm/raw request and return the parsed OK answer.

        :raises WimsError: for any failure, see ``parse_answer``.
        """
        return self._request(job, parse_answer, **params)

    def _request(self, job: str, parse: Callable[..., _T], **params: str | None) -> _T:
        """Send one adm/raw request and return what parse makes of the answer.

        parse is called as ``parse_answer`` is: HTTP status, body, job, code.
        """
        code = _new_code()
        fields = {
            "module": "adm/raw",
            "ident": self.ident,
            "passwd": self.passwd,
            "code": code,
            "job": job,
            "rclass": self.rclass,
        }
        fields.update({key: value for key, value in params.items() if value})
        started = time.monotonic()
        outcome = "OK"
        kind = "ok"
        try:
            body = _encode(fields, job)
            response = self._post(body, job)
            return parse(response.status_code, response.content, job=job, code=code)
        except WimsError as error:
            kind = type(error).__name__
            outcome = f"{kind}: {error.message[:200]}"
            raise
        finally:
            if self.on_call is not None:
                self.on_call(job, time.monotonic() - started, kind)
            log.debug(
                "adm/raw %s qclass=%s %.1f ms: %s",
                job,
                params.get("qclass") or "-",
                (time.monotonic() - started) * 1000,
                outcome,
            )

    def _post(self, body: bytes, job: str) -> requests.Response:
        try:
            return self.session.post(
                self.url, data=body, headers=_HEADERS, timeout=self.timeout
            )
        except requests.Timeout as error:
            message = f"no answer within {self.timeout} s"
            raise WimsTimeout(message, job=job) from error
        except requests.ConnectionError as error:
            # A read timeout while the body arrives surfaces as a
            # ConnectionError wrapping urllib3's ReadTimeoutError.
            if error.args and isinstance(error.args[0], ReadTimeoutError):
                message = f"no answer within {self.timeout} s"
                raise WimsTimeout(message, job=job) from error
            message = f"cannot reach WIMS ({type(error).__name__})"
            raise WimsUnavailable(message, job=job) from error
        except requests.exceptions.ChunkedEncodingError as error:
            raise WimsUnavailable("connection broken mid-answer", job=job) from error


def _encode(fields: dict[str, str], job: str) -> bytes:
    """Return the form body in ISO-8859-1, refusing what WIMS would reject.

    :raises WimsRejectedRequest: for a value WIMS answers HTTP 450 to.
    """
    latin1 = {name: to_latin1(value) for name, value in fields.items()}
    for name, value in latin1.items():
        if len(value) > MAX_VALUE_LENGTH:
            raise WimsRejectedRequest(
                f"not sent: {name} has {len(value)} characters", job=job
            )
        if not is_balanced(value):
            raise WimsRejectedRequest(
                f"not sent: {name} has unbalanced brackets", job=job
            )
    return urlencode(latin1, encoding="iso-8859-1").encode("ascii")


def _lines(*pairs: tuple[str, str]) -> str:
    """Return data1/data2 text: one ``name=value`` line per non-empty value."""
    return "\n".join(f"{name}={value}" for name, value in pairs if value)


def _text(value: str, max_length: int, default: str) -> str:
    return clean_value(value, max_length) or default


def _class_id(qclass: str) -> str:
    qclass = str(qclass).strip()
    if not re.fullmatch(r"[0-9]+", qclass) or not (
        CLASS_ID_MIN <= int(qclass) <= CLASS_ID_MAX
    ):
        raise ValueError(f"WIMS refuses class id {qclass!r}")
    return qclass


def _check_login(quser: str) -> None:
    stored = wims_login(quser)
    if stored == RESERVED_LOGIN or not LOGIN_MIN <= len(stored) <= LOGIN_MAX:
        raise ValueError(f"WIMS refuses login {quser!r}")


def _password(password: str, what: str) -> str:
    # WIMS compares passwords on their letters and digits only.
    value = re.sub(r"[^A-Za-z0-9]", "", to_latin1(password))[:PASSWORD_LIMIT]
    if not value:
        raise ValueError(f"{what} has no letter or digit")
    return value


def _email(email: str, what: str) -> str:
    value = clean_value(email, EMAIL_LIMIT)
    if not value:
        raise ValueError(f"{what} is empty")
    return value


def _lang(lang: str) -> str:
    match = re.match(r"\s*([A-Za-z]{2})(?![A-Za-z])", lang)
    if not match:
        raise ValueError(f"not a language code: {lang!r}")
    return match.group(1).lower()


def _date(value: str) -> str:
    if not re.fullmatch(r"[0-9]{8}", value):
        raise ValueError(f"not a yyyymmdd date: {value!r}")
    return value


def _level(level: str | None) -> str:
    if not level:
        return ""
    value = level.strip().upper()
    if not _LEVEL.fullmatch(value):
        raise ValueError(f"not a WIMS class level: {level!r}")
    return value


def _field(data: dict[str, Any], key: str, job: str) -> Any:
    if key not in data:
        raise WimsProtocolError(f"answer has no {key!r}", job=job)
    return data[key]


def _int(value: Any, job: str) -> int:
    number = _optional_int(value)
    if number is None:
        raise WimsProtocolError(f"not an integer: {value!r}", job=job)
    return number


def _optional_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else None
    text = str(value if value is not None else "").strip()
    return int(text) if re.fullmatch(r"-?[0-9]+", text) else None


def _number(value: Any) -> float | None:
    """Return a WIMS score as a float; None for NaN, empty or garbage."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        try:
            number = float(str(value).strip())
        except ValueError:
            return None
    return number if math.isfinite(number) else None


def _summaries(
    data: dict[str, Any], ids_key: str, titles_key: str, job: str
) -> list[ItemSummary]:
    """Parse listsheets/listexams ``"id:title:status"`` items.

    WIMS joins titles with commas and splits them again to build the list,
    so a title with a comma arrives in several items; they are joined back
    using the ids list to know where each entry starts.
    """
    titles = _field(data, titles_key, job)
    if not isinstance(titles, list):
        raise WimsProtocolError(f"{titles_key} is not a list", job=job)
    ids = [str(item) for item in data.get(ids_key) or [] if str(item).strip()]
    entries: list[str] = []
    for item in (str(title) for title in titles):
        if ids:
            starts = len(entries) < len(ids) and item.startswith(
                ids[len(entries)] + ":"
            )
        else:
            starts = bool(re.match(r"\d+:", item))
        if starts:
            entries.append(item)
        elif entries:
            entries[-1] += "," + item
        elif item:
            raise WimsProtocolError(f"unexpected {titles_key} item", job=job)
    summaries = []
    for entry in entries:
        ident, _, rest = entry.partition(":")
        title, _, status = rest.rpartition(":")
        summaries.append(ItemSummary(id=ident, title=title, status=_int(status, job)))
    return summaries


def _score_rows(data: dict[str, Any], job: str) -> list[tuple[str, dict[str, Any]]]:
    rows = _field(data, "data_scores", job)
    # WIMS writes "" instead of [] when nobody has a score.
    if rows in ("", None):
        return []
    if not isinstance(rows, list):
        raise WimsProtocolError("data_scores is not a list", job=job)
    result = []
    for row in rows:
        if not isinstance(row, dict) or "id" not in row:
            raise WimsProtocolError("data_scores row without an id", job=job)
        result.append((str(row["id"]), row))
    return result


# Parsing answers -----------------------------------------------------------

# The two HTTP 450 pages of WIMS. The "unmatched" one echoes the request, so
# it is recognised first: a value saying "too busy" must not make it busy.
_BUSY = re.compile(r"<h1[^>]*>\s*We are too busy")
_UNMATCHED = re.compile(r"We have detected unmatched parentheses")
_JSON_ERROR = re.compile(
    r'\{\s*"status"\s*:\s*"ERROR"\s*,\s*"code"\s*:\s*"([^"]*)"\s*,'
    r'\s*"message"\s*:\s*"(.*)"\s*\}\s*',
    re.DOTALL,
)


def parse_answer(
    http_status: int, body: bytes, *, job: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """Return the data of an adm/raw OK answer (status and code included).

    code, when given, must be the one the answer echoes.

    :raises WimsRefused: (or a subclass) for an ERROR answer.
    :raises WimsUnavailable: for "too busy" (HTTP 450) or an HTTP 5xx.
    :raises WimsRejectedRequest: for another HTTP 450 page.
    :raises WimsProtocolError: for anything else that is not an answer.
    """
    text = body.decode("iso-8859-1")
    _check_http(http_status, text, job)
    stripped = text.lstrip(" \t\r\n")
    if stripped.startswith("{"):
        data = _parse_json(stripped, job)
    elif stripped.startswith("OK"):
        data = _parse_plain_ok(stripped)
    elif stripped.startswith("ERROR"):
        raise refusal(stripped[len("ERROR") :].strip(), job=job)
    else:
        raise WimsProtocolError("not an adm/raw answer", job=job)
    status = data.get("status")
    if status == "ERROR":
        raise refusal(str(data.get("message", "")), job=job)
    if status != "OK":
        raise WimsProtocolError(f"unknown status {status!r}", job=job)
    if code is not None and data.get("code") not in (None, code):
        raise WimsProtocolError("answer echoes another request's code", job=job)
    return data


def parse_table(
    http_status: int,
    body: bytes,
    *,
    job: str | None = "getcsv",
    code: str | None = None,
) -> dict[str, dict[str, float | None]]:
    """Return the rows of a getcsv table: login → column id → number or None.

    getcsv answers a bare table, without status or code: a row of column
    ids, a row of labels whose login cell is ``#``, an empty line, then one
    row per user; strings are quoted (quotes inside are not escaped),
    numbers bare, ``NaN`` possible. Cells are split on tabs, semicolons or
    commas, as the header row shows. An adm/raw answer instead of a table
    (an ERROR, in JSON or plain text) raises as ``parse_answer`` does.

    :raises WimsRefused: (or a subclass) for an ERROR answer.
    :raises WimsUnavailable: for "too busy" (HTTP 450) or an HTTP 5xx.
    :raises WimsProtocolError: for anything else that is not a table.
    """
    text = body.decode("iso-8859-1")
    _check_http(http_status, text, job)
    stripped = text.lstrip(" \t\r\n")
    if stripped.startswith(("{", "OK", "ERROR")):
        parse_answer(http_status, body, job=job, code=code)
        raise WimsProtocolError("an adm/raw answer, not a table", job=job)
    lines = [line.rstrip("\r") for line in stripped.split("\n")]
    header = lines[0]
    sep = "\t" if "\t" in header else ";" if ";" in header else ","
    ids = [cell.strip() for cell in _cells(header, sep)]
    if "login" not in ids or not all(_COLUMN.fullmatch(cell) for cell in ids):
        raise WimsProtocolError("not a getcsv table", job=job)
    at = ids.index("login")
    table: dict[str, dict[str, float | None]] = {}
    for line in lines[1:]:
        if not line.strip():
            continue
        cells = _cells(line, sep)
        login = cells[at].strip() if at < len(cells) else ""
        # The label row has "#" as the login's label; no login is that short.
        if not login or login == "#":
            continue
        table[login] = {
            name: _number(cells[index]) if index < len(cells) else None
            for index, name in enumerate(ids)
            if index != at
        }
    return table


def _cells(line: str, sep: str) -> list[str]:
    """Split a getcsv row; a quoted cell ends at a quote before sep or the end."""
    cells = []
    pos = 0
    while True:
        if line.startswith('"', pos):
            end = line.find('"', pos + 1)
            while end != -1 and not (
                end + 1 == len(line) or line.startswith(sep, end + 1)
            ):
                end = line.find('"', end + 1)
            if end == -1:
                cells.append(line[pos + 1 :])
                return cells
            cells.append(line[pos + 1 : end])
            pos = end + 1
        else:
            end = line.find(sep, pos)
            if end == -1:
                cells.append(line[pos:])
                return cells
            cells.append(line[pos:end])
            pos = end
        if pos >= len(line):
            return cells
        pos += len(sep)


def _check_http(http_status: int, text: str, job: str | None) -> None:
    """Raise the error an HTTP status other than 200 means."""
    if http_status == 450:
        if _BUSY.search(text) and not _UNMATCHED.search(text):
            raise WimsUnavailable("WIMS is too busy (HTTP 450)", job=job)
        raise WimsRejectedRequest(_page_summary(text), job=job)
    if http_status >= 500:
        raise WimsUnavailable(f"HTTP {http_status}", job=job)
    if http_status != 200:
        raise WimsProtocolError(f"unexpected HTTP {http_status}", job=job)


def _page_summary(page: str) -> str:
    """Return the gist of a WIMS HTML error page, without what it echoes."""
    match = re.search(r"We have detected [^.<]*", page)
    if match:
        return " ".join(match.group(0).split())
    match = re.search(r"<h1[^>]*>(.*?)</h1>", page, re.DOTALL | re.IGNORECASE)
    if match:
        return " ".join(match.group(1).split())
    return "HTTP 450"


def _parse_plain_ok(text: str) -> dict[str, Any]:
    """Parse the plain-text answer ``OK <code>`` followed by ``name=value``."""
    first, _, rest = text.partition("\n")
    words = first.split()
    data: dict[str, Any] = {
        "status": "OK",
        "code": words[1] if len(words) > 1 else None,
    }
    for line in rest.split("\n"):
        name, sep, value = line.partition("=")
        if sep and name.strip():
            data.setdefault(name.strip(), value)
    return data


def _parse_json(text: str, job: str | None) -> dict[str, Any]:
    try:
        # strict=False accepts the raw newlines WIMS leaves inside strings.
        data = json.loads(text, strict=False)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = None
    # WIMS does not escape values: a backslash is part of the value (a user
    # "C:\new" comes out as it is), never a JSON escape, so only text without
    # backslashes can be left to the JSON parser.
    if data is not None and "\\" not in text:
        return data
    match = _JSON_ERROR.fullmatch(text)
    if match:
        return {"status": "ERROR", "code": match.group(1), "message": match.group(2)}
    try:
        lenient = _LenientJson(text).parse()
    except ValueError as error:
        if data is not None:
            return data
        raise WimsProtocolError(f"unreadable JSON ({error})", job=job) from error
    if data is None:
        log.warning("adm/raw %s: WIMS sent invalid JSON; read it leniently", job)
    return lenient


class _LenientJson:
    """Read the JSON WIMS writes without escaping its string values.

    A ``"`` ends a string only where what follows fits the context: ``:``
    after a key, ``}`` or ``, "key":`` after an object value, ``]`` or
    ``, "`` after an array item. Backslashes are literal, as WIMS wrote them.
    A value that itself contains ``", "name":`` is cut there: nothing in what
    WIMS writes tells the two apart.
    """

    _AFTER = {
        "key": re.compile(r"\s*:"),
        "object": re.compile(r'\s*(?:\}|,\s*"[^"\n]*"\s*:)'),
        "array": re.compile(r'\s*(?:\]|,\s*")'),
    }
    _BARE = re.compile(r"[^,\]}\s]+")

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def parse(self) -> dict[str, Any]:
        self._skip()
        value = self._object()
        self._skip()
        if self.pos != len(self.text):
            raise ValueError(f"trailing text at {self.pos}")
        return value

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _peek(self) -> str:
        self._skip()
        if self.pos >= len(self.text):
            raise ValueError("unexpected end")
        return self.text[self.pos]

    def _expect(self, char: str) -> None:
        if self._peek() != char:
            raise ValueError(f"expected {char!r} at {self.pos}")
        self.pos += 1

    def _value(self, context: str) -> Any:
        char = self._peek()
        if char == "{":
            return self._object()
        if char == "[":
            return self._array()
        if char == '"':
            return self._string(context)
        return self._bare()

    def _object(self) -> dict[str, Any]:
        self._expect("{")
        result: dict[str, Any] = {}
        if self._peek() == "}":
            self.pos += 1
            return result
        while True:
            if self._peek() != '"':
                raise ValueError(f"expected a key at {self.pos}")
            key = self._string("key")
            self._expect(":")
            result[key] = self._value("object")
            if self._peek() == ",":
                self.pos += 1
                continue
            self._expect("}")
            return result

    def _array(self) -> list[Any]:
        self._expect("[")
        result: list[Any] = []
        if self._peek() == "]":
            self.pos += 1
            return result
        while True:
            result.append(self._value("array"))
            if self._peek() == ",":
                self.pos += 1
                continue
            self._expect("]")
            return result

    def _string(self, context: str) -> str:
        start = self.pos + 1
        after = self._AFTER[context]
        end = self.text.find('"', start)
        while end != -1:
            if after.match(self.text, end + 1):
                self.pos = end + 1
                return self.text[start:end]
            end = self.text.find('"', end + 1)
        raise ValueError(f"unterminated string at {start}")

    def _bare(self) -> Any:
        match = self._BARE.match(self.text, self.pos)
        if not match:
            raise ValueError(f"unexpected {self.text[self.pos]!r} at {self.pos}")
        self.pos = match.end()
        token = match.group(0)
        constants = {"true": True, "false": False, "null": None}
        if token in constants:
            return constants[token]
        try:
            return int(token)
        except ValueError:
            pass
        try:
            return float(token)
        except ValueError:
            return token
