"""CPU pools declared in `workers` (mega_config.py): `await ctx.workers.<name>.run(payload)`.

See docs/reference/workers.md. Names are imported on first use: a project without pools never imports
the pool machinery (multiprocessing).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mega._lazy import lazy_getattr

_EXPORTS = {
    "PoolSettings": "mega.workers._settings",
    "WorkerError": "mega.workers._registry",
    "WorkerPool": "mega.workers._pool",
    "Workers": "mega.workers._registry",
}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy_getattr(__name__, _EXPORTS)

if TYPE_CHECKING:
    from mega.workers._pool import WorkerPool as WorkerPool
    from mega.workers._registry import WorkerError as WorkerError
    from mega.workers._registry import Workers as Workers
    from mega.workers._settings import PoolSettings as PoolSettings
