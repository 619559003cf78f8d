"""Text made safe for WIMS, which stores and returns ISO-8859-1 bytes as is."""

import re
import unicodedata

from unidecode import unidecode

# Transliterations preferred to what Unidecode would give (it writes "--"
# for an em dash, for instance).
_PREFERRED = {
    "\u2012": "-",
    "\u2013": "-",
    "\u2014": "-",
    "\u2015": "-",
    "\u2212": "-",
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2026": "...",
    "\u20ac": "EUR",
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {closer: opener for opener, closer in _OPENERS.items()}


def _is_latin1(text: str) -> bool:
    return all(ord(char) < 256 for char in text)


def _transliterate(char: str) -> str:
    if char in _PREFERRED:
        return _PREFERRED[char]
    if 0xD800 <= ord(char) <= 0xDFFF:
        # A lone surrogate cannot be encoded at all (Unidecode warns on it).
        return ""
    compatible = unicodedata.normalize("NFKC", char)
    if _is_latin1(compatible):
        return compatible
    stripped = "".join(
        part
        for part in unicodedata.normalize("NFKD", char)
        if not unicodedata.combining(part)
    )
    if stripped and _is_latin1(stripped):
        return stripped
    return unidecode(char)


def to_latin1(text: str) -> str:
    """Return text with every character outside ISO-8859-1 transliterated.

    Latin-1 characters are kept (é, ø, ß …); others become their closest
    ASCII spelling (en dash → -, œ → oe, € → EUR, Ł → L, Greek and Cyrillic
    romanised); what has no spelling (emoji) is dropped. Never raises.
    """
    if not text:
        return ""
    # NFC first, so that "e" + combining acute stays one Latin-1 "é".
    text = unicodedata.normalize("NFC", str(text))
    if _is_latin1(text):
        return text
    return "".join(char if ord(char) < 256 else _transliterate(char) for char in text)


def _balance(text: str) -> str:
    """Drop every bracket that has no partner, so that all pairs nest."""
    dropped: set[int] = set()
    open_at: list[int] = []
    for index, char in enumerate(text):
        if char in _OPENERS:
            open_at.append(index)
        elif char in _CLOSERS:
            if open_at and text[open_at[-1]] == _CLOSERS[char]:
                open_at.pop()
            else:
                dropped.add(index)
    dropped.update(open_at)
    if not dropped:
        return text
    return "".join(char for index, char in enumerate(text) if index not in dropped)


def _tidy(text: str) -> str:
    return " ".join(_balance(text).split())


def clean_value(text: str, max_length: int) -> str:
    """Return text as one safe value for a ``key=value`` line of data1/data2.

    WIMS answers HTTP 450 for a request with any unbalanced bracket, reads a
    data line up to its second ``=``, and does not escape ``"`` or ``\\`` in
    its JSON, so the value is transliterated to Latin-1, put on one line,
    stripped of quotes and backslashes, ``=`` becomes ``-``, unmatched
    brackets are dropped, and it is cut to at most max_length characters.
    """
    if max_length <= 0:
        return ""
    value = _CONTROL.sub(" ", to_latin1(text))
    value = value.replace('"', "").replace("\\", "").replace("=", "-")
    # In WIMS's language "name=!word ..." runs the command "word": a value
    # must never start with "!".
    value = _tidy(value).lstrip("! ")
    # Cutting may orphan an opening bracket; tidying again only removes.
    return _tidy(value[:max_length]).lstrip("! ")


def is_balanced(text: str) -> bool:
    """Return whether every bracket of text has a partner, as WIMS requires."""
    return _balance(text) == text
