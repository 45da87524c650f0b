"""`Workers` (the project's pools, `ctx.workers`) and `WorkerError`: what every boot needs, without the
pool machinery (multiprocessing), which is imported only when `workers` declares a pool."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mega.errors import MegaError

if TYPE_CHECKING:
    from mega.workers._pool import WorkerPool


class WorkerError(MegaError):
    default_code = "worker.task_failed"


class Workers:
    """The project's pools: `workers.resize` (attribute), `workers["resize"]`, `stats()`, `close()`."""

    def __init__(self, pools: dict[str, WorkerPool]) -> None:
        self._pools = pools

    def __getattr__(self, name: str) -> WorkerPool:
        if name.startswith("__"):
            raise AttributeError(name)
        return self[name]

    def __getitem__(self, name: str) -> WorkerPool:
        pool = self._pools.get(name)
        if pool is None:
            listed = ", ".join(sorted(self._pools)) or "(none)"
            raise WorkerError("worker.not_found", f"no worker pool named {name!r}",
                              details={"name": name, "workers": sorted(self._pools)}, status=500,
                              hint=f"pools: {listed}; declare it in mega_config.py: "
                                   f"workers = {{{name!r}: {{'handler': 'app.workers.{name}:run'}}}}")
        return pool

    def __contains__(self, name: str) -> bool:
        return name in self._pools

    @property
    def names(self) -> list[str]:
        return sorted(self._pools)

    def stats(self) -> dict[str, dict[str, Any]]:
        return {name: pool.stats() for name, pool in self._pools.items()}

    async def close(self) -> None:
        for pool in self._pools.values():
            await pool.close()
