"""CPU pools: `await ctx.workers.resize.run(payload)` runs the pool's handler in another process (or
thread) so the event loop keeps serving.

Process pools supervise their own processes (forkserver where available, else spawn): one pipe per
process, one call at a time on it. A process that dies fails only the call it was running
(`worker.crashed`) and is replaced; a call past its timeout kills its process (`worker.timeout`),
which is replaced too. A bare `ProcessPoolExecutor` would instead mark the whole pool broken after one
child died. Thread pools run the handler on their own threads; a call past its timeout is answered
`worker.timeout` and its result dropped (a thread cannot be killed), its thread stays busy until the
handler returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
import multiprocessing
import os
import pickle
import signal
import sys
import types
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from mega.errors import MegaError
from mega.workers import _child
from mega.workers._registry import WorkerError, Workers
from mega.workers._settings import PoolSettings

__all__ = ["WorkerError", "WorkerPool", "Workers", "resolve_handler"]

log = logging.getLogger("mega.workers")

START_TIMEOUT = 60.0  # seconds a new process may take to start and import the handler


def resolve_handler(handler: str, root: Path | None) -> tuple[str, str]:
    """(module, function) of "main.workers.resize:run": `apps.main.workers.resize` when the project has
    that file, else the module as written. `worker.invalid_config` when it does not import or lacks it."""
    module, _, attr = handler.partition(":")
    candidates = [module]
    if root is not None and (root / "apps" / Path(*module.split("."))).with_suffix(".py").is_file():
        candidates.insert(0, f"apps.{module}")
    for name in candidates:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            continue
        try:
            fn = getattr(importlib.import_module(name), attr, None)
        except Exception as exc:
            raise MegaError("worker.invalid_config", f"worker handler {handler!r}: importing {name} failed: "
                            f"{type(exc).__name__}: {exc}", details={"handler": handler}) from exc
        if not callable(fn):
            raise MegaError("worker.invalid_config", f"worker handler {handler!r}: {name} has no function "
                            f"{attr!r}", details={"handler": handler}, hint=f"def {attr}(payload): ...")
        return name, attr
    raise MegaError("worker.invalid_config", f"worker handler {handler!r}: no module {module!r}",
                    details={"handler": handler},
                    hint="write it from the app folder ('main.workers.resize:run' is "
                         "apps/main/workers/resize.py) or as an importable module")


def _context() -> Any:
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    return multiprocessing.get_context(method)


@contextlib.contextmanager
def _no_main() -> Iterator[None]:
    """Start processes as if `__main__` were no script: spawn and forkserver would otherwise import
    the caller's main module again in every child (a script without a `__main__` guard would recurse,
    and a large one costs its import)."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if main is not None:
            sys.modules["__main__"] = main


async def _receive(proc: _Proc) -> bytes | None:
    """The next message from the process; None when it died (EOF)."""
    loop = asyncio.get_running_loop()
    reply: asyncio.Future[bytes | None] = loop.create_future()
    fd = proc.conn.fileno()

    def readable() -> None:
        loop.remove_reader(fd)
        if reply.done():
            return
        try:
            reply.set_result(proc.conn.recv_bytes())
        except (EOFError, OSError):
            reply.set_result(None)

    loop.add_reader(fd, readable)
    try:
        return await reply
    finally:
        loop.remove_reader(fd)


