"""The NAME of `mega g KIND NAME`: validated once, then spelled the way each kind needs it.

`UserProfile`, `user_profile`, `user-profile` and `userProfile` are one name: its words. From them come
the class (`UserProfile`), the module (`user_profile`), the URL (`user-profile`) and the JS-style
(`userProfile`) spellings that the templates' tokens stand for.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

from mega.errors import MegaError

MAX_LENGTH = 64
_CHARS = re.compile(r"[A-Za-z0-9_-]*")
_TITLE_CHARS = re.compile(r"[A-Za-z0-9_ -]*")
# A run of capitals before a capitalised word (HTTPClient -> HTTP, Client), a word, capitals, digits.
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z]+[0-9]*|[0-9]+")
# Folders and packages every project has: a file or app of one of these names reads as something else.
RESERVED = {
    "mega": "it is the framework's package name",
    "apps": "it is the project's package of apps",
    "tests": "it is the project's test folder",
}
# Locales as catalogs are named (Babel's spelling, `pt_BR`): language, optional script, optional region.
_TAG = re.compile(r"([A-Za-z]{2,3})(?:[-_]([A-Za-z]{4}))?(?:[-_]([A-Za-z]{2}|[0-9]{3}))?")


@dataclass(frozen=True)
class Name:
    """One NAME in every spelling the templates use."""

    given: str
    words: tuple[str, ...]

    @property
    def pascal(self) -> str:
        return "".join(word.capitalize() for word in self.words)

    @property
    def camel(self) -> str:
        pascal = self.pascal
        return pascal[:1].lower() + pascal[1:]

    @property
    def snake(self) -> str:
        return "_".join(self.words)

    @property
    def kebab(self) -> str:
        return "-".join(self.words)


def invalid(raw: str, kind: str, why: str, hint: str) -> MegaError:
    return MegaError("generate.invalid_name", f"invalid {kind} name {raw!r}: {why}",
                     details={"kind": kind, "name": raw}, hint=hint)


def parse_name(raw: str, kind: str, *, suffix: str | None = None, example: str = "UserProfile") -> Name:
    """Validate NAME for `kind`; `suffix` (`controller`, `service`) is dropped when NAME ends with it."""
    hint = f"e.g. mega g {kind} {example}"
    _check_chars(raw, kind, _CHARS, "it may hold only letters, digits, '_' and '-'", hint)
    words = tuple(word.lower() for word in _WORD.findall(raw))
    if suffix is not None and len(words) > 1 and words[-1] == suffix:
        words = words[:-1]
    name = Name(raw, words)
    if keyword.iskeyword(name.snake):
        raise invalid(raw, kind, f"{name.snake!r} is a Python keyword, so it cannot name a module or a "
                      "function", hint)
    if name.snake in RESERVED:
        raise invalid(raw, kind, f"{name.snake!r} is reserved: {RESERVED[name.snake]}", hint)
    return name


def parse_title(raw: str, kind: str) -> Name:
    """A title (`mega g adr "Use PostgreSQL"`): words separated by spaces, '-' or '_'."""
    hint = f"e.g. mega g {kind} \"Use PostgreSQL for jobs\""
    _check_chars(raw, kind, _TITLE_CHARS, "it may hold only letters, digits, spaces, '_' and '-'", hint)
    return Name(raw, tuple(word.lower() for word in re.split(r"[ _-]+", raw) if word))


def title_of(name: Name) -> str:
    """The given text when it reads as a title (it has spaces), else its words as a sentence."""
    if " " in name.given.strip():
        return " ".join(name.given.split())
    sentence = " ".join(name.words)
    return sentence[:1].upper() + sentence[1:]


def language_tag(raw: str) -> str:
    """`ko`, `pt_BR`, `zh_Hant_TW`, as the i18n catalogs are named; `pt-br` is written `pt_BR`."""
    match = _TAG.fullmatch(raw)
    if match is None:
        raise invalid(raw, "locale", "a locale is a language tag: a 2 or 3 letter language, then an "
                      "optional 4 letter script and an optional region (2 letters or 3 digits)",
                      "e.g. mega g locale ko, mega g locale pt_BR, mega g locale zh_Hant_TW")
    language, script, region = match.groups()
    parts = [language.lower()]
    if script:
        parts.append(script.capitalize())
    if region:
        parts.append(region.upper())
    return "_".join(parts)


def _check_chars(raw: str, kind: str, allowed: re.Pattern[str], what: str, hint: str) -> None:
    if not raw or not raw[0].isascii() or not raw[0].isalpha():
        raise invalid(raw, kind, "it must start with a letter", hint)
    if not allowed.fullmatch(raw):
        bad = next(ch for ch in raw if not allowed.fullmatch(ch))
        raise invalid(raw, kind, f"{what} ({bad!r} is not allowed)", hint)
    if len(raw) > MAX_LENGTH:
        raise invalid(raw, kind, f"it is longer than {MAX_LENGTH} characters", hint)
