"""Run a command and restart it when a watched file changes (`mega start --watch`).

The project root's watch policy is `watch.paths` (what to watch, relative to the root) and
`watch.ignore` (glob patterns, matched against the path relative to the root and each of its
sub-paths, so `__pycache__/*` also matches `apps/main/__pycache__/x`). Editors' temporary files are
ignored whatever the policy says: saving a file must restart the server once, not once per file the
editor writes on the way.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from collections.abc import Callable, Sequence
from fnmatch import fnmatch
from pathlib import Path
from types import FrameType

import click
from watchfiles import Change, DefaultFilter, watch

STOP_TIMEOUT = 15.0  # seconds a child gets to drain after SIGTERM (server.shutdown_timeout is 10 s)

# File names editors write beside the file they save, on top of watchfiles' own (`.sw?`, `~`, `.#*`):
# vim's write test `4913`, `*.tmp` (atomic saves), emacs' `#x#` auto-saves, JetBrains'
# `x___jb_tmp___`, kate's swap files, gedit's `.goutputstream-*`, Chrome's `.crswap`.
EDITOR_TEMP_FILES = (r"^4913$", r"\.tmp$", r"^#.*#$", r"___jb_(tmp|old|bak)___$", r"\.kate-swp$",
                     r"^\.goutputstream-", r"\.crswap$")


class ProjectFilter(DefaultFilter):
    """Keep changes under `paths` that match no `ignore` pattern (plus watchfiles' defaults)."""

    def __init__(self, root: Path, paths: Sequence[str], ignore: Sequence[str]) -> None:
        super().__init__(ignore_entity_patterns=(*self.ignore_entity_patterns, *EDITOR_TEMP_FILES))
        self.root = root
        self.paths = [p.strip("/") for p in paths]
        self.ignore = list(ignore)

    def __call__(self, change: Change, path: str) -> bool:
        if not super().__call__(change, path):
            return False
        rel = self.relative(path)
        if rel is None or not any(rel == p or rel.startswith(p + "/") for p in self.paths):
            return False
        return not self.ignored(rel)

    def relative(self, path: str) -> str | None:
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return None

    def ignored(self, rel: str) -> bool:
        parts = rel.split("/")
        tails = ["/".join(parts[i:]) for i in range(len(parts))]
        return any(fnmatch(tail, pattern) for pattern in self.ignore for tail in tails)


def watch_anchors(root: Path, paths: Sequence[str]) -> list[Path]:
    """The directories to watch: each path that is a directory, else its (existing) parent.

    A file is watched through its directory: editors that save by renaming would end a watch
    on the file itself. Nested anchors are dropped (watches are recursive).
    """
    anchors: set[Path] = set()
    for rel in paths:
        path = (root / rel).resolve()
        anchor = path if path.is_dir() else path.parent
        while not anchor.is_dir() and anchor != root:
            anchor = anchor.parent
        anchors.add(anchor)
    return sorted(a for a in anchors if not any(o != a and a.is_relative_to(o) for o in anchors))


def run_with_reload(root: Path, command: Callable[[], list[str]], *, paths: Sequence[str],
                    ignore: Sequence[str]) -> int:
    """Run `command()`, restart it on every batch of changes, stop it on SIGINT/SIGTERM; returns 0.

    `command` is called at each start, so it can follow the project's config as it changes.
    """
    watch_filter = ProjectFilter(root, paths, ignore)
    anchors = watch_anchors(root, paths)
    _say(f"watching {', '.join(paths)} (ignoring {', '.join(ignore) or 'nothing'})")
    logging.getLogger("watchfiles").setLevel(logging.ERROR)  # we say what happens ourselves
    # watchfiles stops its loop on KeyboardInterrupt. Both signals are set, whatever was inherited:
    # a shell starts `mega start --watch &` with SIGINT ignored, and `kill -INT` must still stop it.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    child = _spawn(command())
    reported = False
    try:
        # An empty batch every second lets us notice a server that exited on its own (boot error).
        for changes in watch(
            *anchors,
            watch_filter=watch_filter,
            raise_interrupt=False,
            rust_timeout=1000,
            yield_on_timeout=True,
        ):
            if not changes:
                if child.poll() is not None and not reported:
                    _say(f"server exited with code {child.returncode}: waiting for a change to restart")
                    reported = True
                continue
            changed = sorted({watch_filter.relative(p) or p for _, p in changes})
            _say(f"{', '.join(changed[:3])}{' ...' if len(changed) > 3 else ''} changed: restarting")
            _stop(child)
            child = _spawn(command())
            reported = False
    except KeyboardInterrupt:
        pass  # SIGINT or SIGTERM outside watchfiles' loop (while restarting): stop all the same
    finally:
        _say("stopping")
        last = child

        def hurry(signum: int, frame: FrameType | None) -> None:
            last.kill()  # a second Ctrl-C or SIGTERM while stopping: do not wait for the drain

        for sig in previous:
            signal.signal(sig, hurry)
        try:
            _stop(last)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return 0


def _spawn(command: list[str]) -> subprocess.Popen[bytes]:
    # Its own session: a Ctrl-C in the terminal reaches only us, and the child gets exactly one signal
    # (a second one would make the server exit at once, without draining).
    return subprocess.Popen(command, start_new_session=True)


def _stop(child: subprocess.Popen[bytes]) -> None:
    if child.poll() is not None:
        return
    child.send_signal(signal.SIGTERM)  # the server drains on SIGTERM as on SIGINT
    try:
        child.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        _say(f"server did not stop within {STOP_TIMEOUT:g}s: killing it")
        child.kill()
        child.wait()


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _say(message: str) -> None:
    click.echo(click.style(f"mega: {message}", fg="cyan"), err=True)
    sys.stderr.flush()
