"""The first `make demo` says what it does before each slow step and lets pip show its progress."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def dry_run(target: str, tmp_path: Path) -> list[str]:
    """The commands `make TARGET` would run in a checkout with no .venv yet (`make -n`)."""
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    (tmp_path / "pyproject.toml").write_text("")
    result = subprocess.run(["make", "-n", "--no-print-directory", target], cwd=tmp_path, capture_output=True,
                            text=True, check=True)
    return result.stdout.splitlines()


def test_the_first_make_demo_announces_each_step_and_shows_pip_progress(tmp_path: Path) -> None:
    lines = dry_run("demo", tmp_path)
    slow = [i for i, line in enumerate(lines) if " -m venv " in line or " -m pip install " in line]
    assert len(slow) == 3, lines  # the venv, pip's update, mega's install
    for i in slow:
        assert " -q" not in lines[i] and "--quiet" not in lines[i], lines[i]
    # Something is said before anything slow starts, and before mega's install.
    assert lines[0].startswith("echo ") and slow[0] == 1, lines
    assert lines[slow[2] - 1].startswith('echo "installing mega'), lines
    assert lines[-1].endswith("mega start --port 3000")
