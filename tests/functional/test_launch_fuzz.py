"""Random, oversized, non-UTF-8 and missing parameters never make a 500."""

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.functional.conftest import LMS_KEY, LMS_SECRET, PUBLIC_HOST
from tests.lti_consumer import BASE_LAUNCH, TEACHER, signed_launch

PATHS = [
    "/lti/C1/",
    "/lti/C1/S1/",
    "/lti/C1/E1/",
    "/lti/C1",
    "/lti/C2/",
    "/lti/C1/S99/",
]
NAMES = [
    *BASE_LAUNCH,
    *TEACHER,
    "launch_presentation_return_url",
    "custom_class_lang",
    "custom_class_limit",
    "custom_class_expiration",
    "custom_class_email",
    "custom_custom_class_lang",
    "oauth_callback",
]
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)
VALUES = st.one_of(
    TEXT,
    st.sampled_from(["", "Instructor", "Learner", "LTI-1p0", "0", "-1", "20991231"]),
    st.builds(lambda c, n: c * n, st.sampled_from("x(é€"), st.integers(256, 50_000)),
)
CHANGES = st.dictionaries(
    st.one_of(st.sampled_from(NAMES), TEXT.filter(bool)),
    st.one_of(st.none(), VALUES),
    max_size=8,
)
FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.mark.usefixtures("server")
# Hypothesis warns when it prints a failing example with huge values.
@pytest.mark.filterwarnings("ignore:Generating overly large repr")
class TestFuzzedLaunches:
    @FUZZ
    @given(path=st.sampled_from(PATHS), changes=CHANGES, teacher=st.booleans())
    def test_signed_launches_never_fail_with_500(self, testapp, path, changes, teacher):
        params = {**BASE_LAUNCH, **(TEACHER if teacher else {})}
        for name, value in changes.items():
            if value is None:
                params.pop(name, None)
            else:
                params[name] = value
        fields = signed_launch(
            f"https://{PUBLIC_HOST}{path}", params, LMS_KEY, LMS_SECRET
        )

        response = testapp.post(path, fields, status="*")

        assert response.status_int in (302, 400, 403, 404, 405, 413, 502, 503, 504)
        assert "Traceback" not in response.text

    @FUZZ
    @given(path=st.sampled_from(PATHS), body=st.binary(max_size=2000))
    def test_raw_bodies_never_fail_with_500(self, testapp, path, body):
        response = testapp.post(
            path, body, content_type="application/x-www-form-urlencoded", status="*"
        )

        assert response.status_int in (400, 403, 404)


class TestBodyLimit:
    def test_an_oversized_body_is_refused_unread(self, testapp):
        body = b"user_id=" + b"x" * (600 * 1024)

        response = testapp.post(
            "/lti/C1/",
            body,
            content_type="application/x-www-form-urlencoded",
            status=413,
        )

        assert "larger than 512 KB" in response.text


@pytest.mark.usefixtures("server")
class TestDeclaredCharsets:
    def test_a_latin_1_form_is_read_as_declared(self, testapp, wims):
        params = {**BASE_LAUNCH, **TEACHER, "context_title": "Algèbre"}
        fields = signed_launch(
            f"https://{PUBLIC_HOST}/lti/C1/", params, LMS_KEY, LMS_SECRET
        )
        body = urlencode(fields, encoding="iso-8859-1")

        testapp.post(
            "/lti/C1/",
            body.encode("ascii"),
            content_type="application/x-www-form-urlencoded; charset=iso-8859-1",
            status=302,
        )

        assert wims.class_defs(wims.class_ids()[0])["description"] == "Algèbre"

    @pytest.mark.parametrize("charset", ["utf-16", "no-such-charset"])
    def test_an_undecodable_charset_is_a_400(self, testapp, wims, charset):
        testapp.post(
            "/lti/C1/",
            b"user_id=%E9",
            content_type=f"application/x-www-form-urlencoded; charset={charset}",
            status=400,
        )

        assert wims.count() == 0


class TestOtherFormsInOtherCharsets:
    def test_a_login_form_in_an_unknown_charset_is_a_400_page(self, testapp):
        # The CSRF check reads the form first and refuses it.
        response = testapp.post(
            "/login",
            b"login=x&password=y",
            content_type="application/x-www-form-urlencoded; charset=no-such-charset",
            status=400,
        )

        assert response.content_type == "text/html"
        assert "Traceback" not in response.text
