"""Which lock an app gets: `lock` config parsing, app-over-global layering, and the errors of bad config."""

from __future__ import annotations

from typing import Any

import pytest

from mega.lock.contract import LockError
from mega.lock.manager import DEFAULT_PREFIX, LockManager, parse_spec

CACHES = {"webLock": "redis", "other": "redis"}  # services.redis aliases


def spec(cfg: Any, caches: dict[str, str] = CACHES) -> Any:
    return parse_spec(cfg, where="mega_config.py", caches=caches)


def error(cfg: Any, caches: dict[str, str] = CACHES) -> LockError:
    with pytest.raises(LockError) as info:
        spec(cfg, caches)
    return info.value


async def _no_client(alias: str) -> Any:
    raise AssertionError(f"no client expected, asked for {alias}")


def test_absent_config_is_none_and_memory_is_the_default() -> None:
    assert spec(None) is None
    memory = spec({})
    assert (memory.driver, memory.cache, memory.prefix, memory.ttl, memory.wait) == (
        "memory", None, DEFAULT_PREFIX, 10.0, 5.0)


def test_a_redis_alias_means_redis() -> None:
    got = spec({"redis": "webLock", "ttl": 3, "wait": 0})
    assert (got.driver, got.cache, got.ttl, got.wait) == ("redis", "webLock", 3.0, 0.0)


def test_driver_redis_takes_the_only_redis_connection() -> None:
    assert spec({"driver": "redis"}, {"locks": "redis"}).cache == "locks"
    err = error({"driver": "redis"})
    assert err.code == "lock.invalid_config" and "webLock, other" in (err.hint or "")


def test_an_unknown_alias_names_it_and_the_declared_ones() -> None:
    err = error({"redis": "weblock"})
    assert err.code == "lock.unknown_cache"
    assert "lock.redis 'weblock' is not declared in services.redis (declared: webLock, other)" in err.message
    assert "did you mean 'webLock'" in (err.hint or "") and "services = {'redis':" in (err.hint or "")
    assert err.details["declared"] == ["webLock", "other"]


@pytest.mark.parametrize(("cfg", "words"), [
    ([], "must be a dict"),
    ({"redsi": "webLock"}, "unknown key 'redsi' (did you mean 'redis'?)"),
    ({"driver": "cluster"}, "unknown driver 'cluster'"),
    ({"driver": "memory", "redis": "webLock"}, "'driver': 'memory' with a 'redis' alias"),
    ({"ttl": 0}, "ttl must be a positive number"),
    ({"ttl": "10"}, "ttl must be a positive number"),
    ({"wait": -1}, "wait must be a number of seconds >= 0"),
    ({"prefix": 3}, "prefix must be a string"),
])
def test_bad_config_names_the_file_and_the_problem(cfg: Any, words: str) -> None:
    err = error(cfg)
    assert err.code == "lock.invalid_config"
    assert err.message.startswith("mega_config.py: lock: ") and words in err.message, err.message


def test_app_keys_are_laid_over_the_global_ones() -> None:
    manager = LockManager({"redis": "webLock", "ttl": 20}, CACHES, _no_client)
    assert manager.fallback.cache == "webLock"
    kept = manager.spec_for("web", {"wait": 1})
    assert (kept.driver, kept.cache, kept.ttl, kept.wait) == ("redis", "webLock", 20.0, 1.0)
    own = manager.spec_for("admin", {"driver": "memory"})
    assert (own.driver, own.cache, own.ttl) == ("memory", None, 20.0)
    other = manager.spec_for("api", {"redis": "other"})
    assert other.cache == "other" and other.where == "apps/api/app_config.py"
    assert manager.spec_for("none", None) is manager.fallback


def test_an_app_error_names_the_app_file() -> None:
    manager = LockManager(None, CACHES, _no_client)
    with pytest.raises(LockError) as info:
        manager.spec_for("web", {"redis": "nope"})
    assert info.value.message.startswith("apps/web/app_config.py: lock.redis 'nope'")


async def test_each_app_gets_its_own_memory_lock() -> None:
    manager = LockManager(None, {}, _no_client)
    web = await manager.open("web")
    admin = await manager.open("admin")
    assert web is not admin and web.driver == admin.driver == "memory"
    assert web.name == "app 'web'"
    a = await web.acquire("shared:key", wait=0)
    b = await admin.acquire("shared:key", wait=0)  # same key, other app: no collision
    await manager.close()
    assert a.released and b.released and web.closed and admin.closed
