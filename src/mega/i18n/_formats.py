"""Numbers, currencies and dates written for one locale, and its CLDR plural category (Babel)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from babel.core import Locale
from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_currency, format_decimal, format_percent

from mega.i18n._message import Slot

__all__ = ["Formats"]


_SMALL = 1024  # plural categories of the ints below this are remembered (counts are mostly small)
_SAMPLES = (0, 7, 12, 999, 1000, 1234567, -1, -1234567, 10**18)


class Formats:
    """The formats of one locale: `number`, `percent`, `currency`, `date`, `time`, `datetime`."""

    __slots__ = ("_group", "_minus", "_plurals", "locale")

    def __init__(self, identifier: str) -> None:
        self.locale = Locale.parse(identifier)
        self._plurals: dict[int, str] = {}
        self._group, self._minus = self._int_symbols()

    def _int_symbols(self) -> tuple[str | None, str]:
        """Where the locale groups ints by threes like Python's `{:,}` does, its separator and minus
        sign: ints are then written without Babel's pattern engine (~20 us a number), same result."""
        symbols = self.locale.number_symbols.get(self.locale.default_numbering_system) or {}
        group, minus = symbols.get("group"), symbols.get("minusSign", "-")
        if not isinstance(group, str) or not isinstance(minus, str):
            return None, "-"
        fast = all(_grouped(n, group, minus) == format_decimal(n, locale=self.locale) for n in _SAMPLES)
        return (group if fast else None), minus

    def plural(self, count: Any) -> str:
        """`zero`, `one`, `two`, `few`, `many` or `other`: the locale's CLDR rule for `count`."""
        if isinstance(count, bool) or not isinstance(count, int | float | Decimal):
            return "other"
        if isinstance(count, int) and -_SMALL < count < _SMALL:
            found = self._plurals.get(count)
            if found is None:
                found = self._plurals[count] = str(self.locale.plural_form(abs(count)))
            return found
        return str(self.locale.plural_form(abs(count)))  # type: ignore[arg-type]  # Babel reads ints too

    def number(self, value: Any) -> str:
        if self._group is not None and type(value) is int:
            return _grouped(value, self._group, self._minus)
        return str(format_decimal(value, locale=self.locale))

    def percent(self, value: Any) -> str:
        return str(format_percent(value, locale=self.locale))

    def currency(self, value: Any, currency: str) -> str:
        return str(format_currency(value, currency, locale=self.locale))

    def date(self, value: Any, format: str = "medium") -> str:
        return str(format_date(value, format, locale=self.locale))

    def time(self, value: Any, format: str = "medium") -> str:
        return str(format_time(value, format, locale=self.locale))

    def datetime(self, value: Any, format: str = "medium") -> str:
        return str(format_datetime(value, format, locale=self.locale))

    def value(self, value: Any, slot: Slot) -> str:
        """`value` as the slot's kind says; without a kind, numbers and dates for the locale."""
        kind = slot.kind
        if kind is None:
            if isinstance(value, bool):
                return str(value)
            if isinstance(value, int | float | Decimal):
                return self.number(value)
            if isinstance(value, dt.datetime):
                return self.datetime(value)
            if isinstance(value, dt.date):
                return self.date(value)
            return str(value)
        if kind == "raw":
            return str(value)
        if kind == "number":
            return self.number(value)
        if kind == "percent":
            return self.percent(value)
        if kind == "currency":
            return self.currency(value, slot.arg or "")
        return str(getattr(self, kind)(value, slot.arg or "medium"))  # date, time, datetime


def _grouped(n: int, group: str, minus: str) -> str:
    text = f"{abs(n):,}".replace(",", group)
    return minus + text if n < 0 else text
