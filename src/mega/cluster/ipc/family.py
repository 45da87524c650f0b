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
            raise self.unavailable(app, file)
        if driver == "memory" and socket:
            if explicit:
                self.log.warning("%s", self.memory_in_cluster(app, file), extra={"app": app})
                return "memory"
            return "cluster"
        return driver

    def unavailable(self, app: str, file: str) -> MegaError:
        """`<family>.cluster_unavailable`: driver 'cluster' outside cluster mode (boot and `mega check`)."""
        return self.error(f"{self.name}.cluster_unavailable",
                          f"app '{app}': {self.name}.driver is 'cluster' ({file}) but the project does not "
                          f"run in cluster mode, so there is no cluster primary to hold the {self.name}",
                          details={"app": app}, status=500,
                          hint="the 'cluster' driver only works when `mega start` runs several workers: set "
                               "server.workers = N in mega_config.py (or MEGA_CLUSTER_WORKERS=N), or use "
                               f"driver 'memory' (one process) or '{self.shared}' (several processes or "
                               "machines)")

    def memory_in_cluster(self, app: str, file: str) -> str:
        """The warning for an explicit 'memory' driver in cluster mode (boot and `mega check`)."""
        return (f"app {app}: {self.name}.driver is 'memory' ({file}) in cluster mode: each worker has its "
                f"own {self.name}, so {self.memory_effect}; drop the driver to get 'cluster', or use "
                f"'{self.shared}'")

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
