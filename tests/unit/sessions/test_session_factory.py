"""make_store: the built-in file cache by default (under var/sessions, hourly sweep), a named cache
with `cache`, ttl inheritance, and clear errors for bad config."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from mega.cache.contract import Cache
from mega.cache.file import FileCache
from mega.cache.memory import MemoryCache
from mega.errors import MegaError
from mega.sessions.cache import CacheSessionStore
from mega.sessions.factory import DEFAULT_FILE_CLEANUP_INTERVAL, make_store

WHERE = "apps/web/app_config.py"
ROOT = Path("/nowhere/project")  # the factory never touches the disk


class Caches:
    """A stand-in for the app's cache lookup: records the aliases asked for."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.sessions = MemoryCache("sessions", {})

    def __call__(self, alias: str) -> Cache:
        self.asked.append(alias)
        if alias != "sessions":
            raise MegaError("adapter.not_found", f"no cache named {alias!r}")
        return self.sessions


def build(cfg: Mapping[str, Any] | None, caches: Caches | None = None) -> CacheSessionStore:
    store = make_store(cfg, session_ttl=100, root=ROOT, cache_for=caches or Caches(), where=WHERE)
    assert isinstance(store, CacheSessionStore)
    return store


def refused(cfg: Any) -> MegaError:
    with pytest.raises(MegaError) as info:
        build(cfg)
    error = info.value
    assert error.code == "session.invalid_config"
    assert error.message.startswith(f"{WHERE}: session.store: "), error.message
    return error


# -- what you get -------------------------------------------------------------------------------------


@pytest.mark.parametrize("cfg", [None, {}])
def test_the_default_is_an_owned_file_cache_under_var_sessions(cfg: dict[str, Any] | None) -> None:
    store = build(cfg)
    assert isinstance(store.cache, FileCache) and store.owns and store.driver == "file"
    assert store.cache.target() == str(ROOT / "var" / "sessions")
    assert store.cache.sweep_interval == DEFAULT_FILE_CLEANUP_INTERVAL == 3600.0
    assert store.ttl == 100.0 and store.prefix == "mega:sess:"
    assert not ROOT.exists()


def test_a_store_without_ttl_inherits_the_session_ttl() -> None:
    assert build({}).ttl == 100.0
    assert build({"cache": "sessions"}).ttl == 100.0
    assert build({"ttl": 5}).ttl == 5.0
    assert build({"cache": "sessions", "ttl": 0.5}).ttl == 0.5


def test_the_file_path_is_relative_to_the_project_and_the_sweep_is_configurable() -> None:
    store = build({"path": "tmp/sess", "cleanup_interval": 0})
    assert store.cache.target() == str(ROOT / "tmp" / "sess")
    assert isinstance(store.cache, FileCache) and store.cache.sweep_interval == 0.0


def test_a_named_cache_is_used_as_it_is_and_not_owned() -> None:
    caches = Caches()
    store = build({"cache": "sessions", "prefix": "shop:s:"}, caches)
    assert caches.asked == ["sessions"] and store.cache is caches.sessions
    assert not store.owns and store.prefix == "shop:s:" and store.driver == "memory"


def test_an_undeclared_cache_is_passed_on() -> None:
    with pytest.raises(MegaError) as info:
        build({"cache": "nope"})
    assert info.value.code == "adapter.not_found"


# -- what is refused ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cfg", "key", "guess"), [
    ({"cleanup": 5}, "cleanup", "cleanup_interval"),
    ({"pth": "x"}, "pth", "path"),
    ({"cache": "sessions", "prefx": "a:"}, "prefx", "prefix"),
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
    assert error.hint is not None and "keys: cache, ttl, prefix, path, cleanup_interval" in error.hint


def test_the_old_driver_key_says_sessions_live_in_a_cache() -> None:
    error = refused({"driver": "redis", "cache": "sessions"})
    assert "unknown key 'driver'" in error.message and "name it with 'cache'" in (error.hint or "")


@pytest.mark.parametrize("key", ["path", "cleanup_interval"])
def test_file_options_with_a_named_cache_are_refused(key: str) -> None:
    error = refused({"cache": "sessions", key: 0})
    assert f"{key!r} applies to the built-in file cache, not to cache 'sessions'" in error.message


@pytest.mark.parametrize("ttl", [0, -5, math.nan, math.inf, "60", True, None])
def test_a_bad_ttl_is_refused(ttl: Any) -> None:
    assert "ttl must be a positive number of seconds" in refused({"ttl": ttl}).message


def test_a_bad_session_ttl_is_refused_when_inherited() -> None:
    with pytest.raises(MegaError) as info:
        make_store(None, session_ttl=0, root=ROOT, cache_for=Caches(), where=WHERE)
    assert info.value.code == "session.invalid_config" and "ttl" in info.value.message


@pytest.mark.parametrize("interval", [-1, math.nan, math.inf, "1h", True, None])
def test_a_bad_cleanup_interval_is_refused(interval: Any) -> None:
    assert "cleanup_interval must be seconds >= 0" in refused({"cleanup_interval": interval}).message


@pytest.mark.parametrize(("cfg", "fragment"), [
    ({"path": ""}, "path must be a directory"),
    ({"path": 5}, "path must be a directory"),
    ({"cache": ""}, "cache must be the alias of a services.caches entry"),
    ({"cache": 5}, "cache must be the alias of a services.caches entry"),
    ({"cache": "sessions", "prefix": 5}, "prefix must be a string"),
])
def test_bad_options_are_refused(cfg: dict[str, Any], fragment: str) -> None:
    assert fragment in refused(cfg).message


@pytest.mark.parametrize("cfg", ["file", ["driver"], 5])
def test_a_store_config_that_is_not_a_dict_is_refused(cfg: Any) -> None:
    assert "must be a dict" in refused(cfg).message


def test_nothing_is_looked_up_when_the_config_is_bad() -> None:
    caches = Caches()
    with pytest.raises(MegaError):
        make_store({"cache": "sessions", "prefx": "a:"}, session_ttl=100, root=ROOT, cache_for=caches,
                   where=WHERE)
    assert caches.asked == []  # refused before the cache was looked up
