"""Which available locale a language tag, or an Accept-Language header, asks for (Babel negotiation)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from babel.core import negotiate_locale

__all__ = ["Negotiator", "parse_accept_language"]

_TAG = re.compile(r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$")
# A header is read only this far: a client cannot make negotiation work harder than this.
MAX_HEADER_CHARS = 1024
MAX_RANGES = 32
CACHE_SIZE = 512  # distinct Accept-Language values remembered per app; real traffic has few


def parse_accept_language(header: str) -> list[str]:
    """The tags of an Accept-Language header, best first (RFC 9110 q-values; ties keep their order).

    Malformed entries, `q=0` and `*` are dropped: `*` accepts anything, which the default locale is.
    """
    ranked: list[tuple[float, int, str]] = []
    for index, item in enumerate(header[:MAX_HEADER_CHARS].split(",")[:MAX_RANGES]):
        tag, _, params = item.partition(";")
        tag = tag.strip()
        if not _TAG.match(tag):
            continue
        q = 1.0
        for param in params.split(";") if params else ():
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
        if math.isnan(q) or not 0 < q <= 1:
            continue
        ranked.append((-q, index, tag))
    ranked.sort()
    return [tag for _, _, tag in ranked]


class Negotiator:
    """Matches tags against the available locales: exact, then Babel's negotiation (aliases, `en-GB`
    -> `en`), then any available locale of the same language (`pt` -> `pt_BR`)."""

    __slots__ = ("_by_language", "_cache", "_exact")

    def __init__(self, available: Iterable[str]) -> None:
        self._exact = {locale.lower(): locale for locale in available}
        self._by_language: dict[str, str] = {}
        for locale in sorted(self._exact.values()):
            self._by_language.setdefault(locale.split("_")[0].lower(), locale)
        self._cache: dict[str, str | None] = {}

    def match(self, tag: str) -> str | None:
        """The available locale for one tag (from `?lang=` or a cookie), or None."""
        key = tag.strip().replace("-", "_").lower()
        hit = self._exact.get(key)
        if hit is not None or not _TAG.match(key):
            return hit
        found = negotiate_locale([key], list(self._exact), sep="_")
        if found is not None:
            return self._exact.get(found.lower())
        return self._by_language.get(key.split("_")[0])

    def accept_language(self, header: str) -> str | None:
        """The available locale an Accept-Language header prefers most, or None."""
        if header in self._cache:
            return self._cache[header]
        found = None
        for tag in parse_accept_language(header):
            found = self.match(tag)
            if found is not None:
                break
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[header] = found
        return found
