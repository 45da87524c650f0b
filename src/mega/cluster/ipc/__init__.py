"""Cluster IPC: the primary's `ClusterHost` (lock table and bus router on a Unix socket) and the
workers' `ClusterClient`, which the `cluster` lock and bus drivers use.

The contract with cluster mode: the primary starts a `ClusterHost(path)` before its workers and sets
`MEGA_CLUSTER_SOCKET=path` (and `MEGA_WORKER_ID`) in each worker's environment; a worker booting with
`MEGA_CLUSTER_SOCKET` set gives apps without a declared redis lock / NATS bus the `cluster` drivers.
See docs/reference/lock.md, docs/reference/bus.md and docs/adr/0032-cluster-ipc.md.
"""

from mega.cluster.ipc._wire import SOCKET_ENV, WORKER_ENV
from mega.cluster.ipc.client import ClusterClient, IpcDown, socket_path
from mega.cluster.ipc.host import ClusterHost

__all__ = ["SOCKET_ENV", "WORKER_ENV", "ClusterClient", "ClusterHost", "IpcDown", "socket_path"]
