"""WIMS login names (quser) for LMS users.

WIMS accepts logins of 4 to 24 characters other than ``supervisor``, turns
``.`` into ``@`` and silently drops characters outside its set. The logins
made here are lower-case ASCII letters and digits, so WIMS keeps them as
they are.
"""

import hashlib
import itertools
import re
import unicodedata
from collections.abc import Iterator

from unidecode import unidecode

LOGIN_MIN = 4
LOGIN_MAX = 24
RESERVED_LOGIN = "supervisor"

# Room left for a collision suffix: login_candidates appends up to 4 digits
# before it has to cut the base.
BASE_MAX = 20

# Letters that have no Unicode decomposition into a base letter.
_FOLD = str.maketrans(
    {
        "ł": "l",
        "Ł": "L",
        "ø": "o",
        "Ø": "O",
        "ß": "ss",
        "ẞ": "SS",
        "œ": "oe",
        "Œ": "OE",
        "æ": "ae",
        "Æ": "AE",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "TH",
        "\u0131": "i",  # dotless i
        "ħ": "h",
        "Ħ": "H",
        "ŧ": "t",
        "Ŧ": "T",
        "ŋ": "n",
        "Ŋ": "N",
        "ĸ": "k",
        "\u017f": "s",  # long s
    }
)
_SURROGATES = re.compile("[\ud800-\udfff]")
_NOT_LOGIN = re.compile(r"[^a-z0-9]")
# The characters WIMS keeps in a login (adm/raw adduser).
_NOT_WIMS_LOGIN = re.compile(r"[^A-Za-z0-9;:^_#%~@-]")
_PADDING = "1234"


def _fold(text: str | None) -> str:
    """Return text as lower-case ASCII letters and digits only."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    text = "".join(char for char in text if not unicodedata.combining(char))
    if not text.isascii():
        text = unidecode(_SURROGATES.sub("", text))
    return _NOT_LOGIN.sub("", text.lower())


def _from_names(given: str | None, family: str | None) -> str:
    family_part = _fold(family)
    if family_part:
        return _fold(given)[:1] + family_part
    return ""


def _from_full(full: str | None) -> str:
    words = (full or "").strip().rsplit(None, 1)
    if len(words) == 2:
        return _from_names(words[0], words[1])
    return _fold(full)


def _from_email(email: str | None) -> str:
    local_part = (email or "").rpartition("@")[0] or (email or "")
    return _fold(local_part)


def _from_user_id(user_id: str) -> str:
    digest = hashlib.sha256(user_id.encode("utf-8", "surrogatepass")).hexdigest()
    return "u" + digest[:7]


def derive_login(
    *,
    given: str | None = None,
    family: str | None = None,
    full: str | None = None,
    email: str | None = None,
    user_id: str,
) -> str:
    """Return the deterministic base WIMS login of an LMS user.

    The first letter of the given name and the family name (Camille Durand
    → ``cdurand``); else the full name split on its last space; else the
    given name alone; else the local part of the email; else ``u`` and a
    short hash of user_id. Letters are transliterated to ASCII, everything
    but ``[a-z0-9]`` is dropped, the result is cut to 20 characters and
    padded with digits to 4 (``awu`` → ``awu1``). Never ``supervisor``.
    """
    base = (
        _from_names(given, family)
        or _from_full(full)
        or _fold(given)
        or _from_email(email)
        or _from_user_id(user_id)
    )
    base = base[:BASE_MAX]
    if len(base) < LOGIN_MIN:
        base += _PADDING[: LOGIN_MIN - len(base)]
    if base == RESERVED_LOGIN:
        base += "1"
    return base


def login_candidates(base: str) -> Iterator[str]:
    """Yield base, then base1, base2 … to try when WIMS says a login is taken.

    A candidate longer than 24 characters has its base cut, never its
    suffix; candidates WIMS would refuse or rewrite are skipped.

    :raises ValueError: if base has characters WIMS would rewrite.
    """
    if not base or wims_login(base) != base:
        raise ValueError(f"not a WIMS login base: {base!r}")
    return _candidates(base)


def _candidates(base: str) -> Iterator[str]:
    seen: set[str] = set()
    for number in itertools.count():
        suffix = str(number) if number else ""
        candidate = base[: LOGIN_MAX - len(suffix)] + suffix
        if candidate not in seen and is_acceptable_login(candidate):
            seen.add(candidate)
            yield candidate


def wims_login(quser: str) -> str:
    """Return the login WIMS stores when asked to add quser."""
    # WIMS takes the first word, split on ASCII blanks only.
    first_word = re.split(r"[ \t\r\n]+", quser.strip(" \t\r\n"), maxsplit=1)[0]
    return _NOT_WIMS_LOGIN.sub("", first_word.replace(".", "@"))


def is_acceptable_login(quser: str) -> bool:
    """Return whether WIMS adds quser under exactly that login."""
    return (
        wims_login(quser) == quser
        and LOGIN_MIN <= len(quser) <= LOGIN_MAX
        and quser != RESERVED_LOGIN
    )
