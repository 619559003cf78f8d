"""The languages of the pages people read: English, and French.

A request speaks the language of its launch's ``launch_presentation_locale``
(the launch views keep the launch's form in the environ, so the error page of
a refused launch and the ``lti_errormsg`` sent back to the LMS speak it too),
else the best one of the browser's ``Accept-Language``, else English; only
the languages of ``wimslti.languages`` are chosen. Messages are translation
strings of the ``wimslti`` domain, made with ``_`` here in Python and with
``{% trans %}`` or ``_()`` in the Jinja2 templates; their catalogs are
``wimslti/locale/<language>/LC_MESSAGES/wimslti.po`` and the ``.mo`` compiled
from it, both committed.

The admin pages are not translated: they stay in English.

To add or change a message, see ``wimslti/locale/README.md``.
"""

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context
from pyramid.config import Configurator
from pyramid.i18n import Localizer, TranslationString, TranslationStringFactory
from pyramid.request import Request

log = logging.getLogger(__name__)

DOMAIN = "wimslti"
DEFAULT_LANGUAGE = "en"
# The languages that have a catalog in wimslti/locale/ (English needs none).
TRANSLATED_LANGUAGES = ("en", "fr")
# Where the launch views keep the form of the launch (see views/lti.py).
LAUNCH_FORM = "wimslti.launch_form"
# The first path segments of the admin's pages, which stay in English (with
# what they show of the teachers' class page).
ENGLISH_ONLY = ("admin", "login", "logout")

_ = TranslationStringFactory(DOMAIN)


def locale_negotiator(request: Request) -> str:
    """Return the language of the request: the launch's, the browser's or English."""
    if request.path_info.lstrip("/").partition("/")[0] in ENGLISH_ONLY:
        return DEFAULT_LANGUAGE
    languages = request.registry.settings["wimslti.languages"]
    form = request.environ.get(LAUNCH_FORM) or {}
    launch = language_of_locale(form.get("launch_presentation_locale", ""))
    if launch in languages:
        return launch
    browser = request.accept_language.lookup(language_tags=languages, default="")
    return browser or DEFAULT_LANGUAGE


def language_of_locale(locale: str) -> str:
    """Return the language of an LMS locale: ``fr`` for ``fr-FR`` or ``fr_CA``."""
    return locale.strip().replace("_", "-").partition("-")[0].lower()


@dataclass(frozen=True)
class Joined:
    """Messages translated one by one, then joined with ``separator``."""

    parts: Sequence[Any]
    separator: str = " "

    def __bool__(self) -> bool:
        return bool(self.parts)

    def __str__(self) -> str:
        return translate(self)


def translate(message: Any, localizer: Localizer | None = None) -> str:
    """Return ``message`` in the language of ``localizer``, or in English.

    Translation strings in the mapping of ``message`` are translated first,
    so that a message may hold a word that is translated on its own (the
    state of a worksheet, say).
    """
    if isinstance(message, Joined):
        parts = (translate(part, localizer) for part in message.parts)
        return message.separator.join(parts)
    if not isinstance(message, TranslationString):
        return str(message)
    mapping: Mapping[str, Any] = message.mapping or {}
    filled = TranslationString(
        message,
        mapping={name: translate(value, localizer) for name, value in mapping.items()},
    )
    if localizer is None:
        return filled.interpolate()
    return localizer.translate(filled)


@pass_context
def translated(context: Context, message: Any) -> str:
    """Translate ``message`` for the request being rendered (a Jinja2 filter)."""
    return translate(message, context["request"].localizer)


def _add_jinja2_filter(config: Configurator) -> None:
    def register() -> None:
        config.get_jinja2_environment().filters["translated"] = translated

    # After pyramid_jinja2 has made its environment.
    config.action(None, register, order=999)


def includeme(config: Configurator) -> None:
    config.add_translation_dirs("wimslti:locale/")
    config.set_locale_negotiator(locale_negotiator)
    _add_jinja2_filter(config)
