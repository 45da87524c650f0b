"""How many workers `mega start` runs, and the `cluster` config section (supervision tunables).

    server = {"workers": 4}          # or "auto" (one per CPU); unset or 0: one process, no cluster
    cluster = {"crash_loop_restarts": 5, "crash_loop_window": "60s", "backoff_max": "30s",
               "scrape_timeout": "1s", "stop_grace": "10s", "drain_delay": "500ms"}

`MEGA_CLUSTER_WORKERS` in the environment wins over `server.workers`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mega.config import _checks as c
from mega.config._specs import Leaf, Section, const
from mega.config.sections import GLOBAL, Resolve, register_section
from mega.errors import MegaError

__all__ = ["ENV_VAR", "ClusterSettings", "resolve_workers"]

ENV_VAR = "MEGA_CLUSTER_WORKERS"
INVALID = "cluster.invalid_workers"
_HINT = c.WORKERS_HINT


def resolve_workers(configured: int | str | None, environ: Mapping[str, str] | None = None) -> int:
    """The number of worker processes: 0 means no cluster (one process serves).

    `MEGA_CLUSTER_WORKERS` wins over `server.workers`; a bad value there is `cluster.invalid_workers`.
    """
    env = os.environ if environ is None else environ
    raw = env.get(ENV_VAR, "").strip()
    if raw:
        try:
            value = c.workers(raw)
        except c.Invalid as exc:
            raise MegaError(INVALID, f"{ENV_VAR}={raw!r} (from the environment) {exc.text}",
                            hint=exc.hint or _HINT,
                            details={"value": raw, "source": ENV_VAR}) from None
    else:
        value = 0 if configured is None else configured
    if value == "auto":
        return os.cpu_count() or 1
    assert isinstance(value, int)
    return value


@dataclass(frozen=True)
class ClusterSettings:
    """Supervision of the workers (figures in seconds)."""

    crash_loop_restarts: int = 5  # this many unexpected exits of one slot are replaced at once ...
    crash_loop_window: float = 60.0  # ... within this window; past that, the slot backs off
    backoff_max: float = 30.0  # backoff starts at 1 s and doubles up to this; reset after a window up
    scrape_timeout: float = 1.0  # the longest a /metrics scrape waits for a worker's numbers
    stop_grace: float = 10.0  # past server.shutdown_timeout, for the workers' hooks; then killed
    drain_delay: float = 0.5  # on SIGTERM a worker answers readiness 503 this long before it stops accepting


_SECTION = Section({
    "crash_loop_restarts": Leaf(c.integer(1, 1000), const(5)),
    "crash_loop_window": Leaf(c.duration(), const(60.0)),
    "backoff_max": Leaf(c.duration(), const(30.0)),
    "scrape_timeout": Leaf(c.duration(most=30.0), const(1.0)),
    "stop_grace": Leaf(c.duration(zero_ok=True), const(10.0)),
    "drain_delay": Leaf(c.duration(zero_ok=True, most=60.0), const(0.5)),
})


def _settings(value: dict[str, Any], resolve: Resolve) -> ClusterSettings:
    return ClusterSettings(**value)


CLUSTER = register_section("cluster", _SECTION, scope=GLOBAL, settings=_settings)
