import base64
import datetime
import json
import re
import threading
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests
import webtest

from tests.doubles.wims import JSON_TYPE, WimsDouble

TRANSCRIPTS = Path(__file__).parents[3] / ".." / "shared" / "wims"
RECORDED_HOST = "127.0.0.1:7777"
# Jobs the double does not play (getinfoserver's session is random, addexo,
# listexos, getscore, getsheetstats, getlog, putcsv, hashlogin), IPv6 and the
# extra idents of the recording.
NOT_REPLAYED = {2, 36, 39, 40, 41, 43, *range(71, 77), 79, 80, *range(111, 116)}
# sheet_properties of a sheet made without a description ends with two empty
# items in the recording; why is unknown, so the double writes one.
DIFFERENT = {48}
# Between these two records the students did the exercises in a browser.
SCORES_SET_BEFORE = 67
# The recording forced WIMS's load refusal for this one request.
BUSY_SEQ = 116


def _normalise(text, host):
    text = text.replace(RECORDED_HOST, host)
    return re.sub(r'(session=|"wims_session":")[0-9A-Z]{10}', r"\1<session>", text)


class TestReplayOfTheRecordedScenario:
    def test_it_answers_every_replayed_request_byte_for_byte(
        self, records, monkeypatch
    ):
        mismatches = []
        with WimsDouble.serve() as wims, requests.Session() as http:
            wims.clock = lambda: datetime.datetime(2026, 12, 4, 13, 30, 32)
            monkeypatch.setattr(wims, "_new_class_id", lambda: "3991348")
            host = wims.url.split("/")[2]
            for record in records:
                if record["seq"] in NOT_REPLAYED | DIFFERENT:
                    continue
                if record["seq"] == SCORES_SET_BEFORE:
                    self._set_scores_of_the_scenario(wims)
                wims.busy = record["seq"] == BUSY_SEQ
                response = self._replay(http, wims, record)
                expected = base64.b64decode(record["response_b64"]).decode("latin-1")
                got = (
                    response.status_code,
                    response.headers["Content-Type"],
                    _normalise(response.content.decode("latin-1"), host),
                )
                wanted = (
                    record["http_status"],
                    record["content_type"],
                    _normalise(expected, host),
                )
                if got != wanted:
                    mismatches.append((record["seq"], record["label"], got, wanted))

        assert mismatches == []

    def _replay(self, http, wims, record):
        base = wims.url.removesuffix("/wims/wims.cgi")
        url = record["url"].replace(f"http://{RECORDED_HOST}", base)
        charset = "utf-8" if record["request_body_charset"] == "UTF-8" else "latin-1"
        body = urlencode(record["request"], encoding=charset)
        headers = record["request_headers"]
        if record["method"] == "GET":
            return http.get(f"{url}?{body}", headers=headers, timeout=10)
        return http.post(url, data=body, headers=headers, timeout=10)

    def _set_scores_of_the_scenario(self, wims):
        scores = {"percent": 100, "level": 100, "best": 100}
        wims.set_sheet_score("3991348", 2, "jdoe", quality=5.41, score=8.32, **scores)
        wims.set_sheet_score("3991348", 2, "elodie", quality=10, score=10, **scores)
        wims.set_exam_score("3991348", 1, "elodie", score=10, attempts=1)


