"""The ASGI lifespan protocol, in one loop for every callable mega hands a server."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger("mega.asgi")

Hook = Callable[[], Awaitable[Any]]


async def run_lifespan(receive: Any, send: Any, *, startup: Hook | None = None,
                       shutdown: Hook | None = None) -> None:
    """Answer lifespan messages until shutdown; `startup` failing reports `startup.failed` and ends.
    Without hooks it only acknowledges (the project booted before the server started)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if startup is not None:
                try:
                    await startup()
                except Exception as exc:
                    log.error("%s", exc)
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if shutdown is not None:
                await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
