"""The request class of the gateway: bodies kept in memory, forms in any charset."""

from typing import Any

from pyramid.request import Request

from wimslti.body_limit import MAX_BODY_BYTES

UTF_8 = ("utf-8", "utf8")


class UndecodableForm(ValueError):
    """A form body that its declared charset cannot decode."""


class GatewayRequest(Request):
    # Bodies up to the limit stay in memory: pyramid_retry reads every body
    # to replay it, and a temporary file per launch is not worth it.
    request_body_tempfile_limit = MAX_BODY_BYTES

    @property
    def POST(self) -> Any:
        """Return the form fields, read in the charset the form declares.

        LTI and browsers send UTF-8, but a form may declare another charset,
        which WebOb refuses to read: it is transcoded, so the fields are the
        characters the sender wrote (and, for a launch, signed).

        :raises UndecodableForm: when that charset cannot decode the body.
        """
        if (self.charset or "utf-8").lower() in UTF_8:
            return super().POST
        try:
            return self.decode().POST
        except (UnicodeDecodeError, LookupError) as error:
            raise UndecodableForm(str(error)) from None
