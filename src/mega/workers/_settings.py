"""The `workers` config section (mega_config.py): named pools for CPU-bound work, off the event loop.

    workers = {"resize": {"handler": "main.workers.resize:run",  # apps/main/workers/resize.py, run()
                          "kind": "process",                     # or "thread"
                          "size": 2,                             # processes (threads) in the pool
                          "max_queue": 100,                      # calls waiting beyond the busy ones
                          "timeout": 30}}                        # seconds per call (0: none)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from mega.config import _checks as c
from mega.config._specs import Leaf, const
from mega.config.sections import GLOBAL, Resolve, register_section

__all__ = ["WORKERS", "PoolSettings", "parse_pools"]

KINDS = ("process", "thread")
_HANDLER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*")
_RESERVED = ("stats", "close", "names")  # methods of ctx.workers
_KEYS = ("handler", "kind", "size", "max_queue", "timeout")
EXAMPLE = "{'resize': {'handler': 'main.workers.resize:run', 'kind': 'process', 'size': 2}}"


@dataclass(frozen=True)
class PoolSettings:
    name: str
    handler: str  # "module.path:function"; a module under an app is written from the app: "main.workers.x"
    kind: str
    size: int
    max_queue: int
    timeout: float  # 0: none


def default_size() -> int:
    return max(1, os.cpu_count() or 1)


def _bad(name: str, text: str, key: str = "") -> c.Invalid:
    return c.Invalid("worker.invalid_config", text, hint=f"e.g. workers = {EXAMPLE}",
                     subkey=f".{name}{'.' + key if key else ''}")


def parse_pools(value: Any) -> dict[str, PoolSettings]:
    """The pools of a `workers` value, or `c.Invalid` (`worker.invalid_config`) on the first bad entry."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise c.Invalid("worker.invalid_config", f"must be a dict of named pools, got {value!r}",
                        hint=f"e.g. workers = {EXAMPLE}")
    pools = {}
    for name, entry in value.items():
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise c.Invalid("worker.invalid_config", f"has a pool named {name!r}: a pool name is a Python "
                            "identifier (it is read as ctx.workers.<name>)", hint=f"e.g. workers = {EXAMPLE}")
        if name in _RESERVED:
            raise c.Invalid("worker.invalid_config", f"has a pool named {name!r}, which is taken by "
                            f"ctx.workers.{name}", hint="pick another name")
        pools[name] = _entry(name, entry)
    return pools


def _entry(name: str, entry: Any) -> PoolSettings:
    if not isinstance(entry, dict):
        raise _bad(name, f"must be a dict with 'handler', got {entry!r}")
    unknown = sorted(str(k) for k in entry if k not in _KEYS)
    if unknown:
        raise _bad(name, f"has unknown key(s) {', '.join(unknown)} (keys: {', '.join(_KEYS)})")
    handler = entry.get("handler")
    if not isinstance(handler, str) or not _HANDLER.fullmatch(handler):
        raise _bad(name, f"must be 'module.path:function', got {handler!r}", "handler")
    kind = entry.get("kind", "process")
    if kind not in KINDS:
        raise _bad(name, f"must be 'process' or 'thread', got {kind!r}", "kind")
    size = entry.get("size", default_size())
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= 256:
        raise _bad(name, f"must be an integer 1-256, got {size!r}", "size")
    max_queue = entry.get("max_queue", 100)
    if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 0:
        raise _bad(name, f"must be an integer >= 0, got {max_queue!r}", "max_queue")
    timeout = c.parse_duration(entry.get("timeout", 30))
    if timeout is None or timeout != timeout or timeout < 0 or timeout == float("inf"):
        raise _bad(name, f"must be a duration >= 0 (0: none), got {entry.get('timeout')!r}", "timeout")
    return PoolSettings(name, handler, kind, size, max_queue, timeout)


WORKERS = Leaf(parse_pools, const({}))


def worker_settings(value: dict[str, PoolSettings], resolve: Resolve) -> dict[str, PoolSettings]:
    return value


register_section("workers", WORKERS, scope=GLOBAL, settings=worker_settings)
