"""Paths, pinning and the few helpers every harness module uses."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HTTP = Path(__file__).resolve().parent.parent  # bench/http
PEERS_DIR = HTTP / "peers"
REPO = HTTP.parent.parent
RESULTS = REPO / "bench" / "results"
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
LOCK_PATH = Path("/tmp/mega-bench.lock")

SERVER_CPU = "0"
WRK_CPU = "1"
WRK_THREADS = 1
WRK_CONNECTIONS = 64


class BenchError(Exception):
    pass


def pin(cpu: str) -> list[str]:
    """`taskset -c <cpu>` when taskset is there; unpinned otherwise (the run's meta says which)."""
    return ["taskset", "-c", cpu] if shutil.which("taskset") else []


def log(msg: str) -> None:
    print(msg, flush=True)


def cmd_out(cmd: list[str], cwd: Path | None = None) -> str:
    """stdout + stderr of a short command, or why it could not run (for the results, never fatal)."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30, cwd=cwd)
        return (out.stdout + out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable: {exc}"
