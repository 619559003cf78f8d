from urllib.parse import urlsplit

import pytest

from tests.lti_consumer import launch_params, signed_launch
from wimslti.lti.diagnosis import (
    HIDDEN,
    _candidate_urls,
    shown_params,
    signature_verifies,
)

URL = "https://lti.example.org/lti/test/"
SECRET = "s3cr3t-Ω%&"


class TestShownParams:
    @pytest.mark.parametrize(
        "name",
        ["oauth_signature", "custom_api_secret", "custom_Password", "ext_passwd"],
    )
    def test_secrets_are_hidden(self, name):
        assert shown_params([(name, "value")]) == [(name, HIDDEN)]

    def test_other_values_are_kept_in_order(self):
        fields = [("user_id", "u-1"), ("oauth_nonce", "abc"), ("roles", "Learner")]

        assert shown_params(fields) == fields


class TestSignatureVerifies:
    def test_it_holds_for_the_signed_url_only(self):
        fields = signed_launch(URL, launch_params(), "key", SECRET)

        assert signature_verifies(URL, "POST", fields, SECRET)
        assert not signature_verifies(URL.rstrip("/"), "POST", fields, SECRET)
        assert not signature_verifies(URL, "POST", fields, "other")

    def test_the_query_string_counts(self):
        url = URL + "?course=7"
        fields = signed_launch(url, launch_params(), "key", SECRET)

        assert signature_verifies(url, "POST", fields, SECRET)
        assert not signature_verifies(URL, "POST", fields, SECRET)


class TestCandidateUrls:
    def urls(self, url, headers=None):
        return [c.geturl() for c in _candidate_urls(urlsplit(url), headers or {})]

    def test_scheme_and_slash_come_first(self):
        assert self.urls(URL) == [
            "https://lti.example.org/lti/test",
            "http://lti.example.org/lti/test/",
            "http://lti.example.org/lti/test",
        ]

    def test_forwarded_headers_make_candidates(self):
        urls = self.urls(
            "http://127.0.0.1:6543/lti/test/",
            {
                "X-Forwarded-Proto": "https",
                "X-Forwarded-Host": "lti.example.org, inner.example",
                "X-Forwarded-Prefix": "/wims-lti",
            },
        )

        assert "https://lti.example.org/wims-lti/lti/test/" in urls
        assert "http://127.0.0.1/lti/test/" in urls

    def test_an_original_uri_header_gives_the_path(self):
        urls = self.urls(URL, {"X-Original-URI": "/gw/lti/test/?x=1"})

        assert "https://lti.example.org/gw/lti/test/" in urls

    def test_the_seen_url_is_not_repeated(self):
        assert URL not in self.urls(URL, {"X-Forwarded-Proto": "https"})
