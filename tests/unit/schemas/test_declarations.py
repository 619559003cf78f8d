import colander
import pytest

from wimslti.models import Lms, WimsServer
from wimslti.schemas.declarations import (
    CLASS_LIFETIME_RANGE,
    CLASS_LIMIT_RANGE,
    LMS_KEY_LENGTH,
    WIMS_IDENT_LENGTH,
    LmsSchema,
    WimsServerSchema,
)


def errors_of(schema, cstruct):
    with pytest.raises(colander.Invalid) as caught:
        schema.deserialize(cstruct)
    return caught.value.asdict()


class TestLmsSchema:
    def test_it_deserializes_a_full_entry(self, lms):
        assert LmsSchema().deserialize(lms) == lms

    def test_guid_and_url_are_optional(self, lms):
        del lms["guid"], lms["url"]

        appstruct = LmsSchema().deserialize(lms)

        assert appstruct["guid"] is None
        assert appstruct["url"] is None

    @pytest.mark.parametrize("name", ["key", "secret", "name"])
    def test_it_requires(self, lms, name):
        del lms[name]

        assert errors_of(LmsSchema(), lms) == {name: "Required"}

    def test_blank_text_is_missing(self, lms):
        lms["name"] = "   "

        assert errors_of(LmsSchema(), lms) == {"name": "Required"}

    def test_it_strips_text_but_not_the_secret(self, lms):
        lms["key"] = " moodle-a "
        lms["secret"] = " s3cr3t "

        appstruct = LmsSchema().deserialize(lms)

        assert appstruct["key"] == "moodle-a"
        assert appstruct["secret"] == " s3cr3t "

    def test_lengths_come_from_the_table(self, lms):
        lms["key"] = "k" * (Lms.__table__.c.key.type.length + 1)

        assert errors_of(LmsSchema(), lms) == {
            "key": f"must be at most {LMS_KEY_LENGTH} characters long"
        }
        assert LMS_KEY_LENGTH == 255

    def test_it_refuses_a_number_without_showing_it(self, lms):
        lms["secret"] = 83

        errors = errors_of(LmsSchema(), lms)

        assert errors == {"secret": "must be text (put the value in quotes)"}
        assert "83" not in str(errors)

    def test_it_names_unknown_fields_without_their_values(self, lms):
        lms["secrett"] = "hidden-value"

        errors = errors_of(LmsSchema(), lms)

        assert "unknown field secrett" in errors[""]
        assert "hidden-value" not in str(errors)

    @pytest.mark.parametrize(
        "url",
        [
            "ftp://moodle.example.org/",
            "moodle.example.org",
            "https://",
            "https://a:b@x/",
        ],
    )
    def test_it_refuses_bad_urls(self, lms, url):
        lms["url"] = url

        assert list(errors_of(LmsSchema(), lms)) == ["url"]

    def test_it_lower_cases_the_scheme_and_host(self, lms):
        lms["url"] = "HTTPS://Moodle.Example.ORG/Path"

        assert LmsSchema().deserialize(lms)["url"] == "https://moodle.example.org/Path"

    def test_it_refuses_an_entry_that_is_not_a_mapping(self):
        assert errors_of(LmsSchema(), "moodle") == {
            "": "must be a mapping of field: value lines"
        }

    def test_every_field_explains_itself(self):
        for node in LmsSchema().children:
            assert node.title
            assert node.description

    @pytest.fixture
    def lms(self):
        return {
            "key": "moodle-a",
            "secret": "s3cr3t",
            "guid": "moodle.example.org",
            "name": "Moodle A",
            "url": "https://moodle.example.org/",
        }


