"""Boot stage "workers" (after "locks"): start the `workers` pools; every app's `app.workers`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mega.workers._registry import Workers

if TYPE_CHECKING:
    from mega.boot.runtime import Runtime


async def workers_stage(rt: Runtime) -> None:
    pools = rt.config.settings.get("workers") or {}
    if pools:
        from mega.workers._pool import start_pools  # multiprocessing: only for projects with pools

        workers = start_pools(pools, rt.root)
    else:
        workers = Workers({})
    rt.shutdown.register_resource("workers", workers.close)
    for app in rt.apps.values():
        app.workers = workers
