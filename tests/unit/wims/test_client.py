import base64
import dataclasses
import datetime
import json
import logging
import re
import socket
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests
import responses

from tests.doubles.wims import WimsDouble
from wimslti.wims import (
    AuthSession,
    ClassExists,
    ClassInfo,
    ClassNotConnected,
    ClassNotFound,
    DeletedUserFound,
    Exam,
    ExamScore,
    IdentificationFailure,
    InvalidLogin,
    ItemNotFound,
    ItemSummary,
    Sheet,
    SheetNotActive,
    SheetScore,
    SupervisorInfo,
    UserExists,
    UserInfo,
    UserNotFound,
    WimsClient,
    WimsProtocolError,
    WimsRefused,
    WimsRejectedRequest,
    WimsTimeout,
    WimsUnavailable,
    new_class_id,
    parse_answer,
    parse_table,
)
from wimslti.wims import client as client_module

TRANSCRIPTS = Path(__file__).parents[3] / ".." / "shared" / "wims"
URL = "http://wims.test/wims/wims.cgi"

CLASS = ClassInfo(
    description="Classe LTI",
    institution="Université",
    supervisor="Jean Dupont",
    email="jean.dupont@example.org",
    password="Classpw42",
    lang="fr",
    expiration="20271231",
    limit=50,
    level="U1",
)
TEACHER = SupervisorInfo("Dupont", "Jean", "Teacherpw42", "jean.dupont@example.org")
USER = UserInfo("Doe", "John", "Userpw42", email="jdoe@example.org", regnum="E1")


def _class(**changes):
    return dataclasses.replace(CLASS, **changes)


# What each ERROR or non-answer of adm_raw_transcript.jsonl must raise; every
# other record is an OK answer.
RECORDED_ERRORS = {
    4: WimsRefused,  # bad class id
    5: WimsRefused,  # incomplete data cl_email
    10: ClassNotConnected,
    11: ClassNotConnected,
    14: UserExists,
    15: InvalidLogin,
    16: WimsRefused,  # missing data
    18: WimsRejectedRequest,  # unmatched parenthesis
    21: InvalidLogin,
    27: UserNotFound,
    29: UserNotFound,
    34: UserNotFound,
    36: WimsRefused,  # hashlogin: ext123
    38: WimsRefused,  # sheet mustn't be active
    40: WimsRefused,  # addition already exists !
    41: WimsRefused,  # compilation error, raw newline in the JSON string
    42: WimsRejectedRequest,
    54: ItemNotFound,
    69: SheetNotActive,
    77: WimsProtocolError,  # getcsv: a csv file, not an adm/raw answer
    78: WimsProtocolError,
    79: WimsRefused,  # unauthorized
    80: WimsRefused,
    86: WimsRefused,  # nothing done
    89: WimsRefused,
    92: UserNotFound,
    93: DeletedUserFound,
    96: UserNotFound,
    98: ClassNotFound,
    99: ClassNotFound,
    100: IdentificationFailure,
    101: IdentificationFailure,  # plain text, unknown ident
    102: ClassNotFound,
    103: ClassNotFound,
    104: ClassNotFound,
    105: WimsRefused,  # plain text, random code not defined
    106: WimsRefused,  # wrong request: no job
    107: WimsRefused,
    108: IdentificationFailure,
    109: IdentificationFailure,
    114: ClassNotFound,  # plain text
    115: IdentificationFailure,
    116: WimsUnavailable,  # too busy
    118: WimsRejectedRequest,  # value of 46000 characters
}


