"""Cluster mode: `mega start` with `MEGA_CLUSTER_WORKERS=N` (or `server.workers`) runs one primary
process that binds the port and supervises N worker processes serving it (docs/reference/cluster.md).

Importing this package imports nothing heavy; the primary and the worker live in private modules.
"""

from __future__ import annotations

from mega.cluster._settings import ENV_VAR, ClusterSettings, resolve_workers

__all__ = ["ENV_VAR", "WORKER_ID_VAR", "ClusterSettings", "resolve_workers", "worker_id"]

WORKER_ID_VAR = "MEGA_WORKER_ID"


def worker_id() -> int | None:
    """This process's slot (1..N) when it is a worker of a cluster, else None."""
    import os

    raw = os.environ.get(WORKER_ID_VAR, "")
    return int(raw) if raw.isdigit() else None
