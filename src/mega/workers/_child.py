"""The loop of a pool's process: receive a pickled payload, call the handler, send the outcome back."""

from __future__ import annotations

import asyncio
import importlib
import inspect
import pickle
import signal
import sys
import traceback
from multiprocessing.connection import Connection
from typing import Any


def load(module: str, attr: str) -> Any:
    return getattr(importlib.import_module(module), attr)


def outcome(fn: Any, payload: Any) -> tuple[Any, ...]:
    """("ok", result) or ("err", exception type name, message, traceback)."""
    try:
        result = fn(payload)
        if inspect.isawaitable(result):
            result = asyncio.run(_wait(result))
        return ("ok", result)
    except Exception as exc:
        return ("err", type(exc).__name__, str(exc), traceback.format_exc()[-4000:])


async def _wait(awaitable: Any) -> Any:
    return await awaitable


def main(conn: Connection, module: str, attr: str, paths: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops the pool
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    fn = load(module, attr)
    try:
        conn.send_bytes(pickle.dumps(("ready",)))
    except (EOFError, OSError):  # the pool closed while this process started
        return
    while True:
        try:
            data = conn.recv_bytes()
        except (EOFError, OSError):
            return
        result = outcome(fn, pickle.loads(data))
        try:
            out = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            out = pickle.dumps(("err", "ResultNotSerializable", f"the result cannot be pickled: {exc}", ""))
        try:
            conn.send_bytes(out)
        except (EOFError, OSError):
            return