class TestParseAnswerOnTheRecordedTranscript:
    @pytest.mark.parametrize("seq", range(1, 119))
    def test_every_recorded_answer_gives_its_result_or_typed_error(self, records, seq):
        record = records[seq]
        body = base64.b64decode(record["response_b64"])
        code = record["request"].get("code")

        if seq in RECORDED_ERRORS:
            with pytest.raises(RECORDED_ERRORS[seq]) as error:
                parse_answer(record["http_status"], body, job=record["job"], code=code)
            assert type(error.value) is RECORDED_ERRORS[seq]
            assert error.value.job == record["job"]
        else:
            status = record["http_status"]
            data = parse_answer(status, body, job=record["job"], code=code)
            assert data["status"] == "OK"
            assert data["code"] == code

    @pytest.mark.parametrize(
        ("seq", "message"),
        [
            (14, "user already exists in this class (3991348)"),
            (41, "COMPILATION ERROR No statement defined.\n    data1=\\title{Broken}"),
            (93, "Deleted user found. Use Recuser instead."),
            (101, "Identification Failure : bad login/pwd"),
            (109, "Identification Failure : 'curl' is a bad Agent"),
            (114, "class 3991348 not existing"),
        ],
    )
    def test_refusals_keep_the_wims_message_verbatim(self, records, seq, message):
        record = records[seq]

        with pytest.raises(WimsRefused) as error:
            parse_answer(200, base64.b64decode(record["response_b64"]))

        assert error.value.message == message

    def test_it_reads_unescaped_quotes_and_backslashes(self, records):
        data = parse_answer(200, base64.b64decode(records[82]["response_b64"]))

        assert data["lastname"] == 'O"Brien'
        assert data["firstname"] == "Back\\slash"
        assert data["regprop5"] == ""

    def test_it_reads_scores_despite_invalid_json(self, records):
        data = parse_answer(200, base64.b64decode(records[83]["response_b64"]))

        rows = data["data_scores"]
        assert [row["id"] for row in rows] == [
            "jdoe",
            "anne@martin",
            "elodie",
            "quote",
            "zoeang",
        ]
        assert rows[3]["last_name"] == 'O"Brien'
        assert rows[0]["user_quality"] == 5.41
        assert data["sheet_mean_quality"] == 3.082

    def test_it_decodes_bodies_as_latin1(self, records):
        data = parse_answer(200, base64.b64decode(records[23]["response_b64"]))

        assert (data["firstname"], data["lastname"]) == ("Élodie", "Müller")


class TestParseAnswer:
    def test_it_refuses_an_answer_to_another_request(self):
        body = b'{"status" : "OK","code":"AAAAAAAAAA"\n,"job":"checkident"\n}'

        with pytest.raises(WimsProtocolError, match="another request"):
            parse_answer(200, body, code="BBBBBBBBBB")

    def test_it_reads_the_plain_text_ok_answer(self):
        data = parse_answer(200, b"OK ABC\nclass_id=123\nname=a=b\n", code="ABC")

        assert data == {
            "status": "OK",
            "code": "ABC",
            "class_id": "123",
            "name": "a=b",
        }

    @pytest.mark.parametrize("status", [500, 502, 503])
    def test_server_errors_mean_retry_later(self, status):
        with pytest.raises(WimsUnavailable):
            parse_answer(status, b"<html>Bad gateway</html>")

    @pytest.mark.parametrize("status", [301, 403, 404])
    def test_other_http_statuses_are_protocol_errors(self, status):
        with pytest.raises(WimsProtocolError, match=str(status)):
            parse_answer(status, b"")

    @pytest.mark.parametrize(
        "body",
        [b"", b"<html><body>WIMS</body></html>", b'{"no":"status"}', b'{"a":', b"42"],
    )
    def test_what_is_not_an_answer_is_a_protocol_error(self, body):
        with pytest.raises(WimsProtocolError):
            parse_answer(200, body)

    def test_backslashes_are_characters_not_json_escapes(self):
        body = (
            b'{"status" : "OK","code":"C"\n,"job":"getuser"\n'
            b',"firstname":"C:\\new","lastname":"a\\u00e9\\"}'
        )

        data = parse_answer(200, body)

        assert (data["firstname"], data["lastname"]) == ("C:\\new", "a\\u00e9\\")

    def test_an_error_with_quotes_in_its_message_keeps_them(self):
        body = b'{"status" : "ERROR","code":"C","message":"bad "thing" here"}'

        with pytest.raises(WimsRefused) as error:
            parse_answer(200, body)

        assert error.value.message == 'bad "thing" here'

    def test_a_rejected_request_echoing_too_busy_is_not_busy(self, records):
        page = base64.b64decode(records[18]["response_b64"])
        page = page.replace(b"Groupe (A", b"<h1>We are too busy</h1> (")

        with pytest.raises(WimsRejectedRequest):
            parse_answer(450, page)

    def test_the_450_page_is_summarised_without_what_it_echoes(self, records):
        with pytest.raises(WimsRejectedRequest) as error:
            parse_answer(450, base64.b64decode(records[18]["response_b64"]))

        assert error.value.message.startswith("We have detected unmatched paren")
        assert "wimsltipass" not in str(error.value)


