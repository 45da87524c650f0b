"""ctx.t, ctx.locale and the formats through real requests to a booted project."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from mega.testing import make_client, running
from tests.integration.i18n.conftest import MakeShop


async def get(root: Any, path: str, **kwargs: Any) -> dict[str, Any]:
    async with running(root) as rt, make_client(rt) as http:
        response = await http.get(path, **kwargs)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


@pytest.mark.parametrize(("header", "locale"), [
    ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"),
    ("en;q=0.3, ko;q=0.8", "ko"),             # q-values, not the order, decide
    ("ko;q=0.5, de", "de"),                   # no q is q=1
    ("fr, de;q=0.4, ko;q=0.2", "de"),         # fr has no catalog: the next one that has
    ("en-GB", "en"),                          # a region variant falls back to its language
    ("fr, es", "en"),                         # none offered: the default
    ("ko;q=0, de;q=0.1", "de"),               # q=0 means "not this one"
])
async def test_the_locale_comes_from_accept_language(make_shop: MakeShop, header: str, locale: str) -> None:
    data = await get(make_shop(), "/", headers={"accept-language": header})
    assert data["locale"] == locale


async def test_the_query_param_wins_then_the_cookie_then_accept_language(make_shop: MakeShop) -> None:
    root = make_shop()
    async with running(root) as rt, make_client(rt) as http:
        async def locale(path: str, cookie: str | None = None) -> str:
            headers = {"accept-language": "de"}
            if cookie is not None:
                headers["cookie"] = f"mega_lang={cookie}"
            response = await http.get(path, headers=headers)
            return str(response.json()["data"]["locale"])

        assert await locale("/") == "de"
        assert await locale("/", cookie="ko") == "ko"
        assert await locale("/?lang=en", cookie="ko") == "en"
        assert await locale("/?lang=ko-KR") == "ko"
        # A value with no catalog (or no locale at all) falls through, never an error.
        assert await locale("/?lang=fr", cookie="ko") == "ko"
        assert await locale("/?lang=%3Cscript%3E", cookie="xx-!!") == "de"
        assert await locale("/?lang=") == "de"


async def test_names_and_sources_are_configurable(make_shop: MakeShop) -> None:
    root = make_shop("config = {'i18n': {'query_param': 'hl', 'cookie': 'lang', 'accept_language': False,"
                     " 'default_locale': 'ko'}}")
    async with running(root) as rt, make_client(rt) as http:
        async def locale(path: str, **kwargs: Any) -> str:
            return str((await http.get(path, **kwargs)).json()["data"]["locale"])

        assert await locale("/", headers={"accept-language": "de"}) == "ko"
        assert await locale("/?lang=de") == "ko"
        assert await locale("/?hl=de") == "de"
        assert await locale("/", headers={"cookie": "lang=en; mega_lang=de"}) == "en"


async def test_plurals_follow_each_locales_cldr_rule(make_shop: MakeShop) -> None:
    root = make_shop()
    async with running(root) as rt, make_client(rt) as http:
        async def items(lang: str, n: int) -> str:
            return str((await http.get(f"/?lang={lang}&n={n}")).json()["data"]["items"])

        assert [await items("en", n) for n in (0, 1, 2, 1234)] == [
            "0 items", "1 item", "2 items", "1,234 items"]
        assert [await items("ko", n) for n in (0, 1, 2, 1234)] == ["0개", "1개", "2개", "1,234개"]
        assert [await items("de", n) for n in (1, 1234)] == ["1 Artikel", "1.234 Artikel"]


@pytest.mark.parametrize(("lang", "number", "date", "total", "when"), [
    ("en", "1,234,567.5", "Dec 4, 2026", "Total: 1,234,567.5", "Placed on Dec 4, 2026"),
    ("ko", "1,234,567.5", "2026. 12. 4.", "합계: 1,234,567.5", "2026. 12. 4.에 주문"),
    ("de", "1.234.567,5", "04.12.2026", "Summe: 1.234.567,5", "Bestellt am 04.12.2026"),
])
async def test_numbers_and_dates_are_written_for_the_locale(
        make_shop: MakeShop, lang: str, number: str, date: str, total: str, when: str) -> None:
    data = await get(make_shop(), f"/?lang={lang}")
    assert (data["number"], data["date"], data["total"], data["when"]) == (number, date, total, when)


async def test_a_missing_translation_falls_back_to_the_default_locale_then_the_key(
        make_shop: MakeShop, caplog: Any) -> None:
    root = make_shop()
    with caplog.at_level(logging.WARNING, logger="mega"):
        async with running(root) as rt, make_client(rt) as http:
            async def t(query: str) -> str:
                return str((await http.get(f"/t?{query}")).json()["data"]["text"])

            assert await t("lang=ko&key=greeting.hello&name=Lee") == "안녕하세요, Lee님!"
            assert await t("lang=ko&key=only_en") == "English only"
            assert await t("lang=ko&key=nowhere.at_all&default=Hi+{name}&name=Lee") == "Hi Lee"
            assert await t("lang=ko&key=nowhere.at_all") == "nowhere.at_all"
    assert "i18n: key 'only_en' has no translation in 'ko': the 'en' text is used" in caplog.text


async def test_a_missing_key_warns_once_per_locale_for_the_process_life(make_shop: MakeShop,
                                                                        caplog: Any) -> None:
    root = make_shop()
    with caplog.at_level(logging.WARNING, logger="mega"):
        async with running(root) as rt, make_client(rt) as http:
            for lang in ("ko", "ko", "en", "en", "ko"):
                response = await http.get(f"/t?lang={lang}&key=nav.missing")
                assert response.json()["data"]["text"] == "nav.missing"
    warned = [r.getMessage() for r in caplog.records if "nav.missing" in r.getMessage()]
    assert warned == ["i18n: key 'nav.missing' is in no catalog of 'ko' or 'en': the key itself is used",
                      "i18n: key 'nav.missing' is in no catalog of 'en': the key itself is used"]


async def test_a_missing_value_leaves_its_slot_and_never_fails_the_page(make_shop: MakeShop,
                                                                        caplog: Any) -> None:
    root = make_shop()
    with caplog.at_level(logging.WARNING, logger="mega"):
        async with running(root) as rt, make_client(rt) as http:
            hello = await http.get("/t?lang=en&key=greeting.hello")
            items = await http.get("/t?lang=en&key=cart.items")
    assert hello.json()["data"]["text"] == "Hello, {name}!"
    assert items.json()["data"]["text"] == "{count} items"
    assert "i18n: key 'greeting.hello' no value for {name}" in caplog.text
    assert "i18n: key 'cart.items' is plural but no count= was given: its 'other' form is used" in caplog.text


async def test_the_locale_can_be_set_by_the_handler(make_shop: MakeShop) -> None:
    root = make_shop()
    async with running(root) as rt, make_client(rt) as http:
        chosen = await http.get("/choose?to=ko-KR", headers={"accept-language": "de"})
        refused = await http.get("/choose?to=fr")
    assert chosen.json()["data"] == {"locale": "ko", "hello": "안녕하세요, Kim님!"}
    assert refused.status_code == 500
    assert refused.json()["error"]["code"] == "i18n.unknown_locale"


async def test_responses_that_depend_on_headers_say_so_in_vary(make_shop: MakeShop) -> None:
    root = make_shop()
    async with running(root) as rt, make_client(rt) as http:
        negotiated = await http.get("/", headers={"accept-language": "ko"})
        by_url = await http.get("/?lang=ko")
        untranslated = await http.get("/plain", headers={"accept-language": "ko"})
    assert negotiated.headers.get_list("vary") == ["Cookie, Accept-Language"]
    assert "vary" not in by_url.headers
    assert "vary" not in untranslated.headers


async def test_off_passes_through_and_reads_no_catalog(make_shop: MakeShop) -> None:
    root = make_shop("config = {'i18n': {'enabled': False, 'default_locale': 'de'}}",
                     raw={"en.json": "{ not json"})
    async with running(root) as rt, make_client(rt) as http:
        key = await http.get("/t?key=greeting.hello&name=Kim", headers={"accept-language": "ko"})
        default = await http.get("/t?key=greeting.hello&default=Hi+{name}&name=Kim&lang=ko")
        page = await http.get("/?lang=ko&n=1234", headers={"accept-language": "ko"})
    assert key.json()["data"] == {"text": "greeting.hello", "locale": "de"}
    assert default.json()["data"] == {"text": "Hi Kim", "locale": "de"}
    data = page.json()["data"]
    assert (data["items"], data["number"], data["date"]) == ("cart.items", "1.234.567,5", "04.12.2026")
    assert "vary" not in page.headers


async def test_an_app_without_catalogs_passes_through(make_shop: MakeShop) -> None:
    data = await get(make_shop(catalogs={}), "/t?key=Hello+{name}&name=Kim",
                     headers={"accept-language": "ko"})
    assert data == {"text": "Hello Kim", "locale": "en"}