class TestAdmRaw:
    def test_it_labels_answers_like_wims(self, wims, post):
        response = post(job="checkident")

        assert (
            response.headers["Content-Type"] == "application/json ; charset=iso-8859-1"
        )
        assert response.text.startswith('{"status" : "OK","code":"CODE1"\n,"job"')

    def test_it_stores_the_bytes_it_gets_so_utf8_comes_back_as_mojibake(
        self, wims, post
    ):
        qclass = wims.add_class()
        data1 = "lastname=Ångström\nfirstname=Zoë\npassword=zoepw1"

        fields = {"qclass": qclass, "quser": "zoeang", "data1": data1}
        post(job="adduser", charset="utf-8", **fields)
        answer = post(job="getuser", qclass=qclass, quser="zoeang")

        assert '"firstname":"ZoÃ«"' in answer.content.decode("latin-1")

    def test_it_does_not_escape_quotes_so_the_json_breaks(self, wims, post):
        qclass = wims.add_class()
        wims.add_user(qclass, "quote", lastname='O"Brien', firstname="Back\\slash")
        sheet = wims.add_sheet(qclass)

        for response in (
            post(job="getuser", qclass=qclass, quser="quote"),
            post(job="getsheetscores", qclass=qclass, qsheet=str(sheet)),
        ):
            assert '"O"Brien"' in response.text
            with pytest.raises(json.JSONDecodeError):
                json.loads(response.text)

    @pytest.mark.parametrize(
        ("value", "status"),
        [
            ("Groupe (A", 450),
            ("smile :-)", 450),
            ("{[(ok)]}", 200),
            ("x" * 44_000, 200),
            ("x" * 45_000, 450),
        ],
    )
    def test_it_rejects_unbalanced_or_huge_values(self, wims, post, value, status):
        response = post(job="checkident", data1=value)

        assert response.status_code == status
        if status == 450:
            assert "unmatched parentheses" in response.text

    def test_busy_mode_answers_the_too_busy_page(self, wims, post):
        wims.busy = True

        response = post(job="checkident")

        assert response.status_code == 450
        assert "We are too busy" in response.text

    @pytest.mark.parametrize(
        ("fields", "text"),
        [
            ({"ident": ""}, "ERROR\nidentification failure\n"),
            ({"ident": "someone"}, "ERROR\nIdentification Failure : bad login/pwd\n"),
            ({"code": ""}, "ERROR\nrandom code not defined\n"),
        ],
    )
    def test_it_answers_plain_text_before_knowing_the_ident(
        self, wims, post, fields, text
    ):
        response = post(job="checkident", **fields)

        assert response.text == text
        assert response.headers["Content-Type"] == "text/plain ; charset=iso-8859-1"

    def test_it_checks_the_password_on_letters_and_digits(self, wims, post):
        assert "OK" in post(job="checkident", passwd="wims-lti-pass").text
        assert "bad login/pwd" in post(job="checkident", passwd="nope").text

    def test_it_checks_the_first_word_of_the_user_agent(self, wims, post):
        response = post(job="checkident", headers={"User-Agent": "curl/7.88.1"})

        assert "Identification Failure : 'curl' is a bad Agent" in response.text

    def test_addclass_refuses_small_ids_and_existing_ones(self, wims, post):
        qclass = wims.add_class("1234567")
        wims.add_class("7654321", rclass="otherclass")
        data = {
            "data1": "description=d\ninstitution=i\nsupervisor=s\nemail=e@x.org\n"
            "password=pw\nlang=en",
            "data2": "lastname=l\npassword=pw",
        }

        assert "bad class id" in post(job="addclass", qclass="123", **data).text
        assert f"class {qclass} already exists" in (
            post(job="addclass", qclass=qclass, **data).text
        )
        assert "connection refused by requested class (7654321)" in (
            post(job="addclass", qclass="7654321", **data).text
        )
        assert wims.count("addclass") == 3

    def test_addclass_without_qclass_picks_a_7_digit_id(self, wims, post):
        data1 = "description=d\ninstitution=i\nsupervisor=s\nemail=e@x.org\npassword=p"

        answer = post(job="addclass", data1=data1, data2="lastname=l\npassword=p")

        class_id = json.loads(answer.text)["class_id"]
        assert re.fullmatch(r"[1-9]\d{6}", class_id)
        assert wims.class_ids() == [class_id]

    def test_users_follow_the_wims_login_rules(self, wims, post):
        qclass = wims.add_class()

        def add(quser):
            data1 = "lastname=L\nfirstname=F\npassword=pw"
            return json.loads(
                post(job="adduser", qclass=qclass, quser=quser, data1=data1).text
            )

        assert add("anne.martin")["user_id"] == "anne@martin"
        assert add("supervisor")["message"].startswith("login name must not be")
        assert add("ab")["message"] == (
            "login name must not be ab (illegal, or wrong length)"
        )
        assert add("x" * 25)["status"] == "ERROR"
        assert add("anne.martin")["message"] == (
            f"user already exists in this class ({qclass})"
        )

    def test_a_deleted_user_must_be_recovered(self, wims, post):
        qclass = wims.add_class()
        wims.add_user(qclass, "jdoe")
        data1 = "lastname=Doe\nfirstname=John\npassword=pw"

        post(job="deluser", qclass=qclass, quser="jdoe")
        again = post(job="adduser", qclass=qclass, quser="jdoe", data1=data1)
        post(job="recuser", qclass=qclass, quser="jdoe")

        assert "Deleted user found. Use Recuser instead." in again.text
        assert wims.user_defs(qclass, "jdoe")["lastname"] == "Doe"
        assert wims.trashed_users(qclass) == []

    def test_authuser_makes_a_new_session_each_time_on_the_callers_host(
        self, wims, post
    ):
        qclass = wims.add_class()
        wims.add_user(qclass, "jdoe")

        first = json.loads(post(job="authuser", qclass=qclass, quser="jdoe").text)
        second = json.loads(post(job="authuser", qclass=qclass, quser="jdoe").text)
        teacher = json.loads(
            post(job="authuser", qclass=qclass, quser="supervisor").text
        )

        assert first["wims_session"] != second["wims_session"]
        assert re.fullmatch(r"[0-9A-Z]{10}", first["wims_session"])
        assert first["home_url"] == (f"{wims.url}?session={first['wims_session']}.1")
        assert teacher["user"] == "supervisor"

    def test_sheet_scores_need_an_active_sheet(self, wims, post):
        qclass = wims.add_class()
        wims.add_user(qclass, "jdoe")
        sheet = wims.add_sheet(qclass, status=0)

        refused = post(job="getsheetscores", qclass=qclass, qsheet=str(sheet))
        wims.set_sheet_status(qclass, sheet, 1)
        wims.set_sheet_score(qclass, sheet, "jdoe", percent=float("nan"))
        answered = post(job="getsheetscores", qclass=qclass, qsheet=str(sheet))

        assert f"Sheet #{sheet} must be active" in refused.text
        assert '"user_percent":"NaN"' in answered.text

    def test_getcsv_answers_a_bare_table_of_formula_scores(self, wims, post):
        qclass = wims.add_class()
        wims.add_user(qclass, "jdoe", lastname="Doe", firstname="John")
        wims.add_user(qclass, "anne", lastname="Martin", firstname="Anne")
        wims.add_sheet(qclass, title="Pending", status=0)
        sheet = wims.add_sheet(qclass, title="Sheet é")
        exam = wims.add_exam(qclass, title="Exam")
        wims.set_sheet_score(qclass, sheet, "jdoe", percent=100, best=100, score=8.32)
        # Work without a formula score given: the double answers 0.
        wims.set_sheet_score(qclass, sheet, "anne", percent=50, best=50)
        wims.set_exam_score(qclass, exam, "jdoe", score=float("nan"))

        answer = post(
            job="getcsv", qclass=qclass, format="tsv", option="login,sheets,exams"
        )

        assert answer.headers["Content-Type"] == "text/plain ; charset=iso-8859-1"
        assert answer.content.decode("latin-1") == (
            f"login\tsheet{sheet}\texam{exam}\n"
            '"#"\t"Sheet é"\t"Exam"\n'
            "\n"
            '"jdoe"\t8.32\tNaN\n'
            '"anne"\t0\t0\n'
        )

    def test_getcsv_defaults_to_csv_of_logins_and_names(self, wims, post):
        qclass = wims.add_class()
        wims.add_user(qclass, "jdoe", lastname="Doe", firstname="John")

        # wimsapi sends frmt, which WIMS does not read (NOTES quirk 3).
        answer = post(job="getcsv", qclass=qclass, frmt="tsv")

        assert answer.text == (
            'login,lastname,firstname\n"#","Family name","First (given) name"\n'
            '\n"jdoe","Doe","John"\n'
        )

    def test_getcsv_refuses_like_any_job(self, wims, post):
        qclass = wims.add_class()

        missing = post(job="getcsv", qclass="1234567", option="sheets")
        nothing = post(job="getcsv", qclass=qclass, option="sheets")

        assert missing.headers["Content-Type"] == JSON_TYPE
        assert missing.text.endswith('"message":"class 1234567 not existing"}')
        assert nothing.text.endswith('"message":"nothing done"}')

    def test_exam_scores_are_an_empty_string_when_nobody_tried(self, wims, post):
        qclass = wims.add_class()
        wims.add_user(qclass, "jdoe")
        exam = wims.add_exam(qclass)

        empty = json.loads(
            post(job="getexamscores", qclass=qclass, qexam=str(exam)).text
        )
        wims.set_exam_score(qclass, exam, "jdoe", score=7.5, attempts=2)
        scored = json.loads(
            post(job="getexamscores", qclass=qclass, qexam=str(exam)).text
        )

        assert empty["data_scores"] == ""
        assert scored["data_scores"] == [
            {
                "id": "jdoe",
                "first_name": "John",
                "last_name": "Doe",
                "score": 7.5,
                "attempts": 2,
            }
        ]

    def test_a_deleted_class_is_not_existing(self, wims, post):
        qclass = wims.add_class()
        wims.delete_class(qclass)

        answer = post(job="checkclass", qclass=qclass)

        assert answer.text.endswith(f'"message":"class {qclass} not existing"}}')