class TestParseTableOnTheRecordedTranscript:
    # jdoe: percent 100, quality 5.41 on sheet 2; elodie: 10 on sheet 2 and
    # on exam 1 (seq 67 and 70); sheet 1 has no exercise, sheet 3 is pending.
    SCORES = {
        "jdoe": {"sheet1": 0.0, "sheet2": 8.32, "exam1": 0.0, "average1": 2.77},
        "anne@martin": {"sheet1": 0.0, "sheet2": 0.0, "exam1": 0.0, "average1": 0.0},
        "elodie": {"sheet1": 0.0, "sheet2": 10.0, "exam1": 10.0, "average1": 6.67},
        "zoeang": {"sheet1": 0.0, "sheet2": 0.0, "exam1": 0.0, "average1": 0.0},
    }

    def test_it_reads_the_csv_answer(self, records):
        table = parse_table(200, base64.b64decode(records[77]["response_b64"]))

        assert table == {
            login: {"lastname": None, "firstname": None, **scores}
            for login, scores in self.SCORES.items()
        }

    def test_it_reads_the_tsv_answer_in_the_order_asked(self, records):
        table = parse_table(200, base64.b64decode(records[78]["response_b64"]))

        assert list(table) == ["jdoe", "anne@martin", "elodie", "zoeang"]
        assert list(table["jdoe"]) == [
            "firstname",
            "lastname",
            "email",
            "sheet1",
            "sheet2",
            "exam1",
            "average1",
        ]
        assert {
            login: {name: cells[name] for name in self.SCORES[login]}
            for login, cells in table.items()
        } == self.SCORES

    @pytest.mark.parametrize(
        ("seq", "error_class"),
        [
            (98, ClassNotFound),  # JSON ERROR
            (104, ClassNotFound),
            (10, ClassNotConnected),
            (114, ClassNotFound),  # plain-text ERROR
            (101, IdentificationFailure),
            (116, WimsUnavailable),  # too busy
            (18, WimsRejectedRequest),
            (1, WimsProtocolError),  # an OK answer is no table either
        ],
    )
    def test_an_adm_raw_answer_raises_its_typed_error(self, records, seq, error_class):
        record = records[seq]

        with pytest.raises(error_class) as error:
            parse_table(record["http_status"], base64.b64decode(record["response_b64"]))

        assert type(error.value) is error_class
        assert error.value.job == "getcsv"


class TestParseTable:
    def test_quotes_in_a_name_do_not_shift_the_cells(self):
        body = (
            b'login\tlastname\tsheet1\n"#"\t"Family name"\t"S"\n\n'
            b'"quote"\t"O"Brien"\t7.5\n"jdoe"\t"Doe"\t2\n'
        )

        assert parse_table(200, body) == {
            "quote": {"lastname": None, "sheet1": 7.5},
            "jdoe": {"lastname": None, "sheet1": 2.0},
        }

    def test_a_comma_inside_a_quoted_csv_cell_is_text(self):
        body = b'login,lastname,sheet1\n"#","Name","S, 1"\n\n"jdoe","Doe, Jr",4\n'

        assert parse_table(200, body) == {"jdoe": {"lastname": None, "sheet1": 4.0}}

    def test_nan_empty_and_missing_cells_are_none(self):
        body = (
            b'login;sheet1;sheet2;exam1\r\n"#";"A";"B";"E"\r\n\r\n'
            b'"jdoe";NaN;"";\r\n"anne";3\r\n'
        )

        assert parse_table(200, body) == {
            "jdoe": {"sheet1": None, "sheet2": None, "exam1": None},
            "anne": {"sheet1": 3.0, "sheet2": None, "exam1": None},
        }

    def test_login_may_be_any_column(self):
        body = b'sheet2\tlogin\n"S"\t"#"\n\n8.32\t"jdoe"\n'

        assert parse_table(200, body) == {"jdoe": {"sheet2": 8.32}}

    def test_a_class_without_users_is_an_empty_table(self):
        assert parse_table(200, b'login\tsheet1\n"#"\t"S"\n\n') == {}

    @pytest.mark.parametrize(
        "body",
        [
            b"",
            b"<html><body>WIMS</body></html>",
            b"\x00\x93<<garbage>> 42\n",
            b"lastname,firstname\nDoe,John\n",
            b'{"status" : "OK","code":"C"\n,"job":"getcsv"\n}',
        ],
    )
    def test_what_is_not_a_table_is_a_protocol_error(self, body):
        with pytest.raises(WimsProtocolError):
            parse_table(200, body)


