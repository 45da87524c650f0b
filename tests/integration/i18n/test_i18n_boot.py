"""Catalogs are read and checked once at boot: every problem of every catalog fails boot at once
(as config problems, exit 2 from the CLI), naming file and line or key; differing key sets warn."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mega.boot.stages import BootError
from mega.config import ConfigError
from mega.testing import boot_for_test, running
from tests.integration.i18n.conftest import CATALOGS, MakeShop

BROKEN = '{\n  "greeting": {\n    "hello": "Hello"\n    "bye": "Bye"\n  }\n}\n'


async def problems_of(root: Path) -> list[tuple[str, str, str, str]]:
    with pytest.raises(BootError) as caught:
        await boot_for_test(root)
    assert caught.value.stage == "i18n"
    error = caught.value.original
    assert isinstance(error, ConfigError)
    return [(p.code, p.key, p.file, p.message) for p in error.problems]


async def test_invalid_json_fails_boot_naming_file_and_line(make_shop: MakeShop) -> None:
    root = make_shop(raw={"ko.json": BROKEN})
    assert await problems_of(root) == [(
        "i18n.invalid_json", "", "apps/main/locales/server/ko.json",
        "apps/main/locales/server/ko.json: invalid JSON at line 4, column 5: Expecting ',' delimiter")]


def test_the_cli_reports_it_as_a_config_problem_and_exits_2(make_shop: MakeShop) -> None:
    root = make_shop(raw={"ko.json": BROKEN})
    mega = Path(sys.executable).parent / "mega"
    result = subprocess.run([str(mega), "routes"], cwd=root, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines()[:3] == [
        "error: boot failed at stage 'i18n': 1 config problem",
        "  apps/main/locales/server/ko.json: invalid JSON at line 4, column 5: Expecting ',' delimiter",
        "    hint: fix the JSON syntax there (a missing comma or quote, a trailing comma)",
    ]


async def test_every_bad_entry_is_named_by_its_key(make_shop: MakeShop) -> None:
    bad = {
        "title": "ok",
        "nav": {"home": ["Home"], "count": 3, "gone": None},
        "cart": {"items": {"one": "{count} item"}, "sizes": {"one": "x", "other": 2}},
        "a.b": "dots join keys",
        "price": "{amount:money}",
        "total": "{amount:currency}",
    }
    root = make_shop(catalogs={"en": bad})
    file = "apps/main/locales/server/en.json"
    found = await problems_of(root)
    assert [(code, key) for code, key, _, _ in found] == [
        ("i18n.invalid_catalog", "nav.home"), ("i18n.invalid_catalog", "nav.count"),
        ("i18n.invalid_catalog", "nav.gone"), ("i18n.invalid_catalog", "cart.items"),
        ("i18n.invalid_catalog", "cart.sizes.other"), ("i18n.invalid_catalog", "a.b"),
        ("i18n.invalid_catalog", "price"), ("i18n.invalid_catalog", "total"),
    ]
    messages = [message for _, _, _, message in found]
    assert all(message.startswith(f"{file}: ") for message in messages)
    assert messages[0] == (f"{file}: key 'nav.home' is a list: a catalog holds strings, nested objects and "
                           "plural objects")
    assert messages[1].startswith(f"{file}: key 'nav.count' is a number: ")
    assert messages[2].startswith(f"{file}: key 'nav.gone' is null: ")
    assert messages[3] == f"{file}: plural key 'cart.items' has no 'other' form"
    assert messages[6] == f"{file}: key 'price' uses the unknown format '{{amount:money}}'"


async def test_a_catalog_that_is_not_an_object_or_not_a_locale_fails_boot(make_shop: MakeShop) -> None:
    root = make_shop(catalogs={"en": {"a": "A"}}, raw={"ko.json": '["a"]', "english.json": "{}",
                                                       "pt_BR.json": "{}", "pt-BR.json": "{}"})
    assert [(code, file) for code, _, file, _ in await problems_of(root)] == [
        ("i18n.invalid_locale", "apps/main/locales/server/english.json"),
        ("i18n.invalid_catalog", "apps/main/locales/server/ko.json"),
        ("i18n.duplicate_locale", "apps/main/locales/server/pt_BR.json"),
    ]


async def test_the_default_locale_needs_a_catalog(make_shop: MakeShop) -> None:
    root = make_shop("config = {'i18n': {'default_locale': 'fr'}}")
    with pytest.raises(BootError) as caught:
        await boot_for_test(root)
    error = caught.value.original
    assert isinstance(error, ConfigError)
    problem = error.problems[0]
    assert (problem.code, problem.key, problem.file) == (
        "i18n.no_default_catalog", "i18n.default_locale", "apps/main/app_config.py")
    assert problem.hint == ("add apps/main/locales/server/fr.json, or set i18n.default_locale to one of: "
                            "de, en, ko")


async def test_catalogs_whose_keys_differ_warn_at_boot_naming_the_keys(make_shop: MakeShop,
                                                                       caplog: Any) -> None:
    catalogs = json.loads(json.dumps(CATALOGS))
    del catalogs["de"]["cart"]["total"]
    catalogs["ko"]["extra"] = {"one": "하나"} | {"other": "여럿"}
    root = make_shop(catalogs=catalogs)
    with caplog.at_level(logging.WARNING, logger="mega"):
        async with running(root):
            pass
    warnings = sorted(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert warnings == [
        "i18n: apps/main/locales/server/de.json lacks 3 keys other catalogs have (de falls back to 'en'): "
        "cart.total, extra, only_en",
        "i18n: apps/main/locales/server/en.json lacks 1 key other catalogs have (the default locale: "
        "they show as the key): extra",
        "i18n: apps/main/locales/server/ko.json lacks 1 key other catalogs have (ko falls back to 'en'): "
        "only_en",
    ]
