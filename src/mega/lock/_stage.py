"""Boot stage "locks" (after "apps"): give every app its lock (`app.lock`), close them at shutdown.

A redis lock uses the client of the connection its settings name (`rt.adapters.redis(alias)`,
connected, closed and health-checked by the adapters stage). In cluster mode (`MEGA_CLUSTER_SOCKET`)
apps without a declared driver get the `cluster` lock (see `mega.lock._manager`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mega.cluster.ipc.client import socket_path
from mega.lock._manager import LockManager
from mega.lock._settings import DEFAULT

if TYPE_CHECKING:
    from mega.boot.runtime import Runtime


async def locks_stage(rt: Runtime) -> None:
    adapters = rt.adapters

    async def client(alias: str) -> Any:
        assert adapters is not None  # the adapters stage runs first; the config checked the alias
        return adapters.redis(alias)

    manager = LockManager(client, cluster_socket=socket_path(rt.environ))
    rt.shutdown.register_resource("locks", manager.close)  # first: a failure below still closes what opened
    for name, app in rt.apps.items():
        app.lock = await manager.open(name, rt.config.apps[name].settings.get("lock", DEFAULT))
