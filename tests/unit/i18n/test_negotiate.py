"""Accept-Language parsing and matching against the available locales, edge cases included."""

from __future__ import annotations

import pytest

from mega.i18n._negotiate import MAX_HEADER_CHARS, Negotiator, parse_accept_language

OFFERED = Negotiator(["en", "ko", "pt_BR", "zh_Hant"])


@pytest.mark.parametrize(("header", "tags"), [
    ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", ["ko-KR", "ko", "en-US", "en"]),
    ("en;q=0.5, ko", ["ko", "en"]),
    ("de;q=0.7, fr;q=0.7, it", ["it", "de", "fr"]),         # ties keep the header's order
    ("en;q=0, ko;q=0.000", []),                            # q=0: not acceptable
    ("en;q=1.5, ko;q=-1, de;q=abc, fr;q=nan", []),         # out of range or unreadable: dropped
    ("*", []),                                             # anything: the default will do
    ("*;q=0.5, ko;q=0.1", ["ko"]),
    ("EN-gb ; Q=0.4", ["EN-gb"]),
    ("", []),
    (",,;;,;q=1", []),
    ("<script>, ../../etc, en us, 12345, en-", []),
    ("x-klingon, i-default", ["x-klingon", "i-default"]),  # well formed: the matcher decides
])
def test_parse_keeps_well_formed_tags_best_first(header: str, tags: list[str]) -> None:
    assert parse_accept_language(header) == tags


def test_a_huge_header_is_read_only_so_far() -> None:
    header = ", ".join(["fr;q=0.1"] * 5000 + ["ko"])
    assert len(header) > MAX_HEADER_CHARS
    assert parse_accept_language(header) == ["fr"] * 32
    assert Negotiator(["ko", "en"]).accept_language(header) is None


@pytest.mark.parametrize(("tag", "locale"), [
    ("en", "en"), ("EN", "en"), ("en-GB", "en"), ("en_gb", "en"), ("en-Latn-US", "en"),
    ("ko-KR", "ko"), ("pt-BR", "pt_BR"), ("pt", "pt_BR"), ("PT_br", "pt_BR"),
    ("zh-Hant-TW", "zh_Hant"), ("zh", "zh_Hant"),
    ("fr", None), ("", None), ("*", None), ("e", None), ("en;DROP", None), ("ko\x00", None),
])
def test_match_finds_the_offered_locale(tag: str, locale: str | None) -> None:
    assert OFFERED.match(tag) == locale


@pytest.mark.parametrize(("header", "locale"), [
    ("fr-CA, fr;q=0.9, en-GB;q=0.8", "en"),
    ("pt-PT, en;q=0.1", "pt_BR"),       # the same language in another region beats a worse q
    ("garbage!!, ko", "ko"),
    ("*", None),
    ("fr, de", None),
])
def test_accept_language_picks_the_best_offered(header: str, locale: str | None) -> None:
    assert OFFERED.accept_language(header) == locale


def test_the_answer_cache_stays_bounded() -> None:
    negotiator = Negotiator(["en"])
    for n in range(2000):
        assert negotiator.accept_language(f"xx-{n}, en") == "en"
    assert len(negotiator._cache) <= 512
