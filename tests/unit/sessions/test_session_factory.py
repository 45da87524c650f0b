"""make_store: defaults, ttl inheritance, the file sweep default (injected only for `file`, only when
unset), the redis store from a cache alias, and clear errors for bad config."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mega.errors import MegaError
from mega.sessions.factory import DEFAULT_FILE_CLEANUP_INTERVAL, make_store
from mega.sessions.file import FileSessionStore
from mega.sessions.redis import RedisSessionStore
from mega.sessions.store import SessionStore

WHERE = "apps/web/app_config.py"
ROOT = Path("/nowhere/project")  # the factory never touches the disk


class Clients:
    """A stand-in for the app's cache lookup: records the aliases asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, alias: str) -> Any:
        self.asked.append(alias)
        if alias != "sessions":
            raise MegaError("cache.unknown_alias", f"no cache {alias!r}")
        return f"client:{alias}"


def build(cfg: Mapping[str, Any] | None, clients: Clients | None = None) -> SessionStore:
    return make_store(cfg, session_ttl=100, root=ROOT, cache_client=clients or Clients(), where=WHERE)


def refused(cfg: Any) -> MegaError:
    with pytest.raises(MegaError) as info:
        build(cfg)
    error = info.value
    assert error.code == "session.invalid_config"
    assert error.message.startswith(f"{WHERE}: session.store: "), error.message
    return error


# -- what you get -------------------------------------------------------------------------------------


@pytest.mark.parametrize("cfg", [None, {}, {"driver": "file"}])
def test_the_default_is_a_file_store_under_var_sessions(cfg: dict[str, Any] | None) -> None:
    store = build(cfg)
    assert isinstance(store, FileSessionStore)
    assert store.directory == ROOT / "var" / "sessions"
    assert store.ttl == 100.0
    assert store.cleanup_interval == DEFAULT_FILE_CLEANUP_INTERVAL == 3600.0
    assert not ROOT.exists()


def test_a_store_without_ttl_inherits_the_session_ttl() -> None:
    assert build({"driver": "file"}).ttl == 100.0
    assert build({"driver": "redis", "cache": "sessions"}).ttl == 100.0
    assert build({"driver": "file", "ttl": 5}).ttl == 5.0
    assert build({"driver": "redis", "cache": "sessions", "ttl": 0.5}).ttl == 0.5


def test_the_file_path_is_relative_to_the_project() -> None:
    store = build({"path": "tmp/sess"})
    assert isinstance(store, FileSessionStore) and store.directory == ROOT / "tmp" / "sess"


def test_the_sweep_interval_is_injected_only_when_unset() -> None:
    cases: list[tuple[dict[str, Any], float]] = [
        ({}, 3600.0), ({"cleanup_interval": 60}, 60.0), ({"cleanup_interval": 0.5}, 0.5),
        ({"cleanup_interval": 0}, 0.0),
    ]
    for cfg, interval in cases:
        store = build(cfg)
        assert isinstance(store, FileSessionStore) and store.cleanup_interval == interval, cfg
    # the store class's own default is no sweep: only the boot path asks for one
    assert FileSessionStore(ROOT, ttl=1).cleanup_interval == 0


def test_the_redis_store_gets_its_client_from_the_cache_alias() -> None:
    clients = Clients()
    store = build({"driver": "redis", "cache": "sessions"}, clients)
    assert isinstance(store, RedisSessionStore)
    assert clients.asked == ["sessions"] and store.client == "client:sessions"
    assert store.prefix == "mega:sess:"
    assert not hasattr(store, "cleanup_interval")  # no sweep for redis: keys expire on their own
    store = build({"driver": "redis", "cache": "sessions", "prefix": "shop:s:"})
    assert isinstance(store, RedisSessionStore) and store.prefix == "shop:s:"


def test_a_failing_cache_lookup_is_passed_on() -> None:
    with pytest.raises(MegaError) as info:
        build({"driver": "redis", "cache": "nope"})
    assert info.value.code == "cache.unknown_alias"


