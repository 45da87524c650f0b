"""AdapterManager: building from `services`, defaults, lookup errors, connecting all at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mega.adapters import registry
from mega.adapters._manager import AdapterManager
from mega.adapters.base import Adapter
from mega.cache.file import FileCache
from mega.cache.memory import MemoryCache
from mega.errors import MegaError


class Flaky(Adapter):
    """A test driver: connects unless told to fail; records what happened."""

    family = "cache"
    driver = "flaky"
    events: list[str] = []

    async def _connect(self) -> Any:
        if self.options.get("fail"):
            raise ConnectionRefusedError(f"refused by {self.target()}")
        self.events.append(f"connect {self.alias}")
        return object()

    async def _disconnect(self, native: Any) -> None:
        self.events.append(f"disconnect {self.alias}")


@pytest.fixture(autouse=True)
def flaky_driver() -> Any:
    registry.register_driver("cache", "flaky", Flaky)
    Flaky.events = []
    yield
    registry._classes.pop(("cache", "flaky"), None)


def test_one_adapter_per_declared_alias(tmp_path: Path) -> None:
    manager = AdapterManager({"caches": {"rate": {"driver": "memory", "max_entries": 5},
                                         "files": {"driver": "file", "path": "c"}}}, root=tmp_path)
    rate = manager.cache("rate")
    assert isinstance(rate, MemoryCache) and rate.alias == "rate" and rate.max_entries == 5
    files = manager.cache("files")
    assert isinstance(files, FileCache) and files.root == tmp_path.resolve()
    assert files.target() == str(tmp_path.resolve() / "c")
    assert manager.aliases("cache") == ["rate", "files"]
    assert "driver" not in rate.options


def test_the_default_cache_is_memory_when_none_is_declared(tmp_path: Path) -> None:
    manager = AdapterManager({}, root=tmp_path)
    cache = manager.cache()
    assert isinstance(cache, MemoryCache) and cache.alias == "default"
    assert manager.cache("default") is cache


@pytest.mark.parametrize(("declared", "default"), [
    (["a", "primary", "b"], "primary"),
    (["a", "default", "b"], "default"),
    (["a", "default", "primary"], "primary"),
    (["b", "a"], "b"),
])
def test_the_default_alias(tmp_path: Path, declared: list[str], default: str) -> None:
    manager = AdapterManager({"caches": {name: {"driver": "memory"} for name in declared}}, root=tmp_path)
    assert manager.cache().alias == default
    assert manager.aliases("cache") == declared  # nothing implicit once one is declared


def test_an_unknown_alias_lists_the_declared_ones(tmp_path: Path) -> None:
    manager = AdapterManager({"caches": {"rate": {"driver": "memory"}, "demo": {"driver": "memory"}}},
                             root=tmp_path)

    class App:
        name = "web"

    with pytest.raises(MegaError) as info:
        manager.cache("rates", app=App())
    err = info.value
    assert err.code == "adapter.not_found" and err.status == 500
    assert "'rates'" in err.message and "rate, demo" in err.message and "app 'web'" in err.message
    assert err.details == {"group": "caches", "alias": "rates", "declared": ["rate", "demo"]}
    assert err.hint is not None and "did you mean 'rate'" in err.hint and "services.caches" in err.hint


def test_no_bus_is_declared_by_default(tmp_path: Path) -> None:
    manager = AdapterManager({}, root=tmp_path)
    with pytest.raises(MegaError) as info:
        manager.bus()
    assert info.value.code == "adapter.not_found"
    assert info.value.details == {"group": "buses", "alias": None, "declared": []}


def test_an_unknown_driver_names_the_entry(tmp_path: Path) -> None:
    with pytest.raises(MegaError) as info:
        AdapterManager({"caches": {"rate": {"driver": "redsi"}}}, root=tmp_path)
    err = info.value
    assert err.code == "adapter.unknown_driver"
    assert "services.caches.rate" in err.message and "redsi" in err.message
    assert err.hint is not None and "redis" in err.hint


def test_a_driver_that_cannot_be_imported_names_the_entry(tmp_path: Path) -> None:
    registry.register_builtin("cache", "ghost", "mega_no_such_module:Ghost")
    try:
        with pytest.raises(MegaError) as info:
            AdapterManager({"caches": {"g": {"driver": "ghost"}}}, root=tmp_path)
    finally:
        registry._BUILTIN.pop(("cache", "ghost"))
    assert info.value.code == "adapter.driver_unavailable"
    assert "services.caches.g" in info.value.message and "mega_no_such_module" in info.value.message


def test_bad_driver_options_fail_when_the_manager_is_built(tmp_path: Path) -> None:
    with pytest.raises(MegaError) as info:
        AdapterManager({"caches": {"rate": {"driver": "memory", "max_entries": -1}}}, root=tmp_path)
    assert info.value.code == "cache.invalid_option" and "'rate'" in info.value.message


async def test_connect_all_and_disconnect_all(tmp_path: Path) -> None:
    manager = AdapterManager({"caches": {"a": {"driver": "flaky"}, "b": {"driver": "flaky"}}}, root=tmp_path)
    await manager.connect_all()
    assert all(a.connected for a in manager.all())
    assert sorted(Flaky.events) == ["connect a", "connect b"]
    await manager.disconnect_all()
    assert not any(a.connected for a in manager.all())
    await manager.disconnect_all()  # twice is harmless
    assert sorted(Flaky.events) == ["connect a", "connect b", "disconnect a", "disconnect b"]


async def test_a_failed_connect_closes_the_others_and_names_alias_and_host(tmp_path: Path) -> None:
    manager = AdapterManager({"caches": {
        "ok": {"driver": "flaky"},
        "bad": {"driver": "flaky", "fail": True, "url": "redis://admin:hunter2@cache.internal:6380/1"},
        "ok2": {"driver": "flaky"},
    }}, root=tmp_path)
    with pytest.raises(MegaError) as info:
        await manager.connect_all()
    err = info.value
    assert err.code == "adapter.connect_failed"
    assert "'bad'" in err.message and "cache.internal:6380" in err.message
    assert "hunter2" not in f"{err} {err.details}"
    assert not any(a.connected for a in manager.all())
    assert sorted(Flaky.events) == ["connect ok", "connect ok2", "disconnect ok", "disconnect ok2"]


async def test_the_embedded_database(tmp_path: Path) -> None:
    manager = AdapterManager({}, root=tmp_path)
    db = manager.db()
    assert db.alias == "default" and db.driver == "sqlite"
    assert manager.aliases("db") == ["default"]
    await manager.connect_all()
    try:
        assert (tmp_path / "var" / "mega.sqlite3").exists()
        assert await db.health()
    finally:
        await manager.disconnect_all()


def test_declared_databases_replace_the_embedded_one(tmp_path: Path) -> None:
    manager = AdapterManager({"dbs": {"main": {"driver": "sqlite", "path": "var/main.db"}}}, root=tmp_path)
    assert manager.aliases("db") == ["main"]
    assert manager.db().alias == "main"
    with pytest.raises(MegaError) as info:
        manager.db("default")
    assert info.value.details["declared"] == ["main"]


def test_all_and_stats(tmp_path: Path) -> None:
    manager = AdapterManager({"caches": {"c": {"driver": "memory"}}}, root=tmp_path)
    assert [a.family for a in manager.all()][-1] == "cache"
    assert {"alias": "c", "family": "cache", "driver": "memory"}.items() <= manager.stats()[-1].items()
