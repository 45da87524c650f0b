"""Boot stage "workers" (after "locks"): start the `workers` pools; every app's `app.workers`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mega.workers._pool import Workers, start_pools

if TYPE_CHECKING:
    from mega.boot.runtime import Runtime


async def workers_stage(rt: Runtime) -> None:
    pools = rt.config.settings.get("workers") or {}
    workers = start_pools(pools, rt.root) if pools else Workers({})
    rt.shutdown.register_resource("workers", workers.close)
    for app in rt.apps.values():
        app.workers = workers