class TestFaults:
    @pytest.mark.parametrize(
        ("kind", "status", "content_type"),
        [
            ("busy", 450, "text/html; charset=iso-8859-1"),
            ("reject", 450, "text/html; charset=iso-8859-1"),
            ("html", 200, "text/html; charset=iso-8859-1"),
            ("garbage", 200, "text/plain ; charset=iso-8859-1"),
            ("http500", 500, "text/html; charset=iso-8859-1"),
            ("error:class 1 not existing", 200, JSON_TYPE),
        ],
    )
    def test_fail_next_fails_only_the_next_call_of_that_job(
        self, wims, post, kind, status, content_type
    ):
        wims.fail_next("checkident", kind)

        other = post(job="gettime")
        failed = post(job="checkident")
        recovered = post(job="checkident")

        assert other.status_code == 200
        assert (failed.status_code, failed.headers["Content-Type"]) == (
            status,
            content_type,
        )
        assert recovered.status_code == 200
        assert "Connection accepted" in recovered.text

    @pytest.mark.parametrize("kind", ["reset", "timeout"])
    def test_connection_faults_leave_the_client_without_an_answer(
        self, wims, post, kind
    ):
        wims.hang_seconds = 0.1
        wims.fail_next("checkident", kind)

        with pytest.raises(requests.ConnectionError):
            post(job="checkident")

    def test_latency_delays_the_answer_of_work_already_done(self, wims, post):
        wims.latency["addclass"] = 5
        data1 = "description=d\ninstitution=i\nsupervisor=s\nemail=e@x.org\npassword=p"

        with pytest.raises(requests.Timeout):
            post(
                job="addclass",
                qclass="2345678",
                data1=data1,
                data2="lastname=l\npassword=p",
                timeout=1,
            )

        assert wims.class_ids() == ["2345678"]

    def test_it_refuses_an_unknown_fault_kind(self, wims):
        with pytest.raises(ValueError, match="unknown fault kind"):
            wims.fail_next("checkident", "explode")

    def test_count_and_calls_record_every_request(self, wims, post):
        post(job="checkident")
        post(job="gettime")
        post(job="checkident", passwd="wrong")

        assert wims.count() == 3
        assert wims.count("checkident") == 2
        assert wims.calls[2] == (
            "checkident",
            {
                "module": "adm/raw",
                "ident": "wimslti",
                "passwd": "wrong",
                "code": "CODE1",
                "job": "checkident",
                "rclass": "myclass",
            },
        )