# -- what is refused ------------------------------------------------------------------------------------


@pytest.mark.parametrize("driver", ["mongo", "File", "", None, 3])
def test_an_unknown_driver_lists_the_drivers(driver: Any) -> None:
    error = refused({"driver": driver})
    assert f"unknown driver {driver!r}" in error.message and "file, redis" in error.message
    assert error.hint is not None and "file, redis" in error.hint


@pytest.mark.parametrize("cfg, key, guess", [
    ({"cleanup": 5}, "cleanup", "cleanup_interval"),
    ({"pth": "x"}, "pth", "path"),
    ({"driver": "redis", "cache": "sessions", "prefx": "a:"}, "prefx", "prefix"),
    ({"ttlMs": 5000}, "ttlMs", "ttl"),  # the seed's spelling
    ({"colour": "blue"}, "colour", None),
])
def test_an_unknown_key_suggests_the_nearest(cfg: dict[str, Any], key: str, guess: str | None) -> None:
    error = refused(cfg)
    assert f"unknown key {key!r}" in error.message
    if guess is None:
        assert "did you mean" not in error.message
    else:
        assert f"(did you mean {guess!r}?)" in error.message
    assert error.hint is not None and "keys for" in error.hint


@pytest.mark.parametrize("cfg, key", [
    ({"driver": "file", "cache": "sessions"}, "cache"),
    ({"driver": "file", "prefix": "x:"}, "prefix"),
    ({"driver": "redis", "cache": "sessions", "cleanup_interval": 0}, "cleanup_interval"),
    ({"driver": "redis", "cache": "sessions", "path": "x"}, "path"),
])
def test_a_key_of_the_other_driver_is_unknown(cfg: dict[str, Any], key: str) -> None:
    assert f"unknown key {key!r} for driver {cfg['driver']!r}" in refused(cfg).message


@pytest.mark.parametrize("ttl", [0, -5, math.nan, math.inf, "60", True, None])
def test_a_bad_ttl_is_refused(ttl: Any) -> None:
    assert "ttl must be a positive number of seconds" in refused({"ttl": ttl}).message


def test_a_bad_session_ttl_is_refused_when_inherited() -> None:
    with pytest.raises(MegaError) as info:
        make_store(None, session_ttl=0, root=ROOT, cache_client=Clients(), where=WHERE)
    assert info.value.code == "session.invalid_config" and "ttl" in info.value.message


@pytest.mark.parametrize("interval", [-1, math.nan, math.inf, "1h", True, None])
def test_a_bad_cleanup_interval_is_refused(interval: Any) -> None:
    assert "cleanup_interval must be seconds >= 0" in refused({"cleanup_interval": interval}).message


@pytest.mark.parametrize("cfg, fragment", [
    ({"path": ""}, "path must be a directory"),
    ({"path": 5}, "path must be a directory"),
    ({"driver": "redis"}, "needs 'cache'"),
    ({"driver": "redis", "cache": ""}, "needs 'cache'"),
    ({"driver": "redis", "cache": 5}, "needs 'cache'"),
    ({"driver": "redis", "cache": "sessions", "prefix": ""}, "prefix must be a non-empty string"),
    ({"driver": "redis", "cache": "sessions", "prefix": 5}, "prefix must be a non-empty string"),
])
def test_bad_driver_options_are_refused(cfg: dict[str, Any], fragment: str) -> None:
    assert fragment in refused(cfg).message


@pytest.mark.parametrize("cfg", ["file", ["driver"], 5])
def test_a_store_config_that_is_not_a_dict_is_refused(cfg: Any) -> None:
    assert "must be a dict" in refused(cfg).message


def test_nothing_is_built_when_the_config_is_bad() -> None:
    clients = Clients()
    with pytest.raises(MegaError):
        make_store({"driver": "redis", "cache": "sessions", "prefx": "a:"}, session_ttl=100, root=ROOT,
                   cache_client=clients, where=WHERE)
    assert clients.asked == []  # refused before the cache was looked up