class TestClientOnRecordedAnswers:
    """Each client method, fed the recorded answer of WIMS 4.15a."""

    def test_checkident(self, replay):
        assert replay(1, lambda c: c.checkident()) == "Connection accepted"

    def test_checkident_on_a_plain_text_connection(self, replay):
        assert replay(113, lambda c: c.checkident()) == ""

    def test_addclass_returns_the_class_id(self, replay):
        assert replay(6, lambda c: c.addclass("3991348", CLASS, TEACHER)) == "3991348"

    def test_getclass(self, replay):
        data = replay(7, lambda c: c.getclass("3991348"))

        assert data["description"] == "Classe LTI Mathématiques"
        assert data["userlist"] == [""]
        assert "status" not in data

    def test_checkclass(self, replay):
        assert replay(9, lambda c: c.checkclass("3991348")) is None

    def test_checkclass_refused(self, replay):
        with pytest.raises(ClassNotConnected):
            replay(10, lambda c: c.checkclass("3991348"))

    def test_adduser_returns_the_login_wims_stored(self, replay):
        login = replay(17, lambda c: c.adduser("3991348", "anne.martin", USER))

        assert login == "anne@martin"

    def test_adduser_of_a_trashed_login(self, replay):
        with pytest.raises(DeletedUserFound):
            replay(93, lambda c: c.adduser("3991348", "jdoe", USER))

    def test_recuser(self, replay):
        assert replay(94, lambda c: c.recuser("3991348", "jdoe")) is None

    def test_authuser_keeps_home_url_as_wims_returns_it(self, replay):
        session = replay(33, lambda c: c.authuser("3991348", "jdoe"))

        assert session == AuthSession(
            wims_session="FY9A45B0B4",
            home_url="http://127.0.0.1:7777/wims/wims.cgi/wims.cgi"
            "?session=FY9A45B0B4.1",
        )

    def test_getsheet(self, replay):
        sheet = replay(51, lambda c: c.getsheet("3991348", 1))

        assert sheet == Sheet("1", 1, "Feuille active é", "20271204")

    def test_getsheet_missing(self, replay):
        with pytest.raises(ItemNotFound):
            replay(54, lambda c: c.getsheet("3991348", 99))

    def test_getexam(self, replay):
        exam = replay(56, lambda c: c.getexam("3991348", 1))

        assert exam == Exam("1", 0, "Examen 1", "20271204", 30, 3)

    def test_listsheets(self, replay):
        sheets = replay(50, lambda c: c.listsheets("3991348"))

        assert sheets == [
            ItemSummary("1", "Feuille active é", 1),
            ItemSummary("2", "Feuille avec exercice", 1),
            ItemSummary("3", "Quirk sheet", 0),
        ]

    def test_listexams(self, replay):
        exams = replay(59, lambda c: c.listexams("3991348"))

        assert exams == [ItemSummary("1", "Examen 1", 1)]

    def test_getsheetscores(self, replay):
        scores = replay(67, lambda c: c.getsheetscores("3991348", 2))

        assert scores[0] == SheetScore("jdoe", 100.0, 5.41, 100.0, 100.0)
        assert [score.quser for score in scores] == [
            "jdoe",
            "anne@martin",
            "elodie",
            "zoeang",
        ]

    def test_getsheetscores_despite_invalid_json(self, replay):
        scores = replay(83, lambda c: c.getsheetscores("3991348", 2))

        assert len(scores) == 5
        assert scores[3] == SheetScore("quote", 0.0, 0.0, 0.0, 0.0)

    def test_getsheetscores_of_a_pending_sheet(self, replay):
        with pytest.raises(SheetNotActive):
            replay(69, lambda c: c.getsheetscores("3991348", 3))

    def test_getexamscores_before_any_attempt(self, replay):
        assert replay(62, lambda c: c.getexamscores("3991348", 1)) == []

    def test_getexamscores(self, replay):
        scores = replay(70, lambda c: c.getexamscores("3991348", 1))

        assert scores == [ExamScore("elodie", 10.0, 1)]

    def test_getcsv(self, replay):
        table = replay(78, lambda c: c.getcsv("3991348"))

        assert table["jdoe"]["sheet2"] == 8.32
        assert table["elodie"]["exam1"] == 10.0

    def test_getcsv_of_a_deleted_class(self, replay):
        with pytest.raises(ClassNotFound):
            replay(98, lambda c: c.getcsv("3991348"))

    def test_delclass(self, replay):
        assert replay(97, lambda c: c.delclass("3991348")) is None

    def test_delclass_twice(self, replay):
        with pytest.raises(ClassNotFound):
            replay(99, lambda c: c.delclass("3991348"))

    def test_busy(self, replay):
        with pytest.raises(WimsUnavailable) as error:
            replay(116, lambda c: c.checkident())

        assert not isinstance(error.value, WimsTimeout)

    def test_rejected(self, replay):
        with pytest.raises(WimsRejectedRequest):
            replay(118, lambda c: c.checkident())

    @pytest.fixture
    def replay(self, records, monkeypatch):
        def replay(seq, call):
            record = records[seq]
            code = record["request"]["code"]
            monkeypatch.setattr(client_module, "_new_code", lambda: code)
            client = WimsClient(URL, "wimslti", "wimsltipass", "myclass")
            with responses.RequestsMock() as mock:
                mock.add(
                    responses.POST,
                    URL,
                    body=base64.b64decode(record["response_b64"]),
                    status=record["http_status"],
                    content_type=record["content_type"],
                )
                try:
                    return call(client)
                finally:
                    client.close()

        return replay


