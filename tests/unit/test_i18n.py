"""The language of a request, translated messages, and the French catalog."""

import gettext
import re
from importlib.resources import files
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from pyramid import testing
from pyramid.i18n import make_localizer
from pyramid.request import Request

from wimslti.i18n import (
    LAUNCH_FORM,
    Joined,
    _,
    language_of_locale,
    locale_negotiator,
    translate,
)
from wimslti.lti.errors import InvalidLaunchParameters, LaunchForbidden
from wimslti.settings import SettingsError, load_settings

LOCALE = Path(str(files("wimslti") / "locale"))
PACKAGE = LOCALE.parent
POT = LOCALE / "wimslti.pot"
FRENCH_PO = LOCALE / "fr" / "LC_MESSAGES" / "wimslti.po"
FRENCH_MO = LOCALE / "fr" / "LC_MESSAGES" / "wimslti.mo"
# ${name} in Python messages, %(name)s in templates.
PLACEHOLDER = re.compile(r"\$\{\w+\}|%\(\w+\)s")


@pytest.fixture
def french():
    return make_localizer("fr", [str(LOCALE)])


class TestLocaleNegotiator:
    @pytest.mark.parametrize(
        ("launch_locale", "accept", "chosen"),
        [
            ("fr-FR", "", "fr"),
            ("fr_CA", "en", "fr"),
            ("en-GB", "fr", "en"),
            # A launch language without pages falls back to the browser's.
            ("de-DE", "fr", "fr"),
            ("", "de, fr;q=0.5", "fr"),
            ("", "fr;q=0.5, en", "en"),
            ("", "de", "en"),
            ("", "", "en"),
            ("", "*", "en"),
        ],
    )
    def test_it_takes_the_launch_then_the_browser_then_english(
        self, launch_locale, accept, chosen
    ):
        request = make_request(accept=accept, launch_locale=launch_locale)

        assert locale_negotiator(request) == chosen

    def test_only_the_configured_languages_are_chosen(self):
        request = make_request(accept="fr", languages=["en"], launch_locale="fr-FR")

        assert locale_negotiator(request) == "en"

    @pytest.mark.parametrize("path", ["/admin/", "/admin/classes/1/", "/login"])
    def test_the_admin_pages_stay_in_english(self, path):
        assert locale_negotiator(make_request(path, accept="fr")) == "en"

    @pytest.mark.parametrize(
        ("locale", "language"),
        [("fr-FR", "fr"), ("fr_CA", "fr"), ("FR", "fr"), (" en-US ", "en"), ("", "")],
    )
    def test_a_locale_gives_its_language(self, locale, language):
        assert language_of_locale(locale) == language


class TestTranslate:
    def test_without_a_localizer_it_gives_the_english_text(self):
        message = _("WIMS refused the request: ${message}", mapping={"message": "x"})

        assert translate(message) == "WIMS refused the request: x"

    def test_it_translates_the_messages_inside_a_message(self, french):
        message = _(
            "This ${item} is ${status}: you can open it once your teacher has "
            "activated it.",
            mapping={
                "item": _("exam ${number}", mapping={"number": 3}),
                "status": _("hidden"),
            },
        )

        assert translate(message) == (
            "This exam 3 is hidden: you can open it once your teacher has activated it."
        )
        assert translate(message, french).startswith(
            "État de cette activité (examen 3) : masquée."
        )

    def test_joined_messages_are_translated_one_by_one(self, french):
        joined = Joined([_("missing ${names}", mapping={"names": "user_id"}), "x"])

        assert translate(joined) == "missing user_id x"
        assert translate(joined, french) == "user_id manquant(s) x"
        assert not Joined([])

    def test_a_plain_string_is_left_as_it_is(self, french):
        assert translate("as it is", french) == "as it is"