class TestWimsServerSchema:
    def test_it_fills_the_defaults(self, wims):
        appstruct = WimsServerSchema().deserialize(wims)

        assert appstruct == {
            **wims,
            "id": None,
            "class_limit": 150,
            "class_lifetime_days": 365,
            "allowed_lms": (),
            "contact_email": None,
        }

    @pytest.mark.parametrize("name", ["name", "url", "ident", "passwd", "rclass"])
    def test_it_requires(self, wims, name):
        del wims[name]

        assert errors_of(WimsServerSchema(), wims) == {name: "Required"}

    @pytest.mark.parametrize("value", [1, "7", " 12 "])
    def test_id_is_a_whole_number(self, wims, value):
        wims["id"] = value

        assert WimsServerSchema().deserialize(wims)["id"] == int(value)

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            (0, "must be at least 1"),
            (-3, "must be at least 1"),
            (2**31, "must be at most 2147483647"),
            ("one", "must be a whole number"),
            (1.5, "must be a whole number"),
            (True, "must be a whole number"),
        ],
    )
    def test_it_refuses_bad_ids(self, wims, value, message):
        wims["id"] = value

        assert errors_of(WimsServerSchema(), wims) == {"id": message}

    @pytest.mark.parametrize(
        ("name", "bounds"),
        [
            ("class_limit", CLASS_LIMIT_RANGE),
            ("class_lifetime_days", CLASS_LIFETIME_RANGE),
        ],
    )
    def test_class_defaults_have_a_range(self, wims, name, bounds):
        low, high = bounds
        schema = WimsServerSchema()

        assert schema.deserialize({**wims, name: low})[name] == low
        assert schema.deserialize({**wims, name: str(high)})[name] == high
        assert errors_of(schema, {**wims, name: low - 1}) == {
            name: f"must be at least {low}"
        }
        assert errors_of(schema, {**wims, name: high + 1}) == {
            name: f"must be at most {high}"
        }

    def test_the_lifetime_fits_in_what_wims_offers(self):
        # WIMS offers expiration dates up to one year and three months ahead.
        assert CLASS_LIFETIME_RANGE == (1, 454)

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:7777/wims/wims.cgi",
            "https://wims.example.org/wims/wims.cgi",
            "https://wims.example.org:8443/cgi-bin/wims.cgi",
        ],
    )
    def test_it_accepts_wims_cgi_urls(self, wims, url):
        wims["url"] = url

        assert WimsServerSchema().deserialize(wims)["url"] == url

    @pytest.mark.parametrize(
        ("url", "message"),
        [
            ("http://127.0.0.1:7777/wims/wims.cgi/", "must be the URL of wims.cgi"),
            ("http://127.0.0.1:7777/wims/", "must be the URL of wims.cgi"),
            ("ftp://127.0.0.1/wims/wims.cgi", "must be an http:// or https:// URL"),
            ("http://127.0.0.1/wims/wims.cgi?lang=fr", "must not have a ?query"),
            ("http://u:p@127.0.0.1/wims/wims.cgi", "must not contain a user name"),
            ("http://127.0.0.1:99999/wims/wims.cgi", "has an invalid port number"),
        ],
    )
    def test_it_refuses_other_urls(self, wims, url, message):
        wims["url"] = url

        assert errors_of(WimsServerSchema(), wims)["url"].startswith(message)

    @pytest.mark.parametrize("name", ["ident", "rclass"])
    @pytest.mark.parametrize("value", ["my class", "a/b", "+x+", "é"])
    def test_ident_and_rclass_are_single_words(self, wims, name, value):
        wims[name] = value

        assert errors_of(WimsServerSchema(), wims) == {
            name: "must contain only letters, digits, '_' and '-' (no spaces)"
        }

    def test_ident_length_comes_from_the_table(self, wims):
        wims["ident"] = "i" * (WimsServer.__table__.c.ident.type.length + 1)

        assert errors_of(WimsServerSchema(), wims) == {
            "ident": f"must be at most {WIMS_IDENT_LENGTH} characters long"
        }

    def test_allowed_lms_is_a_list_of_keys(self, wims):
        wims["allowed_lms"] = ["moodle-a", "canvas-b"]

        appstruct = WimsServerSchema().deserialize(wims)

        assert appstruct["allowed_lms"] == ["moodle-a", "canvas-b"]

    def test_empty_allowed_lms_is_an_empty_list(self, wims):
        wims["allowed_lms"] = None

        assert WimsServerSchema().deserialize(wims)["allowed_lms"] == ()

    @pytest.mark.parametrize(
        ("value", "errors"),
        [
            ("moodle-a", {"allowed_lms": "must be a list, one item a line: - item"}),
            (["moodle-a", ""], {"allowed_lms.1": "Required"}),
            (
                ["moodle-a", 3],
                {"allowed_lms.1": "must be text (put the value in quotes)"},
            ),
            (["a", "b", "a"], {"allowed_lms": "lists a more than once"}),
        ],
    )
    def test_it_refuses_bad_allowed_lms(self, wims, value, errors):
        wims["allowed_lms"] = value

        assert errors_of(WimsServerSchema(), wims) == errors

    def test_contact_email_must_be_an_address(self, wims):
        wims["contact_email"] = "not-an-address"

        assert errors_of(WimsServerSchema(), wims) == {
            "contact_email": "must be an e-mail address"
        }

    def test_it_never_shows_the_password(self, wims):
        wims["passwd"] = 1234567
        wims["extra"] = "wimsltipass"

        errors = errors_of(WimsServerSchema(), wims)

        assert "passwd" in errors
        assert "1234567" not in str(errors)
        assert "wimsltipass" not in str(errors)

    def test_every_field_explains_itself(self):
        schema = WimsServerSchema()

        for node in schema.children:
            assert node.title
            assert node.description
        assert "log/classes/.connections/" in schema["ident"].description
        assert "ident_password" in schema["passwd"].description
        assert "class_connections=+ident/rclass+" in schema["rclass"].description

    @pytest.fixture
    def wims(self):
        return {
            "name": "Local WIMS",
            "url": "http://127.0.0.1:7777/wims/wims.cgi",
            "ident": "wimslti",
            "passwd": "wimsltipass",
            "rclass": "myclass",
        }
