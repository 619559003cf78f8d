import locale
import time
from decimal import Decimal

import defusedxml.ElementTree as ET
import pytest
import requests
from requests_oauthlib import OAuth1

from tests.doubles.lms import NAMESPACE, LmsDouble
from wimslti.lti.outcomes import (
    OutcomesClient,
    OutcomeStatus,
    format_score,
    parse_response,
    replace_result_body,
)

FORM = "application/x-www-form-urlencoded"
KEY = "moodle-key-01"
SECRET = "s3cr3t-Ω%&"
# Moodle's sourcedId is JSON (CASES C24), here with every XML special char.
SOURCEDID = '{"data":{"instanceid":"7","userid":"1001"},"hash":"a&b<c>\\"d\'é"}'


class TestFormatScore:
    @pytest.mark.parametrize(
        ("score", "text"),
        [
            (0.75, "0.75"),
            (1, "1"),
            (1.0, "1"),
            (0, "0"),
            (Decimal("0.8300"), "0.83"),
            (1e-05, "0"),
            (0.00005, "0.0001"),
            (0.123456, "0.1235"),
            ("0.5", "0.5"),
        ],
    )
    def test_it_writes_a_plain_dot_decimal_with_four_places_at_most(self, score, text):
        assert format_score(score) == text

    @pytest.mark.parametrize("score", [-0.01, 1.0001, 10, float("nan"), "x"])
    def test_it_refuses_what_is_not_a_score(self, score):
        with pytest.raises(ValueError):
            format_score(score)

    def test_it_ignores_a_comma_locale(self):
        try:
            previous = locale.setlocale(locale.LC_ALL)
            locale.setlocale(locale.LC_ALL, "fr_FR.UTF-8")
        except locale.Error:
            pytest.skip("no fr_FR.UTF-8 locale on this machine")
        try:
            assert format_score(0.75) == "0.75"
        finally:
            locale.setlocale(locale.LC_ALL, previous)


class TestReplaceResultBody:
    def test_it_is_a_complete_envelope_in_the_lti_11_namespace(self):
        root = ET.fromstring(replace_result_body(SOURCEDID, "0.75", "msg-1"))

        ns = {"x": NAMESPACE}
        assert root.tag == f"{{{NAMESPACE}}}imsx_POXEnvelopeRequest"
        info = "x:imsx_POXHeader/x:imsx_POXRequestHeaderInfo"
        assert root.findtext(f"{info}/x:imsx_version", None, ns) == "V1.0"
        assert root.findtext(f"{info}/x:imsx_messageIdentifier", None, ns) == "msg-1"
        record = "x:imsx_POXBody/x:replaceResultRequest/x:resultRecord"
        assert root.findtext(f"{record}/x:sourcedGUID/x:sourcedId", None, ns) == (
            SOURCEDID
        )
        score = f"{record}/x:result/x:resultScore"
        assert root.findtext(f"{score}/x:language", None, ns) == "en"
        assert root.findtext(f"{score}/x:textString", None, ns) == "0.75"

    def test_it_is_ascii_so_the_hashed_bytes_are_the_sent_bytes(self):
        body = replace_result_body("é€", "1", "m")

        assert body.isascii()
        assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        assert ET.fromstring(body).findtext(f".//{{{NAMESPACE}}}sourcedId") == "é€"


