from webob import Request

from wimslti.proxy import PublicUrlMiddleware


def seen_url(middleware_kwargs, **environ):
    seen = {}

    def app(environ, start_response):
        seen["url"] = Request(environ).url
        start_response("200 OK", [])
        return [b""]

    request = Request.blank("/lti/C1/", environ=environ)
    request.get_response(PublicUrlMiddleware(app, **middleware_kwargs))
    return seen["url"]


BEHIND_PROXY = {
    "wsgi.url_scheme": "http",
    "HTTP_HOST": "127.0.0.1:8000",
    "REMOTE_ADDR": "127.0.0.1",
    "HTTP_X_FORWARDED_PROTO": "https",
    "HTTP_X_FORWARDED_HOST": "lti.example.org",
    "HTTP_X_FORWARDED_PREFIX": "/wims-lti",
}


class TestPublicUrlMiddleware:
    def test_a_trusted_proxy_gives_the_public_url(self):
        url = seen_url({"trusted_proxies": ["127.0.0.1"]}, **BEHIND_PROXY)

        assert url == "https://lti.example.org/wims-lti/lti/C1/"

    def test_headers_from_an_untrusted_peer_are_ignored(self):
        url = seen_url(
            {"trusted_proxies": ["127.0.0.1"]},
            **{**BEHIND_PROXY, "REMOTE_ADDR": "10.9.9.9"},
        )

        assert url == "http://127.0.0.1:8000/lti/C1/"

    def test_without_trusted_proxies_nothing_changes(self):
        assert seen_url({}, **BEHIND_PROXY) == "http://127.0.0.1:8000/lti/C1/"

    def test_the_outermost_proxy_value_wins_in_a_list(self):
        url = seen_url(
            {"trusted_proxies": ["127.0.0.1"]},
            **{**BEHIND_PROXY, "HTTP_X_FORWARDED_PROTO": "https, http"},
        )

        assert url.startswith("https://")

    def test_a_public_url_setting_overrides_everything(self):
        url = seen_url(
            {"public_url": "https://gw.example.edu/lti-gw/"},
            **{**BEHIND_PROXY, "REMOTE_ADDR": "10.9.9.9"},
        )

        assert url == "https://gw.example.edu/lti-gw/lti/C1/"

    def test_a_prefix_left_in_the_path_is_taken_out_of_it(self):
        seen = {}

        def app(environ, start_response):
            seen["path"] = environ["PATH_INFO"]
            seen["url"] = Request(environ).url
            start_response("200 OK", [])
            return [b""]

        request = Request.blank("/wims-lti/lti/C1/", environ=BEHIND_PROXY)
        request.get_response(PublicUrlMiddleware(app, trusted_proxies=["127.0.0.1"]))

        assert seen["path"] == "/lti/C1/"
        assert seen["url"] == "https://lti.example.org/wims-lti/lti/C1/"
