"""The base install, in a virtualenv of its own: a new project serves on SQLite with no service driver
installed, and a config that names one fails at start with `adapter.driver_missing` and the pip line.

One venv for the module (pip install of this repository without extras, about 25 s); pip uses its
configured index.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
# What an extra brings: none of it may come with the base install.
EXTRA_MODULES = ("asyncpg", "aiomysql", "pymysql", "redis", "hiredis", "nats", "pytest", "pytest_asyncio",
                 "httpx")


@dataclass
class Lean:
    """A venv holding the base install, and a project made in it by `mega new`."""

    bin: Path
    project: Path

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")
               and not k.startswith("PYTEST_")}
        env.update(VIRTUAL_ENV=str(self.bin.parent), PATH=f"{self.bin}{os.pathsep}{env.get('PATH', '')}",
                   MEGA_ENV="development")
        return env

    def run(self, program: str, *args: str, cwd: Path | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `program` (python, mega) of the venv; in the project unless `cwd` says otherwise."""
        return subprocess.run([str(self.bin / program), *args], cwd=cwd or self.project, env=self.env(),
                              capture_output=True, text=True, timeout=timeout)

    def pip(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        """The test interpreter's pip, acting on the venv."""
        return subprocess.run([sys.executable, "-m", "pip", "--python", str(self.bin / "python"), *args],
                              cwd=cwd or self.project, env=self.env(), capture_output=True, text=True,
                              timeout=600)


def _checked(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, f"{result.args}: {result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def lean(tmp_path_factory: pytest.TempPathFactory) -> Lean:
    root = tmp_path_factory.mktemp("lean")
    # Without pip of its own (ensurepip costs seconds): this interpreter's pip installs into it.
    _checked(subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / "venv")],
                            capture_output=True, text=True, timeout=120))
    venv = Lean(root / "venv" / "bin", root / "p")
    _checked(venv.pip("install", "-q", str(REPO), cwd=root))
    _checked(venv.run("mega", "new", "p", cwd=root))
    return venv


def test_the_base_install_leaves_every_extra_out(lean: Lean) -> None:
    probe = ("import importlib, sys\n"
             "for name in sys.argv[1:]:\n"
             "    try:\n"
             "        importlib.import_module(name)\n"
             "    except ImportError:\n"
             "        continue\n"
             "    print(name)\n")
    result = _checked(lean.run("python", "-c", probe, *EXTRA_MODULES))
    assert result.stdout.split() == []
    # The runtime dependencies the embedded defaults need are there.
    _checked(lean.run("python", "-c", "import aiosqlite, sqlalchemy, alembic, uvicorn, argon2"))


def test_the_project_pyproject_installs_without_a_driver(lean: Lean) -> None:
    result = _checked(lean.pip("install", "-e", "."))
    installed = _checked(lean.pip("list", "--format=freeze")).stdout
    names = {line.split("==")[0].lower() for line in installed.splitlines()}
    assert {"p", "mega"} <= names, result.stdout
    assert names.isdisjoint({"asyncpg", "aiomysql", "pymysql", "redis", "nats-py", "pytest", "httpx"})


def test_mega_start_serves_the_new_project_on_sqlite(lean: Lean, tmp_path: Path) -> None:
    port = _free_port()
    with _server(lean, port, tmp_path / "server.log") as output:
        home = _wait_for_home(port, output)
        assert home.json() == {"ok": True, "data": {"message": "Hello from p"}}
        ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2)
        assert ready.status_code == 200, ready.text
        docs = httpx.get(f"http://127.0.0.1:{port}/docs", timeout=2)  # openapi: on in development
        assets = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', docs.text)
        assert docs.status_code == 200 and len(assets) == 3, docs.text
        for asset in assets:  # shipped in the wheel: served from the installed package
            assert httpx.get(f"http://127.0.0.1:{port}{asset}", timeout=5).status_code == 200, asset
    assert (lean.project / "var" / "mega.sqlite3").is_file()  # the embedded database


@pytest.mark.parametrize(
    ("group", "entry", "extra"),
    [
        ("dbs", {"driver": "postgres", "url": "postgresql://127.0.0.1/test"}, "postgres"),
        ("dbs", {"driver": "maria", "url": "mysql://root@127.0.0.1/test"}, "mysql"),
        ("caches", {"driver": "redis"}, "redis"),
        ("redis", {"url": "redis://127.0.0.1:6379/0"}, "redis"),
        ("buses", {"driver": "nats", "url": "nats://127.0.0.1:4222"}, "nats"),
    ],
)
def test_a_driver_without_its_extra_fails_at_start(lean: Lean, tmp_path: Path, group: str,
                                                   entry: dict[str, str], extra: str) -> None:
    project = tmp_path / "p"
    _checked(lean.run("mega", "new", "p", cwd=tmp_path))
    with (project / "mega_config.py").open("a") as config:
        config.write(f"\nconfig['services'] = {{{group!r}: {{'primary': {entry!r}}}}}\n")
    result = lean.run("mega", "start", "--port", str(_free_port()), cwd=project, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"boot failed at stage 'adapters': services.{group}.primary: the " in result.stderr
    assert "which is not installed" in result.stderr
    assert f"hint: pip install 'mega[{extra}]'" in result.stderr
    assert "code: adapter.driver_missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_mega_test_without_the_test_extra_says_what_to_install(lean: Lean) -> None:
    result = lean.run("mega", "test")
    assert result.returncode == 2
    assert "mega test needs pytest, pytest_asyncio, httpx" in result.stderr
    assert "hint: pip install 'mega[test]'" in result.stderr


@contextlib.contextmanager
def _server(lean: Lean, port: int, log: Path) -> Iterator[Path]:
    """`mega start` in the lean venv, output to a file; stopped on exit whatever happened."""
    with log.open("wb") as out:
        proc = subprocess.Popen([str(lean.bin / "mega"), "start", "--port", str(port)], cwd=lean.project,
                                env=lean.env(), stdout=out, stderr=subprocess.STDOUT)
        try:
            yield log
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _wait_for_home(port: int, log: Path, timeout: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            res = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        assert res.status_code == 200, res.text
        return res
    raise AssertionError(f"no answer on port {port} after {timeout}s:\n{log.read_text(errors='replace')}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port

