"""Which lock an app gets: the `lock` section, app-over-global layering, and the problems of bad config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mega.config import ConfigError, ConfigProblem, ProjectConfig, load_project_config
from mega.lock._manager import DEFAULT_PREFIX, LockManager
from mega.lock._settings import LockSettings
from mega.testing import write_project

REDIS = "{'webLock': {'url': 'redis://127.0.0.1:6379/0'}, 'other': {'url': 'redis://127.0.0.1:6379/1'}}"
WEB = "apps/web/app_config.py"
GLOBAL = "mega_config.py"


def load(tmp_path: Path, lock: Any, apps: dict[str, Any] | None = None, redis: str = REDIS) -> ProjectConfig:
    files = {"mega_config.py": f"config = {{'services': {{'redis': {redis}}}, 'lock': {lock!r}}}\n"}
    for name, app_lock in (apps or {"web": None}).items():
        text = "config = {}" if app_lock is None else f"config = {{'lock': {app_lock!r}}}"
        files[f"apps/{name}/app_config.py"] = text + "\n"
    return load_project_config(write_project(tmp_path, files), environ={})


def problems(tmp_path: Path, lock: Any, apps: dict[str, Any] | None = None,
             redis: str = REDIS) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, lock, apps, redis)
    return info.value.problems


def one(tmp_path: Path, lock: Any, apps: dict[str, Any] | None = None, redis: str = REDIS) -> ConfigProblem:
    found = problems(tmp_path, lock, apps, redis)
    assert len(found) == 1, [p.message for p in found]
    return found[0]


async def _no_client(alias: str) -> Any:
    raise AssertionError(f"no client expected, asked for {alias}")


def test_absent_config_is_memory_with_the_defaults(tmp_path: Path) -> None:
    project = load(tmp_path, None)
    memory = project.settings["lock"]
    assert memory == LockSettings("memory", None, DEFAULT_PREFIX, 10.0, 5.0, "mega_config.py")
    assert project.apps["web"].settings["lock"] is memory


def test_a_redis_alias_means_redis_and_durations_take_units(tmp_path: Path) -> None:
    got = load(tmp_path, {"redis": "webLock", "ttl": "3s", "wait": "250ms"}).settings["lock"]
    assert (got.driver, got.redis, got.ttl, got.wait) == ("redis", "webLock", 3.0, 0.25)


def test_driver_is_a_name_in_any_case(tmp_path: Path) -> None:
    assert load(tmp_path, {"driver": "MEMORY"}).settings["lock"].driver == "memory"


def test_driver_redis_takes_the_only_redis_connection(tmp_path: Path) -> None:
    only = "{'locks': {'url': 'redis://127.0.0.1:6379/0'}}"
    assert load(tmp_path / "a", {"driver": "redis"}, redis=only).settings["lock"].redis == "locks"
    problem = one(tmp_path / "b", {"driver": "redis"})
    assert (problem.code, problem.key, problem.file) == ("config.invalid_value", "lock.driver", GLOBAL)
    assert problem.message == "mega_config.py: lock.driver is 'redis' but lock.redis names no connection"
    assert problem.hint == "add 'redis': '<alias of services.redis>' (declared: other, webLock)"


def test_an_unknown_alias_names_it_and_the_declared_ones(tmp_path: Path) -> None:
    problem = one(tmp_path, {"redis": "weblock"})
    assert (problem.code, problem.key, problem.file) == ("config.unknown_alias", "lock.redis", GLOBAL)
    assert problem.message == ("mega_config.py: lock.redis names 'weblock', which is not declared in "
                               "services.redis (declared: other, webLock)")
    assert problem.hint is not None and problem.hint.startswith("did you mean 'webLock'? declare it in")


@pytest.mark.parametrize(("cfg", "code", "key", "message"), [
    ([], "config.invalid_type", "lock", "lock must be a dict, got [] (list)"),
    ({"driver": "swarm"}, "config.invalid_value", "lock.driver",
     "lock.driver must be one of memory, redis, cluster, got 'swarm'"),
    ({"driver": "cluster", "redis": "webLock"}, "config.invalid_value", "lock.redis",
     "lock.redis names 'webLock' but lock.driver is 'cluster'"),
    ({"driver": "memory", "redis": "webLock"}, "config.invalid_value", "lock.redis",
     "lock.redis names 'webLock' but lock.driver is 'memory'"),
    ({"ttl": 0}, "config.invalid_value", "lock.ttl",
     "lock.ttl must be a duration > 0 (seconds, or a string like '30s', '5m', '1h'), got 0"),
    ({"ttl": "10 parsecs"}, "config.invalid_value", "lock.ttl",
     "lock.ttl must be a duration > 0 (seconds, or a string like '30s', '5m', '1h'), got '10 parsecs'"),
    ({"wait": -1}, "config.invalid_value", "lock.wait",
     "lock.wait must be a duration >= 0 (seconds, or a string like '30s', '5m', '1h'), got -1"),
    ({"prefix": 3}, "config.invalid_type", "lock.prefix",
     "lock.prefix must be a non-empty string, got 3 (int)"),
])
def test_bad_config_names_the_file_and_the_key(tmp_path: Path, cfg: Any, code: str, key: str,
                                               message: str) -> None:
    problem = one(tmp_path, cfg)
    assert (problem.code, problem.key, problem.file) == (code, key, "mega_config.py")
    assert problem.message == f"mega_config.py: {message}"


def test_unknown_key_gets_a_did_you_mean(tmp_path: Path) -> None:
    problem = one(tmp_path, {"cache": "webLock"})  # the key before `redis` replaced it
    assert (problem.code, problem.key) == ("config.unknown_key", "lock.cache")
    assert problem.message == "unknown key 'lock.cache' in mega_config.py"
    problem = one(tmp_path / "b", {"redsi": "webLock"})
    assert problem.message == "unknown key 'lock.redsi' in mega_config.py — did you mean 'lock.redis'?"
    assert problem.hint == "valid keys under lock: driver, prefix, redis, ttl, wait"


def test_app_keys_are_laid_over_the_global_ones(tmp_path: Path) -> None:
    project = load(tmp_path, {"redis": "webLock", "ttl": 20},
                   {"web": {"wait": 1}, "admin": {"driver": "memory"}, "api": {"redis": "other"},
                    "none": None})
    apps = {name: app.settings["lock"] for name, app in project.apps.items()}
    assert (apps["web"].driver, apps["web"].redis, apps["web"].ttl, apps["web"].wait) == ("redis", "webLock",
                                                                                          20.0, 1.0)
    assert (apps["admin"].driver, apps["admin"].redis, apps["admin"].ttl) == ("memory", None, 20.0)
    assert apps["api"].redis == "other" and apps["api"].file == "apps/api/app_config.py"
    assert apps["none"] is project.settings["lock"]


def test_an_app_problem_names_the_app_file(tmp_path: Path) -> None:
    problem = one(tmp_path, None, {"web": {"redis": "nope"}})
    assert (problem.key, problem.file) == ("lock.redis", WEB)
    assert problem.message.startswith(f"{WEB}: lock.redis names 'nope'")


def test_a_bad_inherited_key_is_one_problem_of_the_global_file(tmp_path: Path) -> None:
    found = problems(tmp_path, {"redis": "nope"}, {"web": {"ttl": 1}, "admin": {"wait": 2}})
    assert [(p.code, p.key, p.file) for p in found] == [("config.unknown_alias", "lock.redis", GLOBAL)]


async def test_each_app_gets_its_own_memory_lock() -> None:
    manager = LockManager(_no_client)
    web = await manager.open("web")
    admin = await manager.open("admin")
    assert web is not admin and web.driver == admin.driver == "memory"
    assert web.name == "app 'web'"
    a = await web.acquire("shared:key", wait=0)
    b = await admin.acquire("shared:key", wait=0)  # same key, other app: no collision
    await manager.close()
    assert a.released and b.released and web.closed and admin.closed
