"""The routes file of the shutdown tests (`mega start`, `mega worker`, `mega scheduler`): it registers
shutdown hooks that write their names to `<project>/hooks.txt`, so a test reads which ran, in order.

A hook named `hang` sleeps 120 s (it is async: a timeout cuts it), `boom` raises; any other name only
writes itself."""

from __future__ import annotations

from collections.abc import Sequence

_PRELUDE = '''
import asyncio
from pathlib import Path

import mega

HOOKS = Path(__file__).resolve().parents[3] / "hooks.txt"


def _write(line):
    with HOOKS.open("a") as fh:
        fh.write(line + "\\n")


def hook(name):
    if name == "hang":
        async def hang():
            _write("hang")
            await asyncio.sleep(120)
            _write("hang-finished")
        return hang

    def run():
        _write(name)
        if name == "boom":
            raise RuntimeError("hook bug")
    return run
'''


def hooks_routes(hooks: Sequence[tuple[str, int, str | float | None]], *, handlers: str = "",
                 mounts: Sequence[str] = (), register_once: bool = False) -> str:
    """A routes file that registers `hooks`, each (name, order, timeout or None), then runs the `mounts`
    lines (`router.get("/work", work)`) in `routes(router)`; `handlers` is code put above it.

    `register_once`: register only while no app is registered yet (a process that loads routes again)."""
    calls = [f"mega.shutdown.register({name!r}, hook({name!r}), order={order}"
             + ("" if timeout is None else f", timeout={timeout!r}") + ")" for name, order, timeout in hooks]
    body = ["if not mega.has_app():", *(f"    {c}" for c in calls)] if register_once else calls
    lines = "".join(f"    {line}\n" for line in [*body, *mounts])
    return f"{_PRELUDE}\n{handlers}\n\ndef routes(router):\n{lines}"
