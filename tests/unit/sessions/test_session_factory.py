"""The `session` section and make_store: defaults, ttl inheritance, the file sweep, the cache-held store,
and the config problems of bad values (all found at the config stage, with did-you-mean)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from mega.config import ConfigProblem, MegaConfigError, load_project_config
from mega.errors import MegaError
from mega.sessions._settings import SessionSettings
from mega.sessions.factory import make_store
from mega.sessions.file import FileSessionStore
from mega.sessions.redis import RedisSessionStore
from mega.sessions.store import SessionStore
from mega.testing import write_project

WEB = "apps/web/app_config.py"
ROOT = Path("/nowhere/project")  # the factory never touches the disk
CACHES = "{'sessions': {'driver': 'redis', 'url': 'redis://127.0.0.1:6379/0'}, 'pages': {'driver': 'memory'}}"


class Caches:
    """A stand-in for the app's cache lookup: records the aliases asked for."""

    def __init__(self, driver: str = "redis") -> None:
        self.asked: list[str] = []
        self.driver = driver
        self.native = "client"

    def __call__(self, alias: str) -> Any:
        self.asked.append(alias)
        return self


def settings(tmp_path: Path, session: Any) -> SessionSettings:
    files = {
        "mega_config.py": f"config = {{'services': {{'caches': {CACHES}}}}}\n",
        "apps/web/app_config.py": f"from math import inf, nan\nconfig = {{'session': {session!r}}}\n",
    }
    project = load_project_config(write_project(tmp_path, files), environ={})
    result: SessionSettings = project.apps["web"].settings["session"]
    return result


def build(tmp_path: Path, store: Any, ttl: Any = 100, caches: Caches | None = None) -> SessionStore:
    cfg = settings(tmp_path, {"ttl": ttl, "store": store})
    return make_store(cfg.store, root=ROOT, cache=caches or Caches(), app_name="web")


def refused(tmp_path: Path, session: Any) -> ConfigProblem:
    with pytest.raises(MegaConfigError) as info:
        settings(tmp_path, session)
    assert len(info.value.problems) == 1, [p.message for p in info.value.problems]
    problem = info.value.problems[0]
    assert problem.file == WEB
    return problem


# -- what you get -------------------------------------------------------------------------------------


@pytest.mark.parametrize("store", [None, {}])
def test_the_default_is_a_file_store_under_var_sessions(tmp_path: Path, store: Any) -> None:
    built = build(tmp_path, store)
    assert isinstance(built, FileSessionStore)
    assert built.directory == ROOT / "var" / "sessions"
    assert built.ttl == 100.0
    assert built.cleanup_interval == 3600.0
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


def test_the_file_path_is_relative_to_the_project(tmp_path: Path) -> None:
    store = build(tmp_path, {"path": "tmp/sess"})
    assert isinstance(store, FileSessionStore) and store.directory == ROOT / "tmp" / "sess"


def test_the_sweep_interval(tmp_path: Path) -> None:
    cases: list[tuple[dict[str, Any], float]] = [
        ({}, 3600.0), ({"cleanup_interval": 60}, 60.0), ({"cleanup_interval": 0.5}, 0.5),
        ({"cleanup_interval": 0}, 0.0),
    ]
    for index, (cfg, interval) in enumerate(cases):
        store = build(tmp_path / str(index), cfg)
        assert isinstance(store, FileSessionStore) and store.cleanup_interval == interval, cfg
    # the store class's own default is no sweep: only the boot path asks for one
    assert FileSessionStore(ROOT, ttl=1).cleanup_interval == 0


def test_a_cache_alias_stores_sessions_in_that_cache(tmp_path: Path) -> None:
    caches = Caches()
    store = build(tmp_path / "a", {"cache": "sessions"}, caches=caches)
    assert isinstance(store, RedisSessionStore)
    assert caches.asked == ["sessions"] and store.client == "client"
    assert store.prefix == "mega:sess:"
    assert not hasattr(store, "cleanup_interval")  # no sweep for redis: keys expire on their own
    store = build(tmp_path / "b", {"cache": "sessions", "prefix": "shop:s:"})
    assert isinstance(store, RedisSessionStore) and store.prefix == "shop:s:"


def test_a_cache_that_cannot_hold_sessions_yet_is_refused_at_boot(tmp_path: Path) -> None:
    with pytest.raises(MegaError) as info:
        build(tmp_path, {"cache": "pages"}, caches=Caches("memory"))
    assert info.value.code == "session.unsupported_cache" and "'pages'" in info.value.message


# -- what is refused ------------------------------------------------------------------------------------


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
