"""The `session` section and make_store: defaults, ttl inheritance, the built-in file cache and its
sweep, a named cache, and the config problems of bad values (found at the config stage, with
did-you-mean)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from mega.cache.contract import Cache
from mega.cache.file import FileCache
from mega.cache.memory import MemoryCache
from mega.config import ConfigError, ConfigProblem, load_project_config
from mega.errors import MegaError
from mega.sessions._settings import SessionSettings
from mega.sessions.cache import CacheSessionStore
from mega.sessions.factory import DEFAULT_FILE_CLEANUP_INTERVAL, make_store
from mega.testing import write_project

WEB = "apps/web/app_config.py"
ROOT = Path("/nowhere/project")  # the factory never touches the disk
CACHES = "{'sessions': {'driver': 'memory'}, 'pages': {'driver': 'memory'}}"


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


def settings(tmp_path: Path, session: Any) -> SessionSettings:
    files = {
        "mega_config.py": f"config = {{'services': {{'caches': {CACHES}}}}}\n",
        "apps/web/app_config.py": f"from math import inf, nan\nconfig = {{'session': {session!r}}}\n",
    }
    project = load_project_config(write_project(tmp_path, files), environ={})
    result: SessionSettings = project.apps["web"].settings["session"]
    return result


def build(tmp_path: Path, store: Any, ttl: Any = 100, caches: Caches | None = None) -> CacheSessionStore:
    cfg = settings(tmp_path, {"ttl": ttl, "store": store})
    built = make_store(cfg.store, root=ROOT, cache=caches or Caches())
    assert isinstance(built, CacheSessionStore)
    return built


def refused(tmp_path: Path, session: Any) -> ConfigProblem:
    with pytest.raises(ConfigError) as info:
        settings(tmp_path, session)
    assert len(info.value.problems) == 1, [p.message for p in info.value.problems]
    problem = info.value.problems[0]
    assert problem.file == WEB
    return problem


# -- what you get -------------------------------------------------------------------------------------


@pytest.mark.parametrize("store", [None, {}])
def test_the_default_is_an_owned_file_cache_under_var_sessions(tmp_path: Path, store: Any) -> None:
    built = build(tmp_path, store)
    assert isinstance(built.cache, FileCache) and built.owns and built.driver == "file"
    assert built.cache.target() == str(ROOT / "var" / "sessions")
    assert built.cache.sweep_interval == DEFAULT_FILE_CLEANUP_INTERVAL == 3600.0
    assert built.ttl == 100.0 and built.prefix == "mega:sess:"
    assert not ROOT.exists()


def test_sessions_on_off_and_defaults(tmp_path: Path) -> None:
    assert settings(tmp_path / "a", False) is None
    on = settings(tmp_path / "b", True)
    assert on is not None and on.ttl == 14 * 86400.0 and on.rolling is True and on.secret is None
    assert (on.cookie.name, on.cookie.samesite, on.cookie.httponly) == ("mega_sid", "lax", True)
    assert settings(tmp_path / "c", None) == on


def test_durations_and_names_in_any_case(tmp_path: Path) -> None:
    got = settings(tmp_path, {"ttl": "1 day", "cookie": {"samesite": "Strict"},
                              "store": {"cleanup_interval": "5m", "ttl": "2h"}})
    assert got.ttl == 86400.0 and got.cookie.samesite == "strict"
    assert (got.store.cleanup_interval, got.store.ttl) == (300.0, 7200.0)


def test_a_store_without_ttl_inherits_the_session_ttl(tmp_path: Path) -> None:
    assert build(tmp_path / "a", {}).ttl == 100.0
    assert build(tmp_path / "b", {"cache": "sessions"}).ttl == 100.0
    assert build(tmp_path / "c", {"ttl": 5}).ttl == 5.0
    assert build(tmp_path / "d", {"cache": "sessions", "ttl": 0.5}).ttl == 0.5


def test_the_file_path_is_relative_to_the_project_and_the_sweep_is_configurable(tmp_path: Path) -> None:
    store = build(tmp_path / "a", {"path": "tmp/sess", "cleanup_interval": 0})
    assert store.cache.target() == str(ROOT / "tmp" / "sess")
    assert isinstance(store.cache, FileCache) and store.cache.sweep_interval == 0.0
    store = build(tmp_path / "b", {"cleanup_interval": "1m"})
    assert isinstance(store.cache, FileCache) and store.cache.sweep_interval == 60.0


def test_a_named_cache_is_used_as_it_is_and_not_owned(tmp_path: Path) -> None:
    caches = Caches()
    store = build(tmp_path, {"cache": "sessions", "prefix": "shop:s:"}, caches=caches)
    assert caches.asked == ["sessions"] and store.cache is caches.sessions
    assert not store.owns and store.prefix == "shop:s:" and store.driver == "memory"


def test_an_undeclared_cache_names_the_declared_ones(tmp_path: Path) -> None:
    problem = refused(tmp_path, {"store": {"cache": "sesions"}})
    assert (problem.code, problem.key) == ("config.unknown_alias", "session.store.cache")
    assert problem.message == (f"{WEB}: session.store.cache names 'sesions', which is not declared in "
                               "services.caches (declared: pages, sessions)")
    assert problem.hint is not None and problem.hint.startswith("did you mean 'sessions'?")


@pytest.mark.parametrize("cfg, key, guess", [
    ({"store": {"cleanup": 5}}, "session.store.cleanup", "session.store.cleanup_interval"),
    ({"store": {"pth": "x"}}, "session.store.pth", "session.store.path"),
    ({"store": {"driver": "redis"}}, "session.store.driver", None),  # gone: `cache` names the store
    ({"store": {"prefx": "a:"}}, "session.store.prefx", "session.store.prefix"),
    ({"secrt": "x" * 20}, "session.secrt", "session.secret"),
    ({"cookie": {"same_site": "lax"}}, "session.cookie.same_site", "session.cookie.samesite"),
    ({"colour": "blue"}, "session.colour", None),
])
def test_an_unknown_key_suggests_the_nearest(tmp_path: Path, cfg: dict[str, Any], key: str,
                                             guess: str | None) -> None:
    problem = refused(tmp_path, cfg)
    assert (problem.code, problem.key) == ("config.unknown_key", key)
    suffix = f" — did you mean {guess!r}?" if guess else ""
    assert problem.message == f"unknown key {key!r} in {WEB}{suffix}"


@pytest.mark.parametrize("ttl", [0, -5, math.nan, math.inf, "soon", True])
def test_a_bad_ttl_is_refused(tmp_path: Path, ttl: Any) -> None:
    for index, cfg in enumerate(({"ttl": ttl}, {"store": {"ttl": ttl}})):
        problem = refused(tmp_path / str(index), cfg)
        assert problem.key in ("session.ttl", "session.store.ttl")
        assert "must be a duration > 0" in problem.message


@pytest.mark.parametrize("interval", [-1, math.nan, math.inf, "1 fortnight", True, None])
def test_a_bad_cleanup_interval_is_refused(tmp_path: Path, interval: Any) -> None:
    problem = refused(tmp_path, {"store": {"cleanup_interval": interval}})
    assert problem.key == "session.store.cleanup_interval" and "must be a duration >= 0" in problem.message


@pytest.mark.parametrize("cfg, key, fragment", [
    ({"store": {"path": ""}}, "session.store.path", "must be a non-empty string"),
    ({"store": {"path": 5}}, "session.store.path", "must be a non-empty string"),
    ({"store": {"cache": ""}}, "session.store.cache", "has an invalid alias ''"),
    ({"store": {"cache": 5}}, "session.store.cache", "has an invalid alias 5"),
    ({"store": {"prefix": ""}}, "session.store.prefix", "must be a non-empty string"),
    ({"store": "file"}, "session.store", "must be a dict, got 'file' (str)"),
    ({"rolling": "yes"}, "session.rolling", "must be a boolean"),
    ({"cookie": {"samesite": "loose"}}, "session.cookie.samesite", "must be one of lax, strict, none"),
    ({"secret": "short"}, "session.secret", "must be a string of at least 16 characters"),
])
def test_bad_values_are_refused(tmp_path: Path, cfg: dict[str, Any], key: str, fragment: str) -> None:
    problem = refused(tmp_path, cfg)
    assert problem.key == key and fragment in problem.message, problem.message


def test_a_secret_is_never_echoed(tmp_path: Path) -> None:
    problem = refused(tmp_path, {"secret": "hunter2-secret"})
    assert "hunter2" not in problem.message and "hunter2" not in (problem.hint or "")


def test_the_secret_comes_from_the_environment_when_unset(tmp_path: Path) -> None:
    files = {"mega_config.py": "config = {}\n", "apps/web/app_config.py": "config = {}\n"}
    project = load_project_config(write_project(tmp_path, files), environ={"SESSION_SECRET": "s" * 20})
    assert project.apps["web"].settings["session"].secret == "s" * 20
