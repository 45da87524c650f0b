"""CPU pools declared in `workers` (mega_config.py): `await ctx.workers.<name>.run(payload)`.

See docs/reference/workers.md.
"""

from mega.workers._pool import WorkerError, WorkerPool, Workers
from mega.workers._settings import PoolSettings

__all__ = ["PoolSettings", "WorkerError", "WorkerPool", "Workers"]
