"""Give the application the public URL an LMS signed, behind a reverse proxy.

LTI 1.1 signatures cover the launch URL exactly as the LMS sent it. Behind a
TLS-terminating proxy the application sees http://127.0.0.1:6543/... instead
of https://lti.example.org/prefix/...; this middleware restores the public
scheme, host and path prefix before anything reads the URL.
"""

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import SplitResult, urlsplit

Environ = dict[str, Any]


class PublicUrlMiddleware:
    """Rewrite the WSGI environ to the public URL of the gateway.

    ``public_url`` fixes the base URL whatever the request says. Otherwise the
    ``X-Forwarded-Proto``, ``X-Forwarded-Host`` and ``X-Forwarded-Prefix``
    headers are applied, but only when the peer is one of ``trusted_proxies``:
    anyone else could make a signature verify against a URL of their choice.
    """

    registry: Any = None

    def __init__(
        self,
        app: Callable[..., Iterable[bytes]],
        trusted_proxies: Iterable[str] = (),
        public_url: str = "",
    ):
        self.app = app
        self.trusted_proxies = frozenset(trusted_proxies)
        self.public_url = urlsplit(public_url) if public_url else None

    def __call__(self, environ: Environ, start_response: Callable) -> Iterable[bytes]:
        if self.public_url is not None:
            self._apply_public_url(environ, self.public_url)
        elif environ.get("REMOTE_ADDR") in self.trusted_proxies:
            self._apply_forwarded_headers(environ)
        return self.app(environ, start_response)

    def _apply_public_url(self, environ: Environ, public: SplitResult) -> None:
        environ["wsgi.url_scheme"] = public.scheme
        environ["HTTP_HOST"] = public.netloc
        environ["SCRIPT_NAME"] = public.path.rstrip("/")

    def _apply_forwarded_headers(self, environ: Environ) -> None:
        proto = _first(environ.get("HTTP_X_FORWARDED_PROTO"))
        if proto in ("http", "https"):
            environ["wsgi.url_scheme"] = proto
        host = _first(environ.get("HTTP_X_FORWARDED_HOST"))
        if host:
            environ["HTTP_HOST"] = host
        prefix = _first(environ.get("HTTP_X_FORWARDED_PREFIX")).strip("/")
        if prefix:
            prefix = "/" + prefix
            environ["SCRIPT_NAME"] = prefix
            # A proxy that forwards the prefix in the path as well.
            path = environ.get("PATH_INFO", "")
            if path == prefix or path.startswith(prefix + "/"):
                environ["PATH_INFO"] = path[len(prefix) :]


def _first(header: str | None) -> str:
    """Return the first value of a list header: the one the outermost proxy set."""
    return (header or "").split(",")[0].strip()
