import pytest

from wimslti.request import GatewayRequest, UndecodableForm


def form(body: bytes, charset: str) -> GatewayRequest:
    return GatewayRequest.blank(
        "/",
        method="POST",
        body=body,
        content_type=f"application/x-www-form-urlencoded; charset={charset}",
    )


class TestGatewayRequest:
    def test_a_latin_1_form_is_read_as_declared(self):
        assert dict(form(b"a=%E9t%E9", "iso-8859-1").POST) == {"a": "été"}

    def test_a_utf_8_form_is_read_as_usual(self):
        assert dict(form(b"a=%C3%A9", "UTF-8").POST) == {"a": "é"}

    @pytest.mark.parametrize("charset", ["utf-16", "no-such-charset"])
    def test_an_undecodable_form_says_so(self, charset):
        with pytest.raises(UndecodableForm):
            form(b"a=%E9", charset).POST  # noqa: B018