class TestRequests:
    def test_it_posts_a_latin1_form_with_the_common_fields(self):
        with responses.RequestsMock() as mock:
            mock.add(responses.POST, URL, body=b"OK CODE\n")
            client = WimsClient(URL, "wimslti", "pw", "myclass", timeout=3.5)
            client.session.headers["X-Test"] = "1"
            with pytest.raises(WimsProtocolError):
                user = UserInfo("Müller", "Élodie", "pw1")
                client.adduser("1234567", "emuller", user)
            client.close()

            request = mock.calls[0].request
        assert isinstance(request.body, bytes)
        fields = dict(parse_qsl(request.body.decode("ascii"), encoding="latin-1"))
        assert b"lastname%3DM%FCller" in request.body
        assert request.headers["Content-Type"] == (
            "application/x-www-form-urlencoded; charset=ISO-8859-1"
        )
        assert request.headers["User-Agent"] == requests.utils.default_user_agent()
        assert re.fullmatch(r"[A-Z0-9]{10}", fields.pop("code"))
        assert fields == {
            "module": "adm/raw",
            "ident": "wimslti",
            "passwd": "pw",
            "job": "adduser",
            "rclass": "myclass",
            "qclass": "1234567",
            "quser": "emuller",
            "data1": "lastname=Müller\nfirstname=Élodie\npassword=pw1",
        }

    def test_it_uses_a_new_code_for_every_call(self, wims, client):
        client.checkident()
        client.checkident()

        codes = {params["code"] for _, params in wims.calls}
        assert len(codes) == 2

    def test_text_outside_latin1_is_transliterated_not_an_error(self, wims, client):
        qclass = wims.add_class()

        client.adduser(qclass, "lucja", UserInfo("Øvergård 🎓", "Łucja", "pw1"))

        user = wims.user_defs(qclass, "lucja")
        assert (user["firstname"], user["lastname"]) == ("Lucja", "Øvergård")

    def test_an_unbalanced_value_is_never_sent(self, wims, client):
        with pytest.raises(WimsRejectedRequest, match="unbalanced"):
            client.checkclass("123(45")

        assert wims.count() == 0

    def test_an_oversized_value_is_never_sent(self, wims, client):
        with pytest.raises(WimsRejectedRequest, match="45000 characters"):
            client.checkclass("1" * 45_000)

        assert wims.count() == 0

    @pytest.mark.parametrize(
        "call",
        [
            lambda c: c.addclass("123", CLASS, TEACHER),
            lambda c: c.addclass("12a4567", CLASS, TEACHER),
            lambda c: c.addclass("1234567", _class(lang="?"), TEACHER),
            lambda c: c.addclass("1234567", _class(level="X9"), TEACHER),
            lambda c: c.addclass("1234567", _class(expiration="2027-1-1"), TEACHER),
            lambda c: c.addclass("1234567", _class(password="!!"), TEACHER),
            lambda c: c.addclass("1234567", _class(email="   "), TEACHER),
            lambda c: c.adduser("1234567", "supervisor", USER),
            lambda c: c.adduser("1234567", "ab", USER),
            lambda c: c.adduser("1234567", "x" * 25, USER),
            lambda c: c.adduser("1234567", "jdoe", UserInfo("Doe", "J", "---")),
            lambda c: c.getclass("1234567", ["description", "bad name"]),
            lambda c: c.getcsv("1234567", ["login", "sheet 1"]),
            lambda c: c.getcsv("1234567", ["login", "x&option=password"]),
        ],
    )
    def test_values_wims_would_refuse_are_not_sent(self, wims, client, call):
        with pytest.raises(ValueError):
            call(client)

        assert wims.count() == 0

    def test_it_logs_one_line_per_call_without_passwords(self, wims, caplog):
        client = WimsClient(wims.url, "wimslti", "wimsltipass", "myclass")
        qclass = new_class_id()
        caplog.set_level(logging.DEBUG, logger="wimslti.wims")

        client.addclass(qclass, CLASS, TEACHER)
        client.adduser(qclass, "jdoe", USER)
        with pytest.raises(UserExists):
            client.adduser(qclass, "jdoe", USER)
        client.close()

        lines = [
            record.getMessage()
            for record in caplog.records
            if record.name == "wimslti.wims.client"
        ]
        assert len(lines) == 3
        assert lines[0].startswith(f"adm/raw addclass qclass={qclass} ")
        assert lines[2].endswith(
            f"UserExists: user already exists in this class ({qclass})"
        )
        for secret in ("wimsltipass", "Classpw42", "Teacherpw42", "Userpw42"):
            assert secret not in caplog.text

    def test_getcsv_asks_wims_for_tab_separated_columns(self, wims, client):
        qclass = wims.add_class()

        client.getcsv(qclass)
        client.getcsv(qclass, ["sheet2"])

        asked = [(params["format"], params["option"]) for _, params in wims.calls]
        assert asked == [("tsv", "login,sheets,exams"), ("tsv", "login,sheet2")]
        assert "frmt" not in wims.calls[0][1]

    def test_new_class_id_has_7_digits(self):
        assert all(re.fullmatch(r"[1-9]\d{6}", new_class_id()) for _ in range(50))


