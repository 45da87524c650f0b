"""What a request context asks of its app's i18n. This base class is i18n off: no catalog is read,
`translate` passes the default (else the key) through, and the locale is the default one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mega.i18n._message import Slot, parse_lenient, render
from mega.i18n._settings import DEFAULT, I18nSettings, canonical_locale

if TYPE_CHECKING:
    from mega.http.reply import Reply
    from mega.http.request import Request
    from mega.i18n._formats import Formats

__all__ = ["OFF", "I18n"]


class I18n:
    enabled = False

    def __init__(self, settings: I18nSettings = DEFAULT) -> None:
        self.settings = settings
        self.default_locale = settings.default_locale
        self._formats: dict[str, Formats] = {}

    @property
    def locales(self) -> tuple[str, ...]:
        """The locales with a catalog (none when off)."""
        return ()

    def locale_for(self, req: Request | None, reply: Reply | None) -> str:
        """The request's locale (resolved once per request, by `ctx.locale`)."""
        return self.default_locale

    def match(self, tag: str) -> str | None:
        """The locale `ctx.locale = tag` sets, or None when there is none to set."""
        return canonical_locale(tag) if isinstance(tag, str) else None

    def translate(self, locale: str, key: str, default: str | None, values: Mapping[str, Any]) -> str:
        text = default if default is not None else key
        return render(parse_lenient(text), values, self._writer(locale), [])

    def formats(self, locale: str) -> Formats:
        """The number and date formats of `locale` (Babel is loaded on the first one)."""
        formats = self._formats.get(locale)
        if formats is None:
            from mega.i18n._formats import Formats  # Babel (~20 ms), only once a locale formats a value

            formats = self._formats[locale] = Formats(locale)
        return formats

    def _writer(self, locale: str) -> Any:
        def write(value: Any, slot: Slot) -> str:
            # Off, a plain `{name}` is str(value); a slot with a kind still formats for the locale.
            return str(value) if slot.kind is None else self.formats(locale).value(value, slot)

        return write


OFF = I18n()
"""An app's i18n until the boot's i18n stage sets it (and for apps built without a project)."""