class _Proc:
    __slots__ = ("conn", "process", "ready")

    def __init__(self, process: Any, conn: Connection) -> None:
        self.process = process
        self.conn = conn
        self.ready = False  # True once it said it loaded the handler

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            if self.process.is_alive():
                os.kill(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            self.conn.close()
        with contextlib.suppress(Exception):
            self.process.join(timeout=1)


class WorkerPool:
    """One named pool. `await run(payload)`, `stats()`, `await close()`."""

    def __init__(self, settings: PoolSettings, *, root: Path | None = None) -> None:
        self.settings = settings
        self.name = settings.name
        self.kind = settings.kind
        self._module, self._attr = resolve_handler(settings.handler, root)
        self._paths = [str(root)] if root is not None else []
        self._closed = False
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._idle: deque[Any] = deque()  # _Proc (process) or True (a free thread slot)
        self._procs: set[_Proc] = set()
        self._busy = 0
        self._executor: ThreadPoolExecutor | None = None
        self._fn: Any = None
        self.counts = {"completed": 0, "failed": 0, "timeouts": 0, "crashes": 0, "restarts": 0,
                       "rejected": 0}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        if self.kind == "thread":
            self._fn = _child.load(self._module, self._attr)
            self._executor = ThreadPoolExecutor(self.settings.size,
                                                thread_name_prefix=f"mega-worker-{self.name}")
            self._idle.extend([True] * self.settings.size)
            return
        for _ in range(self.settings.size):
            self._idle.append(self._spawn())

    def _spawn(self) -> _Proc:
        ours, theirs = multiprocessing.Pipe(duplex=True)
        process = _context().Process(target=_child.main, args=(theirs, self._module, self._attr, self._paths),
                                     name=f"mega-worker-{self.name}", daemon=True)
        with _no_main():
            process.start()
        theirs.close()
        proc = _Proc(process, ours)
        self._procs.add(proc)
        return proc

    async def close(self) -> None:
        """Refuse new calls (`worker.closed`), fail the waiting ones, stop the processes."""
        if self._closed:
            return
        self._closed = True
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(self._closed_error())
        for proc in list(self._procs):
            with contextlib.suppress(Exception):
                proc.conn.close()  # the child sees EOF and exits
        for proc in list(self._procs):
            await asyncio.to_thread(proc.process.join, 2)
            proc.kill()
        self._procs.clear()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # -- calls -------------------------------------------------------------------------------

    async def run(self, payload: Any) -> Any:
        """The handler's result for `payload`, computed in the pool."""
        if self._closed:
            raise self._closed_error()
        data = b""
        if self.kind == "process":
            try:
                data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
            except Exception as exc:
                raise WorkerError("worker.payload_not_serializable", f"worker '{self.name}': the payload "
                                  f"cannot be pickled for another process: {type(exc).__name__}: {exc}",
                                  details={"worker": self.name}, status=500,
                                  hint="send plain data (dicts, lists, str, bytes, numbers); open files, "
                                       "sockets, locks and lambdas do not cross processes") from exc
        slot = await self._take()
        try:
            if self.kind == "thread":
                return await self._run_thread(payload)
            return await self._run_process(slot, data)
        finally:
            if self.kind == "process" and slot in self._procs:
                self._give(slot)

    async def _take(self) -> Any:
        if self._idle:
            self._busy += 1
            return self._idle.popleft()
        if len(self._waiters) >= self.settings.max_queue:
            self.counts["rejected"] += 1
            raise WorkerError("worker.queue_full", f"worker '{self.name}': all {self.settings.size} busy and "
                              f"{len(self._waiters)} call(s) waiting (max_queue {self.settings.max_queue})",
                              details={"worker": self.name, "size": self.settings.size,
                                       "max_queue": self.settings.max_queue}, status=503,
                              hint="retry later, or raise workers.<name>.size / max_queue")
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            slot = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._give(waiter.result())  # handed over, then cancelled: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise
        return slot

    def _give(self, slot: Any) -> None:
        """Hand a free slot to the first waiter, else make it idle."""
        self._busy -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._busy += 1
                waiter.set_result(slot)
                return
        self._idle.append(slot)

    async def _run_process(self, proc: _Proc, data: bytes) -> Any:
        if not proc.ready:  # a new process: its start and imports do not count against the call's timeout
            try:
                async with asyncio.timeout(START_TIMEOUT):
                    ready = await _receive(proc)
            except TimeoutError:
                ready = None
            except asyncio.CancelledError:
                self._replace(proc)
                raise
            if ready is None:
                return await self._crashed(proc)
            proc.ready = True
        try:
            proc.conn.send_bytes(data)
        except (OSError, ValueError):
            return await self._crashed(proc)
        timeout = self.settings.timeout or None
        try:
            async with asyncio.timeout(timeout):
                raw = await _receive(proc)
        except TimeoutError:
            self.counts["timeouts"] += 1
            self._replace(proc)
            raise WorkerError("worker.timeout", f"worker '{self.name}': the call ran past its timeout of "
                              f"{self.settings.timeout:g} s; its process was stopped and replaced",
                              details={"worker": self.name, "timeout": self.settings.timeout}, status=504,
                              hint="raise workers.<name>.timeout, or split the work") from None
        except asyncio.CancelledError:
            self._replace(proc)  # the process is mid-call: a fresh one serves the next caller
            raise
        if raw is None:
            return await self._crashed(proc)
        return self._outcome(pickle.loads(raw))

    async def _crashed(self, proc: _Proc) -> Any:
        code = proc.process.exitcode
        if code is None:
            await asyncio.to_thread(proc.process.join, 1)
            code = proc.process.exitcode
        self.counts["crashes"] += 1
        self._replace(proc)
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        raise WorkerError("worker.crashed", f"worker '{self.name}': its process died during the call "
                          f"({how}); a new process took its place",
                          details={"worker": self.name, "exitcode": code},
                          status=500,
                          hint="only this call failed: look for os._exit, a segfault or the OOM killer")

    def _replace(self, proc: _Proc) -> None:
        self._procs.discard(proc)
        proc.kill()
        self._busy -= 1
        if self._closed:
            return
        self.counts["restarts"] += 1
        try:
            fresh = self._spawn()
        except Exception:
            log.exception("worker '%s': starting a replacement process failed", self.name)
            return
        self._busy += 1
        self._give(fresh)

    async def _run_thread(self, payload: Any) -> Any:
        loop = asyncio.get_running_loop()
        assert self._executor is not None
        future = loop.run_in_executor(self._executor, _child.outcome, self._fn, payload)
        future.add_done_callback(lambda _: self._give(True))  # the slot frees when the thread does
        timeout = self.settings.timeout or None
        try:
            async with asyncio.timeout(timeout):
                result = await asyncio.shield(future)
        except TimeoutError:
            self.counts["timeouts"] += 1
            raise WorkerError("worker.timeout", f"worker '{self.name}': the call ran past its timeout of "
                              f"{self.settings.timeout:g} s; its result will be dropped (a thread cannot be "
                              "stopped)", details={"worker": self.name, "timeout": self.settings.timeout},
                              status=504,
                              hint="raise workers.<name>.timeout, or use kind 'process'") from None
        return self._outcome(result)

    def _outcome(self, result: tuple[Any, ...]) -> Any:
        if result[0] == "ok":
            self.counts["completed"] += 1
            return result[1]
        self.counts["failed"] += 1
        _, name, message, trace = result
        raise WorkerError("worker.task_failed", f"worker '{self.name}': the handler raised {name}: {message}",
                          details={"worker": self.name, "error": name}, dev_details={"traceback": trace},
                          status=500)

    def _closed_error(self) -> WorkerError:
        return WorkerError("worker.closed", f"worker '{self.name}' is closed (the app is shutting down)",
                           details={"worker": self.name}, status=503, hint="call workers while the app runs")

    def stats(self) -> dict[str, Any]:
        """`name`, `kind`, `size`, `busy`, `idle`, `queued`, `alive` (processes), and the counters
        `completed`, `failed`, `timeouts`, `crashes`, `restarts`, `rejected`."""
        alive = self.settings.size
        if self.kind == "process":
            alive = sum(1 for p in self._procs if p.process.is_alive())
        return {"name": self.name, "kind": self.kind, "size": self.settings.size, "busy": self._busy,
                "idle": len(self._idle), "queued": sum(1 for w in self._waiters if not w.done()),
                "alive": alive, "closed": self._closed, **self.counts}


def start_pools(pools: dict[str, PoolSettings], root: Path | None) -> Workers:
    """Start every pool (their processes boot meanwhile); on failure, stop the ones started."""
    started: dict[str, WorkerPool] = {}
    try:
        for name, settings in pools.items():
            pool = WorkerPool(settings, root=root)
            pool.start()
            started[name] = pool
    except BaseException:
        for pool in started.values():
            for proc in pool._procs:
                proc.kill()
        raise
    return Workers(started)


