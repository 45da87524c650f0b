"""A service driver whose extra is not installed fails boot with `adapter.driver_missing` and the pip line.

The missing package is simulated by hiding it from `importlib.util.find_spec`: what is tested is the
import guard, not a service.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mega.adapters import registry
from mega.adapters._manager import AdapterManager
from mega.adapters.base import Adapter
from mega.boot.stages import BootError
from mega.cli._failure import failure_from
from mega.errors import MegaError
from mega.testing import boot_for_test, write_project

REPO = Path(__file__).resolve().parents[3]
DRIVERS = [("db", "postgres", "asyncpg", "postgres"), ("db", "maria", "aiomysql", "mysql"),
           ("cache", "redis", "redis", "redis"), ("bus", "nats", "nats", "nats")]


@pytest.fixture
def hide(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Make modules look uninstalled, and forget the driver classes already loaded by other tests."""

    def hide_modules(*names: str) -> None:
        real = importlib.util.find_spec

        def find_spec(name: str, package: str | None = None) -> Any:
            return None if name.partition(".")[0] in names else real(name, package)

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)
        monkeypatch.setattr(registry, "_classes", {})

    return hide_modules


@pytest.mark.parametrize(("family", "driver", "module", "extra"), DRIVERS)
def test_a_driver_without_its_package_names_it_and_the_extra(hide: Callable[..., None], family: str,
                                                             driver: str, module: str, extra: str) -> None:
    hide(module)
    with pytest.raises(MegaError) as caught:
        registry.driver_class(family, driver)
    err = caught.value
    assert err.code == "adapter.driver_missing"
    assert err.status == 500
    assert err.message == (f"the {family} driver '{driver}' needs the Python package {module}, "
                           "which is not installed")
    assert err.hint == f"pip install 'mega[{extra}]'"
    assert err.details == {"family": family, "driver": driver, "missing": [module], "extra": extra}


def test_every_missing_package_is_named(hide: Callable[..., None]) -> None:
    hide("aiomysql", "pymysql")
    with pytest.raises(MegaError, match="needs the Python package aiomysql and pymysql, which is not"):
        registry.driver_class("db", "maria")


def test_installed_drivers_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_classes", {})
    for family, driver, _module, _extra in DRIVERS:
        cls = registry.driver_class(family, driver)
        assert issubclass(cls, Adapter) and cls.family == family


def test_the_embedded_defaults_need_no_extra(hide: Callable[..., None], tmp_path: Path) -> None:
    hide("asyncpg", "aiomysql", "pymysql", "redis", "hiredis", "nats")
    manager = AdapterManager({"caches": {"files": {"driver": "file", "path": "c"}}}, root=tmp_path)
    assert [(a.family, a.driver) for a in manager.all()] == [("db", "sqlite"), ("cache", "file")]
    assert AdapterManager({}, root=tmp_path).cache().driver == "memory"


def test_the_manager_names_the_alias(hide: Callable[..., None], tmp_path: Path) -> None:
    hide("redis")
    with pytest.raises(MegaError) as caught:
        AdapterManager({"caches": {"sessions": {"driver": "redis", "url": "redis://127.0.0.1:6379/0"}}},
                       root=tmp_path)
    assert caught.value.code == "adapter.driver_missing"
    assert caught.value.message.startswith("services.caches.sessions: the cache driver 'redis' needs ")


async def test_boot_fails_at_the_adapters_stage_and_the_cli_shows_code_and_pip_line(
        hide: Callable[..., None], tmp_path: Path) -> None:
    hide("asyncpg")
    root = write_project(tmp_path, {
        "mega_config.py": """
            config = {"services": {"dbs": {"primary": {"driver": "postgres",
                                                       "url": "postgresql://127.0.0.1/test"}}}}
        """,
        "apps/main/app_config.py": "config = {}\n",
    })
    with pytest.raises(BootError) as caught:
        await boot_for_test(root)
    assert caught.value.stage == "adapters"
    assert caught.value.details["cause"] == "adapter.driver_missing"
    lines = failure_from(caught.value, debug=False).lines
    assert lines == [
        "error: boot failed at stage 'adapters': services.dbs.primary: the db driver 'postgres' needs the "
        "Python package asyncpg, which is not installed",
        "hint: pip install 'mega[postgres]'",
        "code: adapter.driver_missing",
    ]


def test_a_default_boot_imports_no_driver(tmp_path: Path) -> None:
    """Even where the drivers are installed, a project on the defaults never imports them."""
    root = write_project(tmp_path, {"mega_config.py": "config = {}\n",
                                    "apps/main/app_config.py": "config = {}\n"})
    script = ("import asyncio, sys, mega\n"
              "async def main():\n"
              "    rt = await mega.boot_project(sys.argv[1])\n"
              "    await rt.close()\n"
              "asyncio.run(main())\n"
              "print('imported:', sorted({m.partition('.')[0] for m in sys.modules}\n"
              "      & {'asyncpg', 'aiomysql', 'pymysql', 'redis', 'nats', 'httpx', 'pytest'}))\n")
    result = subprocess.run([sys.executable, "-c", script, str(root)], capture_output=True, text=True,
                            timeout=60, env={"MEGA_ENV": "production", "PATH": "/usr/bin:/bin",
                                             "SESSION_SECRET": "s" * 32})
    assert result.returncode == 0, result.stderr
    assert "imported: []" in result.stdout.splitlines(), result.stdout


def test_the_extras_in_pyproject_match_the_registry() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    base = " ".join(project["dependencies"]).lower()
    names = {extra for _modules, extra in registry.EXTRAS.values()}
    assert names <= set(extras)
    (everything,) = extras["all"]
    observability = {"metrics", "tracing"}  # not drivers, but in `all` too
    assert set(everything.removeprefix("mega[").removesuffix("]").split(",")) == names | observability
    for package in ("asyncpg", "aiomysql", "pymysql", "redis", "nats-py", "pytest", "httpx"):
        assert package not in base, f"{package} is a base dependency"
    assert {"pytest>=8", "pytest-asyncio>=0.23", "httpx>=0.27"} <= set(extras["test"])
