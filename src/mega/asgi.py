"""An ASGI entry point for servers that import the app themselves (granian, hypercorn, uvicorn CLI).

    granian --interface asgi "mega.asgi:app"      # project root = MEGA_ROOT or the current directory

The project boots on the server's lifespan startup and shuts down on lifespan shutdown.
`mega start` does not use this module: it boots first, so boot errors are reported before binding.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mega.boot._host import Host
from mega.boot.runtime import Runtime
from mega.boot.stages import boot
from mega.http._lifespan import run_lifespan


class LazyProject:
    """ASGI callable that boots the project on lifespan startup, then delegates to its Host."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root or os.environ.get("MEGA_ROOT", ".")).resolve()
        self.runtime: Runtime | None = None
        self._host: Host | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        host = self._host
        if host is not None and scope["type"] != "lifespan":
            await host(scope, receive, send)
            return
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        raise RuntimeError("mega.asgi: the server did not run the lifespan protocol; enable lifespan")

    async def _lifespan(self, receive: Any, send: Any) -> None:
        await run_lifespan(receive, send, startup=self._boot, shutdown=self._close)

    async def _boot(self) -> None:
        self.runtime = await boot(self.root)
        self._host = self.runtime.host

    async def _close(self) -> None:
        if self.runtime is not None:
            await self.runtime.close()


def create_app(root: str | Path | None = None) -> LazyProject:
    return LazyProject(root)


app = LazyProject()
