"""What the lock and bus families share in cluster mode: which driver an app gets, and the one client
connection to the cluster primary (with the family's own error when the primary cannot be reached)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mega.cluster.ipc.client import ClusterClient, IpcDown
from mega.errors import MegaError

__all__ = ["ClusterFamily"]


@dataclass(frozen=True)
class ClusterFamily:
    name: str  # "lock" or "bus": the config section and the error codes' prefix
    error: type[MegaError]  # LockError or BusError
    shared: str  # the driver several machines share: "redis" or "nats"
    memory_effect: str  # what an explicit memory driver loses in cluster mode
    log: logging.Logger

    def driver_for(self, app: str, driver: str, *, explicit: bool, file: str, socket: str | None) -> str:
        """The driver an app gets: its settings' one, with the cluster-mode rules applied."""
        if driver == "cluster" and not socket:
            raise self.error(f"{self.name}.cluster_unavailable",
                             f"app '{app}': {self.name}.driver is 'cluster' ({file}) but the project does "
                             "not run in cluster mode", details={"app": app}, status=500,
                             hint="start it with several workers (MEGA_CLUSTER_WORKERS=N or server.workers), "
                                  f"or use driver 'memory' (one process) or '{self.shared}' (several)")
        if driver == "memory" and socket:
            if explicit:
                self.log.warning("app %s: %s.driver is 'memory' (%s) in cluster mode: each worker has its "
                                 "own %s, so %s; drop the driver to get 'cluster', or use '%s'",
                                 app, self.name, file, self.name, self.memory_effect, self.shared,
                                 extra={"app": app})
                return "memory"
            return "cluster"
        return driver

    async def connect(self, app: str, socket: str) -> ClusterClient:
        """A connected client of the cluster primary, or the family's `backend_unavailable` (503)."""
        client = ClusterClient(socket)
        try:
            await client.connect()
        except IpcDown as exc:
            raise self.error(f"{self.name}.backend_unavailable", f"app '{app}': the cluster {self.name} "
                             f"cannot reach the cluster primary: {exc}",
                             details={"app": app, "driver": "cluster", "socket": socket}, status=503,
                             hint="the cluster primary sets MEGA_CLUSTER_SOCKET; is it running?") from exc
        return client
