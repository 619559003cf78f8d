"""Refuse request bodies far larger than any LTI launch or admin form."""

from collections.abc import Callable, Iterable
from typing import Any

from webob import Response

# An LTI 1.1 launch is a few kilobytes; WIMS itself refuses values of 45000
# characters or more.
MAX_BODY_BYTES = 512 * 1024


class BodyLimitMiddleware:
    """Answer 413 to a request whose body is over ``max_bytes``.

    The body is refused before anything reads it, so no temporary file is
    made for it.
    """

    def __init__(
        self, app: Callable[..., Iterable[bytes]], max_bytes: int = MAX_BODY_BYTES
    ):
        self.app = app
        self.max_bytes = max_bytes

    def __call__(
        self, environ: dict[str, Any], start_response: Callable
    ) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > self.max_bytes:
            response = Response(
                f"This request is larger than {self.max_bytes // 1024} KB: an LTI "
                "launch is a few KB.",
                status=413,
                content_type="text/plain",
                charset="utf-8",
            )
            return response(environ, start_response)
        return self.app(environ, start_response)