class TestOutcomesClient:
    def test_it_sends_a_signed_replace_result(self, lms, client):
        result = client.replace_result(lms.url, SOURCEDID, 0.75, key=KEY, secret=SECRET)

        assert result.status is OutcomeStatus.SUCCESS
        assert result.accepted
        assert result.message == f"Grade replaced for {SOURCEDID}"
        assert lms.scores == {SOURCEDID: "0.75"}

    def test_each_request_has_its_own_message_id_and_nonce(self, lms, client):
        client.replace_result(lms.url, "s1", 0.5, key=KEY, secret=SECRET)
        client.replace_result(lms.url, "s1", 0.5, key=KEY, secret=SECRET)

        first, second = lms.received
        assert first.message_id != second.message_id
        assert first.nonce != second.nonce

    def test_it_reads_and_deletes_results(self, lms, client):
        client.replace_result(lms.url, "s1", 0.3, key=KEY, secret=SECRET)

        read = client.read_result(lms.url, "s1", key=KEY, secret=SECRET)
        deleted = client.delete_result(lms.url, "s1", key=KEY, secret=SECRET)
        read_again = client.read_result(lms.url, "s1", key=KEY, secret=SECRET)

        assert read.status is OutcomeStatus.SUCCESS
        assert read.score == Decimal("0.3")
        assert deleted.accepted
        assert read_again.accepted
        assert read_again.score is None
        assert lms.scores == {}

    def test_it_signs_urls_with_a_query(self, lms, client):
        result = client.replace_result(
            lms.url + "?id=7&lang=fr", "s1", 1, key=KEY, secret=SECRET
        )

        assert result.accepted

    def test_a_wrong_secret_is_refused_as_moodle_refuses_it(self, lms, client):
        result = client.replace_result(lms.url, "s1", 1, key=KEY, secret="wrong")

        assert result.status is OutcomeStatus.FAILURE
        assert not result.retryable
        assert result.message == "OAuth signature failed: Invalid signature"
        assert lms.scores == {}

    def test_an_unknown_key_is_refused(self, lms, client):
        result = client.replace_result(lms.url, "s1", 1, key="other", secret=SECRET)

        assert result.status is OutcomeStatus.FAILURE
        assert "invalid consumer key" in result.message

    def test_it_never_sends_a_score_out_of_range(self, lms, client):
        with pytest.raises(ValueError):
            client.replace_result(lms.url, "s1", 1.5, key=KEY, secret=SECRET)

        assert lms.received == []

    def test_it_reuses_its_connection(self, lms, client):
        for _ in range(5):
            client.replace_result(lms.url, "s1", 0.5, key=KEY, secret=SECRET)

        assert lms.connections == 1

    @pytest.mark.parametrize(
        ("kind", "status", "retryable"),
        [
            ("failure:Tool does not accept grades", OutcomeStatus.FAILURE, False),
            ("unsupported", OutcomeStatus.UNSUPPORTED, False),
            ("processing", OutcomeStatus.PROCESSING, False),
            ("wrong_namespace", OutcomeStatus.WRONG_NAMESPACE, True),
            ("html401", OutcomeStatus.UNAUTHORIZED, False),
            ("html403", OutcomeStatus.UNAUTHORIZED, False),
            ("html500", OutcomeStatus.HTTP_ERROR, True),
            ("http503", OutcomeStatus.HTTP_ERROR, True),
            ("redirect", OutcomeStatus.HTTP_ERROR, False),
            ("empty", OutcomeStatus.MALFORMED, True),
            ("json", OutcomeStatus.MALFORMED, True),
            ("reset", OutcomeStatus.UNREACHABLE, True),
        ],
    )
    def test_each_answer_becomes_a_typed_result(
        self, lms, client, kind, status, retryable
    ):
        lms.fail_next(kind)

        result = client.replace_result(lms.url, "s1", 0.5, key=KEY, secret=SECRET)

        assert result.status is status
        assert result.retryable is retryable

    def test_a_failure_keeps_the_lms_description(self, lms, client):
        lms.fail_next("failure:Tool does not accept grades")

        result = client.replace_result(lms.url, "s1", 0.5, key=KEY, secret=SECRET)

        assert result.message == "Tool does not accept grades"
        # Moodle's label, which must not stop the POX being read (CASES C20).
        assert result.content_type == "text/html; charset=utf-8"

    def test_an_html_page_is_kept_as_status_type_and_excerpt(self, lms, client):
        lms.fail_next("html401")

        result = client.replace_result(lms.url, "s1", 0.5, key=KEY, secret=SECRET)

        assert result.http_status == 401
        assert result.message.startswith(
            "HTTP 401 text/html; charset=utf-8: <html><head><title>Log in"
        )

    def test_a_redirect_is_not_followed(self, lms, client):
        lms.fail_next("redirect")

        result = client.replace_result(lms.url, "s1", 0.5, key=KEY, secret=SECRET)

        assert result.http_status == 302
        assert len(lms.received) == 1

    def test_a_silent_lms_is_a_timeout(self, lms):
        lms.hang_seconds = 5
        lms.fail_next("hang")
        client = OutcomesClient(timeout=0.2)

        result = client.replace_result(lms.url, "s1", 0.5, key=KEY, secret=SECRET)

        assert result.status is OutcomeStatus.TIMEOUT
        assert result.retryable
        client.close()

    def test_a_stopped_lms_is_unreachable(self, lms, client):
        lms.stop()

        result = client.replace_result(lms.url, "s1", 0.5, key=KEY, secret=SECRET)

        assert result.status is OutcomeStatus.UNREACHABLE
        assert result.retryable

    def test_an_invalid_url_is_a_bad_url(self, client):
        result = client.replace_result("not a url", "s1", 0.5, key=KEY, secret=SECRET)

        assert result.status is OutcomeStatus.BAD_URL
        assert not result.retryable

    @pytest.fixture
    def lms(self):
        with LmsDouble.serve({KEY: SECRET}) as double:
            yield double

    @pytest.fixture
    def client(self):
        client = OutcomesClient(timeout=5)
        yield client
        client.close()


