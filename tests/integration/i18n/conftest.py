"""A booted project with en, ko and de catalogs, and a route that shows what ctx gives."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mega.testing import write_project

ROUTES = """
    import datetime

    async def page(req, reply, ctx):
        count = int(req.query.get("n", "1"))
        return {
            "locale": ctx.locale,
            "hello": ctx.t("greeting.hello", name="Kim"),
            "items": ctx.t("cart.items", count=count),
            "number": ctx.format_number(1234567.5),
            "date": ctx.format_date(datetime.date(2026, 12, 4)),
            "total": ctx.t("cart.total", amount=1234567.5),
            "when": ctx.t("order.placed", day=datetime.date(2026, 12, 4)),
        }

    async def one(req, reply, ctx):
        values = dict(req.query)
        key, default = values.pop("key"), values.pop("default", None)
        return {"text": ctx.t(key, default, **values), "locale": ctx.locale}

    async def plain(req, reply, ctx):
        return {"ok": "no translation asked"}

    async def choose(req, reply, ctx):
        ctx.locale = req.query["to"]
        return {"locale": ctx.locale, "hello": ctx.t("greeting.hello", name="Kim")}

    def routes(router):
        router.get("/", page)
        router.get("/t", one)
        router.get("/plain", plain)
        router.get("/choose", choose)
"""

CATALOGS: dict[str, dict[str, Any]] = {
    "en": {
        "greeting": {"hello": "Hello, {name}!"},
        "cart": {"items": {"one": "{count} item", "other": "{count} items"},
                 "total": "Total: {amount}"},
        "order": {"placed": "Placed on {day}"},
        "only_en": "English only",
    },
    "ko": {
        "greeting": {"hello": "안녕하세요, {name}님!"},
        "cart": {"items": {"other": "{count}개"}, "total": "합계: {amount}"},
        "order": {"placed": "{day}에 주문"},
    },
    "de": {
        "greeting": {"hello": "Hallo, {name}!"},
        "cart": {"items": {"one": "{count} Artikel", "other": "{count} Artikel"},
                 "total": "Summe: {amount}"},
        "order": {"placed": "Bestellt am {day}"},
    },
}

MakeShop = Callable[..., Path]


@pytest.fixture
def make_shop(tmp_path: Path) -> MakeShop:
    """`make_shop(app_config=..., catalogs=...)` -> the root of a one-app project with those catalogs."""

    def make(app_config: str = "config = {}", catalogs: dict[str, Any] | None = None,
             raw: dict[str, str] | None = None) -> Path:
        files = {"mega_config.py": "config = {}", "apps/main/app_config.py": app_config,
                 "apps/main/routes/pages.py": ROUTES}
        for locale, data in (CATALOGS if catalogs is None else catalogs).items():
            files[f"apps/main/locales/server/{locale}.json"] = json.dumps(data, ensure_ascii=False, indent=2)
        for name, text in (raw or {}).items():
            files[f"apps/main/locales/server/{name}"] = text
        return write_project(tmp_path / "shop", files)

    return make