class TestLaunchErrors:
    def test_the_message_attribute_stays_english(self, french):
        error = LaunchForbidden(
            _(
                "WIMS server ${number} is no longer served by this gateway.",
                mapping={"number": 2},
            )
        )

        assert error.message == ("WIMS server 2 is no longer served by this gateway.")
        assert str(error) == error.message
        assert error.shown(french) == (
            "Le serveur WIMS 2 n'est plus servi par cette passerelle."
        )

    def test_invalid_parameters_are_listed_in_the_persons_language(self, french):
        error = InvalidLaunchParameters(
            [_("missing ${names}", mapping={"names": "user_id"}), "plain words"]
        )

        assert error.problems == ["missing user_id", "plain words"]
        assert error.message == "The launch cannot go on: missing user_id; plain words."
        assert error.detail == "invalid parameters: missing user_id; plain words"
        assert error.shown(french) == (
            "Le lancement ne peut pas continuer : user_id manquant(s); plain words."
        )


class TestLanguagesSetting:
    BASE = {"sqlalchemy.url": "sqlite://", "wimslti.config_dir": "/tmp"}

    def test_every_translated_language_is_the_default(self):
        assert load_settings(self.BASE, {})["wimslti.languages"] == ["en", "fr"]

    def test_english_stays_the_last_resort(self):
        settings = load_settings({**self.BASE, "wimslti.languages": "FR"}, {})

        assert settings["wimslti.languages"] == ["en", "fr"]

    def test_the_environment_overrides_the_ini(self):
        settings = load_settings(self.BASE, {"WIMSLTI_LANGUAGES": "en fr"})

        assert settings["wimslti.languages"] == ["en", "fr"]

    def test_a_language_without_a_catalog_is_refused(self):
        with pytest.raises(SettingsError, match="no translation for de"):
            load_settings({**self.BASE, "wimslti.languages": "en de"}, {})


class TestFrenchCatalog:
    def test_every_message_of_the_template_is_translated(self):
        template = catalog(POT)
        french = catalog(FRENCH_PO)

        untranslated = []
        for message in template:
            if not message.id:
                continue
            found = french.get(message.id)
            strings = found.string if found is not None else ""
            if isinstance(strings, str):
                strings = (strings,)
            if found is None or found.fuzzy or not all(strings):
                untranslated.append(message.id)
        assert untranslated == []

    def test_the_template_holds_every_message_of_the_sources(self):
        extracted = {
            message
            for _filename, _lineno, message, _comments, _context in extract_from_dir(
                str(PACKAGE),
                method_map=[
                    ("**.py", "python"),
                    ("templates/**.jinja2", "jinja2"),
                ],
                options_map={"templates/**.jinja2": {"silent": "false"}},
            )
        }
        template = {message.id for message in catalog(POT) if message.id}

        assert extracted == template, "run the commands of wimslti/locale/README.md"

    def test_translations_keep_the_placeholders(self):
        for message in catalog(FRENCH_PO):
            if not message.id:
                continue
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = (
                message.string
                if isinstance(message.string, tuple)
                else (message.string,)
            )
            wanted = sorted(PLACEHOLDER.findall(ids[-1]))
            for string in strings:
                assert sorted(PLACEHOLDER.findall(string)) == wanted, message.id

    def test_the_compiled_catalog_is_the_current_one(self):
        with FRENCH_MO.open("rb") as compiled:
            translations = gettext.GNUTranslations(compiled)

        for message in catalog(FRENCH_PO):
            if not message.id:
                continue
            if isinstance(message.id, tuple):
                singular, plural = message.id
                assert translations.ngettext(singular, plural, 1) == message.string[0]
                assert translations.ngettext(singular, plural, 2) == message.string[1]
            else:
                assert translations.gettext(message.id) == message.string, message.id


def catalog(path):
    with path.open("rb") as file:
        return read_po(file)


def make_request(path="/links/", accept="", launch_locale="", languages=None):
    request = Request.blank(path, headers={"Accept-Language": accept} if accept else {})
    request.registry = testing.setUp(
        settings={"wimslti.languages": languages or ["en", "fr"]}
    ).registry
    if launch_locale:
        request.environ[LAUNCH_FORM] = {"launch_presentation_locale": launch_locale}
    return request


@pytest.fixture(autouse=True)
def _tear_down():
    yield
    testing.tearDown()
