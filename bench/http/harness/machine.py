"""Sharing the machine: one benchmark at a time (a file lock), and one version of mega per run
(a snapshot of src/mega) while other engineers edit the tree."""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
import time
from pathlib import Path
from typing import IO, Any

from .common import LOCK_PATH, REPO, cmd_out, log
from .project import tree_hash


def snapshot_mega(dest: Path) -> dict[str, Any]:
    """Copy src/mega to `dest`/mega and put it first on PYTHONPATH for every server: other engineers edit
    src/ while a run lasts, and one run must measure one version of mega (a half-saved edit once broke
    the server's start in the middle of a run)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "src" / "mega", dest / "mega", ignore=ignore)
    digest, count = tree_hash(dest)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = str(dest) + (os.pathsep + old if old else "")
    dirty = cmd_out(["git", "status", "--porcelain", "--", "src"], cwd=REPO)
    return {"path": str(dest / "mega"), "sha256": digest, "files": count,
            "taken": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "git_status_src": [ln for ln in dirty.splitlines() if ln.strip()]}


def take_lock() -> IO[str]:
    """One benchmark at a time on this machine: an flock on LOCK_PATH (other benchmark scripts may take
    it too). Waits, saying who holds it; closing the returned file releases it."""
    fh = LOCK_PATH.open("a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.seek(0)
        log(f"waiting for {LOCK_PATH} (held by: {fh.read().strip() or '?'})")
        fcntl.flock(fh, fcntl.LOCK_EX)
    fh.seek(0)
    fh.truncate()
    fh.write(f"pid {os.getpid()}: {' '.join(sys.argv)}\n")
    fh.flush()
    return fh
