"""The `i18n` config section (mega_config.py and app_config.py) and the settings each app gets.

    i18n = {
        "default_locale": "en",      # the fallback catalog, and the locale when nothing else decides
        "enabled": True,             # False: ctx.t passes its default (or key) through, catalogs unread
        "query_param": "lang",       # ?lang=ko picks the locale (None: not read)
        "cookie": "mega_lang",       # then this cookie (None: not read)
        "accept_language": True,     # then the Accept-Language header, negotiated
    }
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from mega.config import _checks as c
from mega.config._problems import close_match
from mega.config._specs import Leaf, Section, const
from mega.config.sections import BOTH, Resolve, register_section

__all__ = ["DEFAULT", "I18N", "I18nSettings", "canonical_locale"]

DEFAULT_LOCALE = "en"
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 6265: a cookie name is an RFC 9110 token


@dataclass(frozen=True)
class I18nSettings:
    enabled: bool
    default_locale: str  # Babel's identifier: "en", "pt_BR"
    query_param: str | None
    cookie: str | None
    accept_language: bool
    file: str  # the file that set default_locale, for messages


DEFAULT = I18nSettings(True, DEFAULT_LOCALE, "lang", "mega_lang", True, "default")


def canonical_locale(value: str) -> str | None:
    """Babel's identifier for a locale written `en`, `en-GB`, `en_gb`...; None when CLDR has no such one."""
    from babel.core import Locale, UnknownLocaleError  # Babel is loaded only where a locale is named

    try:
        return str(Locale.parse(value.strip().replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError):
        return None


def _locale(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise c.wrong_type("a locale identifier such as 'en' or 'pt_BR'", value)
    found = canonical_locale(value)
    if found is None:
        from babel.localedata import locale_identifiers

        near = close_match(value.replace("-", "_"), locale_identifiers())
        guess = f"did you mean {near!r}? " if near else ""
        raise c.Invalid(c.INVALID_VALUE, f"is {value!r}, which is not a CLDR locale",
                        hint=f"{guess}use a language code, optionally with a region: 'en', 'ko', 'pt_BR'")
    return found


def _cookie_name(value: Any) -> str:
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise c.Invalid(c.INVALID_VALUE, f"is {value!r}, which is not a cookie name",
                        hint="letters, digits and !#$%&'*+-.^_`|~ only, no spaces, '=' or ';' (or None)")
    return value


I18N = Section(
    {
        "enabled": Leaf(c.boolean, const(True)),
        "default_locale": Leaf(_locale, const(DEFAULT_LOCALE)),
        "query_param": Leaf(c.optional(c.string), const("lang")),
        "cookie": Leaf(c.optional(_cookie_name), const("mega_lang")),
        "accept_language": Leaf(c.boolean, const(True)),
    }
)


def i18n_settings(value: dict[str, Any], resolve: Resolve) -> I18nSettings:
    return I18nSettings(value["enabled"], value["default_locale"], value["query_param"], value["cookie"],
                        value["accept_language"], resolve.file_of("default_locale"))


register_section("i18n", I18N, scope=BOTH, settings=i18n_settings)
