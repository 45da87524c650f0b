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


class Formats:
    """The formats of one locale: `number`, `percent`, `currency`, `date`, `time`, `datetime`."""

    __slots__ = ("locale",)

    def __init__(self, identifier: str) -> None:
        self.locale = Locale.parse(identifier)

    def plural(self, count: Any) -> str:
        """`zero`, `one`, `two`, `few`, `many` or `other`: the locale's CLDR rule for `count`."""
        if isinstance(count, bool) or not isinstance(count, int | float | Decimal):
            return "other"
        return str(self.locale.plural_form(abs(count)))  # type: ignore[arg-type]  # Babel reads ints too

    def number(self, value: Any) -> str:
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