class TestTheLmsDouble:
    """The double refuses what Moodle refuses, so passing tests mean something."""

    def test_a_body_changed_after_signing_is_refused(self, lms):
        request = _signed(lms.url, replace_result_body("s1", "0.5", "m"))
        request.body = replace_result_body("s1", "0.9", "m")

        assert _answer(request) == "OAuth oauth_body_hash mismatch"
        assert lms.scores == {}

    def test_a_request_without_body_hash_is_refused(self, lms):
        body = replace_result_body("s1", "0.5", "m")
        request = _signed(lms.url, body, force_include_body=False)

        assert _answer(request) == (
            "OAuth request body signing requires oauth_body_hash body"
        )

    def test_a_form_encoded_request_is_refused(self, lms):
        request = _signed(lms.url, b"a=1", content_type=FORM)

        assert "must not use application/x-www-form-urlencoded" in _answer(request)

    def test_an_old_timestamp_is_refused(self, lms):
        lms.clock = lambda: time.time() + 301

        request = _signed(lms.url, replace_result_body("s1", "0.5", "m"))

        assert _answer(request) == "OAuth signature failed: expired timestamp"

    @pytest.mark.parametrize("score", ["0,75", "1.5", "-0", "", "1e-1"])
    def test_a_score_that_is_not_a_dot_decimal_in_range_is_refused(self, lms, score):
        request = _signed(lms.url, replace_result_body("s1", score, "m"))

        assert _answer(request) == "Score is not between 0 and 1"

    def test_a_request_without_message_identifier_is_refused(self, lms):
        request = _signed(lms.url, replace_result_body("s1", "0.5", ""))

        assert _answer(request) == "Missing imsx_messageIdentifier"

    @pytest.fixture
    def lms(self):
        with LmsDouble.serve({KEY: SECRET}) as double:
            yield double


def _signed(url, body, content_type="application/xml", force_include_body=True):
    auth = OAuth1(KEY, client_secret=SECRET, force_include_body=force_include_body)
    return requests.Request(
        "POST", url, data=body, headers={"Content-Type": content_type}, auth=auth
    ).prepare()


def _answer(request):
    with requests.Session() as session:
        response = session.send(request, timeout=5)
    return parse_response(
        response.status_code, response.headers["Content-Type"], response.content
    ).message


class TestParseResponse:
    def test_success_in_the_lti_11_namespace(self):
        result = parse_response(200, "application/xml", _pox("success", "done"))

        assert result.status is OutcomeStatus.SUCCESS
        assert result.message == "done"

    def test_a_code_major_in_capitals_is_read(self):
        result = parse_response(200, None, _pox("Failure", "no such user"))

        assert result.status is OutcomeStatus.FAILURE

    def test_an_unknown_code_major_is_malformed(self):
        result = parse_response(200, None, _pox("maybe", "hmm"))

        assert result.status is OutcomeStatus.MALFORMED
        assert result.message == "unknown imsx_codeMajor 'maybe': hmm"

    def test_another_namespace_says_what_it_got(self):
        body = _pox("success", "ok", namespace="http://example.org/other")

        result = parse_response(200, "text/xml", body)

        assert result.status is OutcomeStatus.WRONG_NAMESPACE
        assert result.message == (
            "answer in namespace 'http://example.org/other', not LTI 1.1 "
            "outcomes; it says success: ok"
        )

    def test_no_namespace_at_all(self):
        body = _pox("success", "ok", namespace=None)

        result = parse_response(200, "text/xml", body)

        assert result.status is OutcomeStatus.WRONG_NAMESPACE
        assert "'(none)'" in result.message

    @pytest.mark.parametrize(
        "body",
        [b"", b"  \n", b"<html><body>Oops</body></html>", b"{}", b"<a><b></a>"],
    )
    def test_what_is_not_pox_is_malformed(self, body):
        result = parse_response(200, "text/html", body)

        assert result.status is OutcomeStatus.MALFORMED

    def test_an_empty_body_says_so(self):
        result = parse_response(200, None, b"")

        assert result.message == "HTTP 200 (no content type): (empty body)"

    def test_an_excerpt_is_at_most_200_characters(self):
        result = parse_response(500, "text/html", b"x" * 5000)

        assert result.message == "HTTP 500 text/html: " + "x" * 200

    def test_entities_are_refused(self):
        body = (
            b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "boom">]>'
            b"<imsx_POXEnvelopeResponse>&e;</imsx_POXEnvelopeResponse>"
        )

        result = parse_response(200, "text/xml", body)

        assert result.status is OutcomeStatus.MALFORMED

    def test_read_result_gives_the_score(self):
        body = _pox("success", "", read="0.83")

        result = parse_response(200, "text/xml", body)

        assert result.score == Decimal("0.83")


def _pox(code_major, description, namespace=NAMESPACE, read=None):
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    result = ""
    if read is not None:
        result = (
            "<readResultResponse><result><resultScore><language>en</language>"
            f"<textString>{read}</textString></resultScore></result>"
            "</readResultResponse>"
        )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><imsx_POXEnvelopeResponse{xmlns}>'
        "<imsx_POXHeader><imsx_POXResponseHeaderInfo><imsx_version>V1.0"
        "</imsx_version><imsx_messageIdentifier>1</imsx_messageIdentifier>"
        f"<imsx_statusInfo><imsx_codeMajor>{code_major}</imsx_codeMajor>"
        "<imsx_severity>status</imsx_severity>"
        f"<imsx_description>{description}</imsx_description>"
        "<imsx_messageRefIdentifier>m</imsx_messageRefIdentifier>"
        "</imsx_statusInfo></imsx_POXResponseHeaderInfo></imsx_POXHeader>"
        f"<imsx_POXBody>{result}</imsx_POXBody></imsx_POXEnvelopeResponse>"
    ).encode()
