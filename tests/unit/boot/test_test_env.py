"""A boot inside a test run (MEGA_TEST_RUN, set by `mega test` and the pytest plugin) uses the run's
databases, key prefix and directory; any other boot is left as it is."""

from __future__ import annotations

from pathlib import Path

import pytest

from mega.boot._test_env import ENV_VAR, TestRun, apply_test_run
from mega.boot.runtime import Runtime
from mega.boot.stages import BootError
from mega.config import load_project_config
from mega.testing import running, write_project

CONFIG = """
    config = {
        "services": {
            "dbs": {
                "primary": {"driver": "postgres", "url": "postgresql://app:secret@db.example:5433/shop?ssl=prefer",
                            "pool_size": 3},
                "legacy": {"driver": "maria", "host": "10.0.0.5", "user": "root", "database": "old"},
                "local": {"driver": "sqlite", "path": "var/local.db", "busy_timeout": 100},
            },
            "caches": {
                "pages": {"driver": "memory", "prefix": "pages:"},
                "files": {"driver": "file", "path": "var/cache"},
            },
        },
    }
"""
APP = {"apps/main/app_config.py": "config = {}\n"}


def _run(root: Path, tmp: Path) -> TestRun:
    return TestRun(str(root), str(tmp / "run"), "mega:test:abcd:", {
        "primary": {"database": "shop_test"}, "legacy": {"database": "old_test"},
        "local": {"path": str(tmp / "run" / "local.sqlite3")}})


def _config_of(root: Path, environ: dict[str, str]) -> Runtime:
    rt = Runtime(root, environ)
    rt.config = load_project_config(root, environ=environ)
    rt.env = rt.config.env
    apply_test_run(rt)
    return rt


def test_the_run_replaces_databases_prefixes_and_directories(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"mega_config.py": CONFIG, **APP}).resolve()
    run = _run(root, tmp_path)
    rt = _config_of(root, {"MEGA_ENV": "test", ENV_VAR: run.to_env()})
    dbs = rt.config.values["services"]["dbs"]
    assert dbs["primary"] == {"driver": "postgres", "pool_size": 3,
                              "url": "postgresql://app:secret@db.example:5433/shop_test?ssl=prefer"}
    assert dbs["legacy"] == {"driver": "maria", "host": "10.0.0.5", "user": "root", "database": "old_test"}
    assert dbs["local"] == {"driver": "sqlite", "path": str(tmp_path / "run" / "local.sqlite3"),
                            "busy_timeout": 100}
    caches = rt.config.values["services"]["caches"]
    assert caches["pages"] == {"driver": "memory", "prefix": "mega:test:abcd:pages:"}
    assert caches["files"] == {"driver": "file", "prefix": "mega:test:abcd:",
                               "path": str(tmp_path / "run" / "caches" / "files")}
    store = rt.config.apps["main"].settings["session"].store
    assert store.path == str(tmp_path / "run" / "sessions" / "main")


def test_the_embedded_database_becomes_the_runs_file(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"mega_config.py": "config = {}\n", **APP}).resolve()
    run = TestRun(str(root), str(tmp_path), "mega:test:abcd:", {"default": {"path": str(tmp_path / "d.db")}})
    rt = _config_of(root, {"MEGA_ENV": "test", ENV_VAR: run.to_env()})
    dbs = rt.config.values["services"]["dbs"]
    assert dbs == {"default": {"driver": "sqlite", "path": str(tmp_path / "d.db")}}


@pytest.mark.parametrize("env, other_root", [("test", True), ("development", False), ("production", False)])
def test_a_boot_outside_the_run_is_left_alone(tmp_path: Path, env: str, other_root: bool) -> None:
    root = write_project(tmp_path / "p", {"mega_config.py": CONFIG, **APP}).resolve()
    run = _run(tmp_path / "elsewhere" if other_root else root, tmp_path)
    rt = _config_of(root, {"MEGA_ENV": env, ENV_VAR: run.to_env()})
    assert rt.config.values["services"]["dbs"]["primary"]["url"].endswith("/shop?ssl=prefer")
    assert rt.config.values["services"]["caches"]["pages"]["prefix"] == "pages:"
    rt = _config_of(root, {"MEGA_ENV": "test"})  # and without a run at all
    assert rt.config.values["services"]["dbs"]["local"]["path"] == "var/local.db"


async def test_a_boot_uses_the_runs_sqlite_file(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"mega_config.py": "config = {}\n", **APP}).resolve()
    run = TestRun(str(root), str(tmp_path / "run"), "mega:test:abcd:",
                  {"default": {"path": str(tmp_path / "run" / "default.sqlite3")}})
    async with running(root, environ={"MEGA_ENV": "test", ENV_VAR: run.to_env()}) as rt:
        assert rt.adapters is not None
        assert rt.adapters.db().target() == str(tmp_path / "run" / "default.sqlite3")
    assert (tmp_path / "run" / "default.sqlite3").is_file()
    assert not (root / "var" / "mega.sqlite3").exists()  # the development database was never opened


async def test_a_run_that_is_not_json_fails_boot(tmp_path: Path) -> None:
    root = write_project(tmp_path / "p", {"mega_config.py": "config = {}\n", **APP})
    with pytest.raises(BootError) as info:
        async with running(root, environ={"MEGA_ENV": "test", ENV_VAR: "{not json"}):
            pass
    assert info.value.stage == "config"
    assert info.value.original.code == "boot.invalid_test_run"  # type: ignore[attr-defined]
