"""Messages: slots parsed once, values written for a locale, problems never raised at render."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from babel.numbers import format_decimal
from hypothesis import given, settings
from hypothesis import strategies as st

from mega.i18n._formats import Formats
from mega.i18n._message import BadMessage, Slot, parse, render

EN, KO, DE = Formats("en"), Formats("ko"), Formats("de")


def text(message: str, formats: Formats = EN, **values: Any) -> tuple[str, list[str]]:
    issues: list[str] = []
    return render(parse(message), values, formats.value, issues), issues


def test_parse_splits_literals_and_slots() -> None:
    assert parse("Hi {name}, {n:number}{d:date:long}!") == (
        "Hi ", Slot("name", None, None), ", ", Slot("n", "number", None), Slot("d", "date", "long"), "!")
    assert parse("{{literal}} and } or { alone") == ("{literal} and } or { alone",)
    assert parse("") == ("",)


@pytest.mark.parametrize(("message", "why"), [
    ("{n:money}", "uses the unknown format '{n:money}'"),
    ("{n:currency}", "uses '{n:currency}' without a currency code"),
])
def test_a_bad_slot_is_refused_when_strict_and_literal_when_lenient(message: str, why: str) -> None:
    with pytest.raises(BadMessage) as caught:
        parse(message)
    assert caught.value.text == why
    assert parse(message, strict=False) == (message,)


@pytest.mark.parametrize(("formats", "expected"), [
    (EN, "1,234,567.5 | 25% | €1,234.50 | Dec 4, 2026 | December 4, 2026 | 2026"),
    (KO, "1,234,567.5 | 25% | €1,234.50 | 2026. 12. 4. | 2026년 12월 4일 | 2026"),
    (DE, "1.234.567,5 | 25\xa0% | 1.234,50\xa0€ | 04.12.2026 | 4. Dezember 2026 | 2026"),
])
def test_kinds_write_for_the_locale(formats: Formats, expected: str) -> None:
    message = "{n} | {p:percent} | {c:currency:EUR} | {d} | {d:date:long} | {year:raw}"
    out, issues = text(message, formats, n=1234567.5, p=0.25, c=Decimal("1234.5"), d=dt.date(2026, 12, 4),
                       year=2026)
    assert (out, issues) == (expected, [])


def test_a_missing_or_unwritable_value_is_an_issue_not_an_exception() -> None:
    out, issues = text("{who} paid {n:number} on {d:date}", n="lots", d=dt.date(2026, 1, 2))
    assert out == "{who} paid lots on Jan 2, 2026"
    assert issues[0] == "no value for {who}"
    assert issues[1].startswith("{n} could not format str 'lots'")


def test_booleans_and_other_values_are_str() -> None:
    assert text("{a} {b} {c}", a=True, b=None, c=["x"]) == ("True None ['x']", [])


@pytest.mark.parametrize(("formats", "counts"), [
    (EN, {0: "other", 1: "one", 2: "other", 1.5: "other", -1: "one"}),
    (KO, {0: "other", 1: "other", 2: "other"}),
    (Formats("ru"), {1: "one", 3: "few", 5: "many", 21: "one"}),
])
def test_plural_categories_follow_cldr(formats: Formats, counts: dict[Any, str]) -> None:
    assert {n: formats.plural(n) for n in counts} == counts
    assert formats.plural("3") == formats.plural(None) == formats.plural(True) == "other"


# Several of these group otherwise than by threes (hi, en_IN), or write a minus of their own.
LOCALES = ("en", "ko", "de", "fr", "ru", "es", "hi", "de_CH", "sv", "ar", "fa", "en_IN")
FORMATS = {locale: Formats(locale) for locale in LOCALES}


@settings(max_examples=200, deadline=None)
@given(n=st.integers(min_value=-(10**20), max_value=10**20),
       locale=st.sampled_from(LOCALES))
def test_ints_written_without_babels_pattern_engine_match_babel(n: int, locale: str) -> None:
    assert FORMATS[locale].number(n) == format_decimal(n, locale=locale)
    assert FORMATS[locale].plural(n) == str(FORMATS[locale].locale.plural_form(abs(n)))