class TestConcurrency:
    def test_distinct_users_added_at_once_are_all_kept(self, wims):
        qclass = wims.add_class()
        errors = []

        def add(number):
            answer = _post(
                wims,
                job="adduser",
                qclass=qclass,
                quser=f"user{number:02}",
                data1="lastname=L\npassword=pw",
            )
            if '"OK"' not in answer.text:
                errors.append(answer.text)

        threads = [threading.Thread(target=add, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert errors == []
        getclass = _post(wims, job="getclass", qclass=qclass, option="usercount")
        assert json.loads(getclass.text)["usercount"] == "20"

    def test_the_same_login_raced_succeeds_once(self, wims):
        qclass = wims.add_class()
        barrier = threading.Barrier(8)
        answers = []

        def add():
            barrier.wait()
            answer = _post(
                wims,
                job="adduser",
                qclass=qclass,
                quser="racer",
                data1="lastname=L\npassword=pw",
            )
            answers.append(json.loads(answer.text)["status"])

        threads = [threading.Thread(target=add) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        assert sorted(answers) == ["ERROR"] * 7 + ["OK"]


class TestWsgi:
    def test_it_is_a_plain_wsgi_application(self):
        app = webtest.TestApp(WimsDouble())
        fields = {
            "module": "adm/raw",
            "ident": "wimslti",
            "passwd": "wimsltipass",
            "code": "C1",
            "job": "checkident",
        }

        response = app.post(
            "/wims/wims.cgi",
            fields,
            headers={"User-Agent": "python-requests/2.34"},
        )

        assert response.headers["Content-Type"] == JSON_TYPE
        assert '"message":"Connection accepted"' in response.text

    def test_other_paths_are_not_found(self):
        app = webtest.TestApp(WimsDouble())

        app.get("/other", status=404)


def _post(wims, *, charset="latin-1", headers=None, timeout=10, **fields):
    params = {
        "module": "adm/raw",
        "ident": "wimslti",
        "passwd": "wimsltipass",
        "code": "CODE1",
        "rclass": "myclass",
    }
    params.update(fields)
    params = {name: value for name, value in params.items() if value != ""}
    body = urlencode(params, encoding=charset)
    all_headers = {"Content-Type": "application/x-www-form-urlencoded"}
    all_headers.update(headers or {})
    with requests.Session() as http:
        return http.post(wims.url, data=body, headers=all_headers, timeout=timeout)


@pytest.fixture
def wims():
    with WimsDouble.serve() as double:
        yield double


@pytest.fixture
def post(wims):
    def post(**fields):
        return _post(wims, **fields)

    return post


@pytest.fixture(scope="module")
def records():
    path = TRANSCRIPTS / "adm_raw_transcript.jsonl"
    if not path.exists():
        pytest.skip(f"WIMS transcripts not found at {path}")
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]