class TestClientAgainstTheDouble:
    def test_checkident(self, client):
        assert client.checkident() == "Connection accepted"

    def test_a_wrong_password_is_an_identification_failure(self, wims):
        client = WimsClient(wims.url, "wimslti", "wrong", "myclass")

        with pytest.raises(IdentificationFailure):
            client.checkident()
        client.close()

    def test_an_unknown_ident_is_an_identification_failure(self, wims):
        client = WimsClient(wims.url, "nobody", "wimsltipass", "myclass")

        with pytest.raises(IdentificationFailure):
            client.checkident()
        client.close()

    def test_a_foreign_user_agent_is_an_identification_failure(self, wims):
        with requests.Session() as session:
            session.headers["User-Agent"] = "curl/8.0"
            client = WimsClient(
                wims.url, "wimslti", "wimsltipass", "myclass", session=session
            )

            with pytest.raises(IdentificationFailure, match="'curl' is a bad Agent"):
                client.checkident()

    def test_addclass_stores_safe_latin1_values(self, wims, client):
        klass = _class(
            description="Mathématiques – cœur (L1",
            institution='Université "Côte" d\'Azur',
            lang="fr-FR",
            limit=900,
            level="u1",
        )

        qclass = client.addclass("2345678", klass, TEACHER)

        defs = wims.class_defs(qclass)
        assert qclass == "2345678"
        assert defs["description"] == "Mathématiques - coeur L1"
        assert defs["institution"] == "Université Côte d'Azur"
        assert (defs["lang"], defs["limit"], defs["level"]) == ("fr", "500", "U1")
        assert defs["expiration"] == "20271231"

    def test_a_retried_addclass_finds_the_class(self, wims, client):
        client.addclass("2345678", CLASS, TEACHER)

        with pytest.raises(ClassExists):
            client.addclass("2345678", CLASS, TEACHER)

        assert wims.class_ids() == ["2345678"]

    def test_addclass_on_a_class_of_another_connection(self, wims, client):
        wims.add_class("2345678", rclass="otherclass")

        with pytest.raises(ClassNotConnected):
            client.addclass("2345678", CLASS, TEACHER)

    def test_a_slow_addclass_times_out_but_the_class_is_made(self, wims):
        wims.latency["addclass"] = 30
        # The timeout leaves the double ample time to write the class first.
        client = WimsClient(wims.url, "wimslti", "wimsltipass", "myclass", timeout=1)

        with pytest.raises(WimsTimeout):
            client.addclass("2345678", CLASS, TEACHER)
        wims.latency.clear()
        with pytest.raises(ClassExists):
            client.addclass("2345678", CLASS, TEACHER)
        client.close()

        assert wims.count("addclass") == 2

    def test_checkclass(self, wims, client):
        qclass = wims.add_class()
        gone = wims.add_class()
        wims.delete_class(gone)
        foreign = wims.add_class(rclass="otherclass")

        client.checkclass(qclass)
        with pytest.raises(ClassNotFound):
            client.checkclass(gone)
        with pytest.raises(ClassNotConnected):
            client.checkclass(foreign)

    def test_getclass(self, wims, client):
        qclass = wims.add_class(description="Algèbre")
        wims.add_user(qclass, "jdoe")

        everything = client.getclass(qclass)
        some = client.getclass(qclass, ["description", "userlist", "usercount"])

        assert everything["description"] == "Algèbre"
        assert everything["connections"] == "+wimslti/myclass+  "
        assert some == {
            "query_class": qclass,
            "rclass": "myclass",
            "description": "Algèbre",
            "userlist": ["jdoe"],
            "usercount": "1",
        }

    def test_adduser_and_its_refusals(self, wims, client):
        qclass = wims.add_class()

        assert client.adduser(qclass, "jdoe", USER) == "jdoe"
        with pytest.raises(UserExists):
            client.adduser(qclass, "jdoe", USER)
        assert wims.user_defs(qclass, "jdoe")["password"] == "Userpw42"

    def test_adduser_replaces_an_empty_last_name(self, wims, client):
        qclass = wims.add_class()

        client.adduser(qclass, "emoji", UserInfo("🎓", "", "pw1"))

        assert wims.user_defs(qclass, "emoji")["lastname"] == "emoji"

    def test_adduser_into_a_missing_class(self, client):
        with pytest.raises(ClassNotFound):
            client.adduser("9999999", "jdoe", USER)

    def test_a_user_named_with_quotes_does_not_break_the_answers(self, wims, client):
        qclass = wims.add_class()
        sheet = wims.add_sheet(qclass)

        client.adduser(qclass, "quote", UserInfo('O"Brien', "Back\\slash", "pw1"))
        wims.add_user(qclass, "raw", lastname='O"Hara', firstname="C:\\new")
        wims.set_sheet_score(qclass, sheet, "raw", percent=50, quality=2.5)

        scores = client.getsheetscores(qclass, sheet)
        assert wims.user_defs(qclass, "quote")["lastname"] == "OBrien"
        assert {score.quser: score.percent for score in scores} == {
            "quote": 0.0,
            "raw": 50.0,
        }

    def test_recuser_brings_a_deleted_user_back(self, wims, client):
        qclass = wims.add_class()
        wims.add_user(qclass, "jdoe")
        wims.delete_user(qclass, "jdoe")

        with pytest.raises(DeletedUserFound):
            client.adduser(qclass, "jdoe", USER)
        client.recuser(qclass, "jdoe")
        client.recuser(qclass, "jdoe")

        assert wims.user_defs(qclass, "jdoe") is not None
        assert wims.count("recuser") == 2

    def test_recuser_of_an_unknown_login(self, wims, client):
        qclass = wims.add_class()

        with pytest.raises(WimsRefused, match="no deleted user found"):
            client.recuser(qclass, "nobody")

    def test_authuser(self, wims, client):
        qclass = wims.add_class()
        wims.add_user(qclass, "jdoe")

        session = client.authuser(qclass, "jdoe", user_ip="192.0.2.7")
        teacher = client.authuser(qclass, "supervisor")

        assert session.home_url == f"{wims.url}?session={session.wims_session}.1"
        assert wims.sessions[session.wims_session] == (qclass, "jdoe", "192.0.2.7")
        assert teacher.wims_session != session.wims_session
        with pytest.raises(UserNotFound):
            client.authuser(qclass, "nobody")

    def test_sheets(self, wims, client):
        qclass = wims.add_class()
        first = wims.add_sheet(qclass, title="Part 1, a: b", expiration="20270601")
        wims.add_sheet(qclass, title="Draft", status=0)

        sheet = client.getsheet(qclass, first)
        sheets = client.listsheets(qclass)

        assert sheet == Sheet(str(first), 1, "Part 1, a: b", "20270601")
        assert sheets == [
            ItemSummary("1", "Part 1, a: b", 1),
            ItemSummary("2", "Draft", 0),
        ]
        with pytest.raises(ItemNotFound):
            client.getsheet(qclass, 3)

    def test_no_sheets_or_exams(self, wims, client):
        qclass = wims.add_class()

        assert client.listsheets(qclass) == []
        assert client.listexams(qclass) == []

    def test_exams(self, wims, client):
        qclass = wims.add_class()
        exam = wims.add_exam(qclass, title="Final: 2", duration=45, attempts=2)

        assert client.getexam(qclass, exam) == Exam(
            "1", 1, "Final: 2", wims.class_defs(qclass)["expiration"], 45, 2
        )
        assert client.listexams(qclass) == [ItemSummary("1", "Final: 2", 1)]
        with pytest.raises(ItemNotFound):
            client.getexam(qclass, 2)

    def test_getsheetscores(self, wims, client):
        qclass = wims.add_class()
        wims.add_user(qclass, "adam", lastname="Adam")
        wims.add_user(qclass, "zed", lastname="Zed")
        sheet = wims.add_sheet(qclass)
        pending = wims.add_sheet(qclass, status=0)
        wims.set_sheet_score(
            qclass, sheet, "zed", percent=75, quality=3.85, level=60, best=80
        )
        wims.set_sheet_score(qclass, sheet, "adam", percent=float("nan"))

        scores = client.getsheetscores(qclass, sheet)

        assert scores == [
            SheetScore("adam", None, 0.0, 0.0, 0.0),
            SheetScore("zed", 75.0, 3.85, 60.0, 80.0),
        ]
        with pytest.raises(SheetNotActive):
            client.getsheetscores(qclass, pending)

    def test_getcsv(self, wims, client):
        qclass = wims.add_class()
        wims.add_user(qclass, "adam", lastname='O"Adam, Jr')
        wims.add_user(qclass, "zed", lastname="Zed")
        sheet = wims.add_sheet(qclass)
        pending = wims.add_sheet(qclass, status=0)
        exam = wims.add_exam(qclass)
        wims.set_sheet_score(qclass, sheet, "zed", percent=100, best=100, score=8.32)
        wims.set_sheet_score(qclass, sheet, "adam", score=float("nan"))
        wims.set_exam_score(qclass, exam, "zed", score=6.5)

        table = client.getcsv(qclass)

        assert table == {
            "adam": {f"sheet{sheet}": None, f"exam{exam}": 0.0},
            "zed": {f"sheet{sheet}": 8.32, f"exam{exam}": 6.5},
        }
        assert f"sheet{pending}" not in table["zed"]

    def test_getcsv_of_a_missing_class(self, client):
        with pytest.raises(ClassNotFound):
            client.getcsv("1234567")

    def test_getexamscores(self, wims, client):
        qclass = wims.add_class()
        wims.add_user(qclass, "adam")
        wims.add_user(qclass, "zed")
        exam = wims.add_exam(qclass)

        before = client.getexamscores(qclass, exam)
        wims.set_exam_score(qclass, exam, "zed", score=8.5, attempts=2)
        after = client.getexamscores(qclass, exam)

        assert before == []
        assert after == [ExamScore("zed", 8.5, 2)]

    def test_delclass(self, wims, client):
        qclass = wims.add_class()

        client.delclass(qclass)

        assert wims.class_ids() == []
        with pytest.raises(ClassNotFound):
            client.delclass(qclass)

    def test_getclassmodif(self, wims, client):
        now = datetime.datetime(2026, 12, 4, 10, 0)
        wims.clock = lambda: now
        qclass = wims.add_class()
        wims.add_user(qclass, "jdoe")
        sheet = wims.add_sheet(qclass)
        now = datetime.datetime(2026, 12, 5, 10, 0)
        wims.set_sheet_score(qclass, sheet, "jdoe", percent=50)

        recent = client.getclassmodif(qclass, datetime.datetime(2026, 12, 5, 9, 0))
        all_day = client.getclassmodif(qclass, datetime.date(2026, 12, 4))

        assert recent == ["score/jdoe"]
        assert all_day == [".def", ".users/jdoe", "score/jdoe", "sheets/.sheets"]
        assert wims.calls[0][1]["data1"] == "2026-12-05 09:00"


