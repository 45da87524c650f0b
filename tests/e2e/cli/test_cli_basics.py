"""`mega --help`, `--version`, global options and the project-root rule."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

from .conftest import MEGA, mega

HEAVY = (
    "uvicorn",
    "httpx",
    "pydantic",
    "jsonschema",
    "rich",
    "watchfiles",
    "pytest",
    "mega.boot",
    "mega.server",
    "mega.config",
)


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = mega("--help", cwd=tmp_path)
    assert result.returncode == 0
    for name in ("new", "start", "routes", "console", "test"):
        assert f"  {name} " in result.stdout


def test_help_is_fast(tmp_path: Path) -> None:
    # The child's CPU time, not wall time: the same on a busy machine, and what lazy imports save.
    best = float("inf")
    for _ in range(3):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([str(MEGA), "--help"], cwd=tmp_path, capture_output=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    assert best < 0.3, f"mega --help used {best:.3f}s of CPU (best of 3)"


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", str(MEGA), "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = {
        line.rsplit("|", 1)[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "mega.cli.main" in imported
    heavy = sorted(m for m in imported if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == []


def test_version(tmp_path: Path) -> None:
    result = mega("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == "mega 0.1.0"


def test_outside_a_project_exits_2(tmp_path: Path) -> None:
    result = mega("routes", cwd=tmp_path)
    assert result.returncode == 2
    expected = f"no mega_config.py in {tmp_path.resolve()}: run inside a mega project or pass --root"
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_root_option_points_at_the_project(project: Path, tmp_path: Path) -> None:
    result = mega("--root", str(project), "routes", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_root_option_after_the_command(project: Path, tmp_path: Path) -> None:
    before = mega("--root", str(project), "routes", "--json", cwd=tmp_path)
    after = mega("routes", "--json", "--root", str(project), cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert after.stdout == before.stdout
    # The later one wins; a subcommand of `mega g` takes it too; `mega test` before pytest's arguments.
    assert mega("--root", str(tmp_path), "routes", "--root", str(project), cwd=tmp_path).returncode == 0
    assert mega("db:status", "--root", str(project), cwd=tmp_path).returncode == 0
    collected = mega("test", "--root", str(project), "--collect-only", "-q", cwd=tmp_path)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "test_home_says_hello" in collected.stdout
    assert "--root DIRECTORY" in mega("g", "model", "--help", cwd=tmp_path).stdout
    missing = mega("routes", "--root", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_bad_arguments_exit_2_with_the_reason(tmp_path: Path) -> None:
    result = mega("--root", str(tmp_path / "nowhere"), "routes", cwd=tmp_path)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    result = mega("nosuchcommand", cwd=tmp_path)
    assert result.returncode == 2
    assert "No such command 'nosuchcommand'" in result.stderr
