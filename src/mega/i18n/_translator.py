"""An app's translations: the request's locale, the lookup with its fallbacks, warnings logged once."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mega.config._problems import ConfigProblem
from mega.i18n._catalog import Catalog, Entry, Plural, load_catalogs, missing_keys
from mega.i18n._formats import Formats
from mega.i18n._i18n import I18n
from mega.i18n._message import Part, parse_lenient, render
from mega.i18n._negotiate import Negotiator
from mega.i18n._settings import I18nSettings

if TYPE_CHECKING:
    from mega.http.reply import Reply
    from mega.http.request import Request

__all__ = ["MAX_WARNED", "Translator", "build_translator"]

MAX_WARNED = 10_000  # (locale, key) pairs warned about per app; memory stays bounded
_LISTED = 20  # keys named in one boot warning


class Translator(I18n):
    enabled = True

    def __init__(self, settings: I18nSettings, catalogs: Mapping[str, Catalog], log: logging.Logger) -> None:
        super().__init__(settings)
        self.catalogs = dict(catalogs)
        self._entries: dict[str, Mapping[str, Entry]] = {loc: c.entries for loc, c in catalogs.items()}
        self._fallback = self._entries[self.default_locale]
        self._negotiator = Negotiator(catalogs)
        self._formats = {locale: Formats(locale) for locale in catalogs}
        self._vary = ", ".join(name for name, on in (("Cookie", settings.cookie),
                                                      ("Accept-Language", settings.accept_language)) if on)
        self._warned: set[tuple[str, str]] = set()
        self.log = log

    @property
    def locales(self) -> tuple[str, ...]:
        return tuple(sorted(self.catalogs))

    def locale_for(self, req: Request | None, reply: Reply | None) -> str:
        """`?lang=`, then the cookie, then Accept-Language; a value with no catalog falls through."""
        if req is None:
            return self.default_locale
        settings = self.settings
        if settings.query_param and req.scope.get("query_string"):
            tag = req.query.get(settings.query_param)
            found = self._negotiator.match(tag) if tag else None
            if found is not None:
                return found  # the URL says it: nothing for a cache to vary on
        if reply is not None and self._vary:
            reply.header("vary", self._vary)
        if settings.cookie and "cookie" in req.headers:
            tag = req.cookies.get(settings.cookie)
            found = self._negotiator.match(tag) if tag else None
            if found is not None:
                return found
        if settings.accept_language:
            header = req.headers.get("accept-language")
            found = self._negotiator.accept_language(header) if header else None
            if found is not None:
                return found
        return self.default_locale

    def match(self, tag: str) -> str | None:
        return self._negotiator.match(tag) if isinstance(tag, str) else None

    def translate(self, locale: str, key: str, default: str | None, values: Mapping[str, Any]) -> str:
        """The locale's text, else the default locale's, else `default`, else the key; formatted."""
        entry = self._entries.get(locale, self._fallback).get(key)
        source = locale
        issues: list[str] = []
        if entry is None:
            entry = self._fallback.get(key)
            if entry is not None:
                source = self.default_locale
                issues.append(f"has no translation in {locale!r}: the {source!r} text is used")
            else:
                entry = parse_lenient(default if default is not None else key)
                default_locale = self.default_locale
                where = repr(locale) if locale == default_locale else f"{locale!r} or {default_locale!r}"
                used = "the default given" if default is not None else "the key itself"
                issues.append(f"is in no catalog of {where}: {used} is used")
        formats = self._formats.get(source) or self.formats(source)
        parts = self._plural_form(entry, formats, values, issues) if isinstance(entry, Plural) else entry
        text = render(parts, values, formats.value, issues)
        if issues:
            self._warn(locale, key, "; ".join(issues))
        return text

    @staticmethod
    def _plural_form(entry: Plural, formats: Formats, values: Mapping[str, Any],
                     issues: list[str]) -> tuple[Part, ...]:
        if "count" not in values:
            issues.append("is plural but no count= was given: its 'other' form is used")
            return entry.forms["other"]
        return entry.forms.get(formats.plural(values["count"])) or entry.forms["other"]

    def _warn(self, locale: str, key: str, what: str) -> None:
        pair = (locale, key)
        if pair in self._warned or len(self._warned) >= MAX_WARNED:
            return
        self._warned.add(pair)
        self.log.warning("i18n: key %r %s", key, what)
        if len(self._warned) == MAX_WARNED:
            self.log.warning("i18n: %d keys warned about; further missing keys are not logged", MAX_WARNED)


def build_translator(settings: I18nSettings, files: list[Path], root: Path, log: logging.Logger,
                     problems: list[ConfigProblem]) -> Translator | None:
    """The app's translator from its catalog files, or None with the problems added to `problems`."""
    catalogs, found = load_catalogs(files, root)
    problems.extend(found)
    if found:
        return None
    if settings.default_locale not in catalogs:
        folder = files[0].parent.relative_to(root).as_posix() if files[0].is_relative_to(root) else files[0]
        have = ", ".join(sorted(catalogs))
        problems.append(ConfigProblem(
            "i18n.no_default_catalog", "i18n.default_locale", settings.file,
            f"{settings.file}: i18n.default_locale is {settings.default_locale!r} but {folder} has no "
            f"catalog of it (catalogs: {have})",
            f"add {folder}/{settings.default_locale}.json, or set i18n.default_locale to one of: {have}"))
        return None
    for locale, keys in missing_keys(catalogs).items():
        more = f" and {len(keys) - _LISTED} more" if len(keys) > _LISTED else ""
        then = (f"{locale} falls back to {settings.default_locale!r}" if locale != settings.default_locale
                else "the default locale: they show as the key")
        log.warning("i18n: %s lacks %d key%s other catalogs have (%s): %s", catalogs[locale].file, len(keys),
                    "" if len(keys) == 1 else "s", then, ", ".join(keys[:_LISTED]) + more)
    return Translator(settings, catalogs, log)