class TestFaults:
    @pytest.mark.parametrize(
        ("kind", "error_class"),
        [
            ("busy", WimsUnavailable),
            ("timeout", WimsTimeout),
            ("reset", WimsUnavailable),
            ("http500", WimsUnavailable),
            ("garbage", WimsProtocolError),
            ("html", WimsProtocolError),
            ("reject", WimsRejectedRequest),
            ("error:class 1234567 not existing", ClassNotFound),
            ("error:something new", WimsRefused),
        ],
    )
    def test_each_fault_is_a_typed_error(self, wims, kind, error_class):
        client = WimsClient(wims.url, "wimslti", "wimsltipass", "myclass", timeout=0.3)
        wims.fail_next("checkident", kind)

        with pytest.raises(error_class) as error:
            client.checkident()
        recovered = client.checkident()
        client.close()

        assert type(error.value) is error_class
        assert error.value.job == "checkident"
        assert recovered == "Connection accepted"

    def test_a_busy_server_is_unavailable_until_it_is_not(self, wims, client):
        wims.busy = True
        with pytest.raises(WimsUnavailable):
            client.checkident()

        wims.busy = False
        assert client.checkident() == "Connection accepted"

    def test_a_closed_port_is_unavailable(self):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        client = WimsClient(f"http://127.0.0.1:{port}/wims/wims.cgi", "i", "p", "r")

        with pytest.raises(WimsUnavailable) as error:
            client.checkident()
        client.close()

        assert type(error.value) is WimsUnavailable


@pytest.fixture
def wims():
    with WimsDouble.serve() as double:
        yield double


@pytest.fixture
def client(wims):
    client = WimsClient(wims.url, "wimslti", "wimsltipass", "myclass", timeout=5)
    yield client
    client.close()


@pytest.fixture(scope="module")
def records():
    path = TRANSCRIPTS / "adm_raw_transcript.jsonl"
    if not path.exists():
        pytest.skip(f"WIMS transcripts not found at {path}")
    with path.open(encoding="utf-8") as lines:
        return {record["seq"]: record for record in map(json.loads, lines)}
