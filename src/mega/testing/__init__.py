"""Test helpers: boot a project directory in-process and talk to it over ASGI with httpx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from mega.boot._loader import forget_project_modules
from mega.boot.stages import Runtime, boot
from mega.errors import MegaError
from mega.testing._client import AppClient
from mega.testing._live import LiveServer, live_server

__all__ = ["AppClient", "LiveServer", "boot_for_test", "live_server", "make_client", "running",
           "write_project"]


def write_project(root: str | Path, files: Mapping[str, str]) -> Path:
    """Write a project from {relative path: source} (sources are dedented); returns the root."""
    import textwrap

    base = Path(root)
    for rel, text in files.items():
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return base


async def boot_for_test(root: str | Path, *, environ: Mapping[str, str] | None = None,
                       overrides: dict[str, Any] | None = None, env: str = "test") -> Runtime:
    """Boot the project under `root` for a test (env 'test' unless MEGA_ENV says otherwise)."""
    import os

    base = dict(os.environ if environ is None else environ)
    base.setdefault("MEGA_ENV", env)
    forget_project_modules()
    return await boot(root, environ=base, overrides=overrides)


@asynccontextmanager
async def running(root: str | Path, **kwargs: Any) -> AsyncIterator[Runtime]:
    """`async with running(path) as rt:` boots, yields, and always shuts the project down."""
    rt = await boot_for_test(root, **kwargs)
    try:
        yield rt
    finally:
        await rt.close()
        forget_project_modules()


def make_client(runtime: Runtime, *, host: str = "testserver", **kwargs: Any) -> AppClient:
    """An httpx client over ASGI; `host` selects the app on a multi-app project.
    `client.websocket_connect(path, host=, cookies=, origin=)` opens a socket to a channel."""
    if runtime.host is None:
        raise MegaError("app.not_initialized", f"the runtime of {runtime.root} has no apps to call",
                        hint="pass the runtime that running() or boot_for_test() returned")
    return AppClient(runtime, host=host, **kwargs)
