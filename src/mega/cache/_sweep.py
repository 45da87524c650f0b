"""A periodic background job (expired-entry sweeps) tied to an adapter's connection."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("mega.cache")


def start_sweeper(interval: float, sweep: Callable[[], Awaitable[int]], label: str) -> asyncio.Task[None]:
    """Run `sweep` every `interval` seconds until the task is cancelled (at disconnect).

    An asyncio task never keeps the process alive; a failed sweep is logged and retried next time.
    """

    async def loop() -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                removed = await sweep()
            except Exception:
                log.exception("%s: expiry sweep failed", label)
            else:
                if removed:
                    log.debug("%s: swept %d expired entries", label, removed)

    return asyncio.get_running_loop().create_task(loop(), name=f"mega-sweep:{label}")


async def stop_sweeper(task: asyncio.Task[None] | None) -> None:
    if task is None or task.done():
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():  # we are being cancelled ourselves
            raise
