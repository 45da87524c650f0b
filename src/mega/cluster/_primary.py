"""The cluster primary: binds the port once, starts N workers sharing it, replaces the ones that
exit, sums their metrics, hosts the cluster lock and bus, and stops them all on SIGTERM/SIGINT.

It serves no HTTP itself. Each worker is `mega start` run again with its control channel and the
listening socket inherited (docs/adr/0031-cluster-mode.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import itertools
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from mega.cluster._metrics import Totals, render
from mega.cluster._settings import ClusterSettings
from mega.cluster._slots import Slot, Worker, exit_status
from mega.cluster._wire import read_message, write_message
from mega.cluster._worker import CONTROL_FD_VAR, LISTEN_FD_VAR, REUSEPORT_VAR
from mega.errors import MegaError

__all__ = ["LISTEN_MODE_VAR", "Primary", "run_cluster"]

log = logging.getLogger("mega.cluster")
LISTEN_MODE_VAR = "MEGA_CLUSTER_LISTEN"  # "reuseport" (default) or "inherit": for measurements only
SOCKET_VAR = "MEGA_CLUSTER_SOCKET"


class Primary:
    """One cluster: `await Primary(...).run()` returns the exit code once every worker is gone."""

    def __init__(self, root: Path, *, host: str, port: int, count: int, shutdown_timeout: float,
                 settings: ClusterSettings, debug: bool = False) -> None:
        self.root = root
        self.host = host
        self.port = port
        self.slots = [Slot(n) for n in range(1, count + 1)]
        self.shutdown_timeout = shutdown_timeout
        self.settings = settings
        self.debug = debug
        self.mode = "inherit" if os.environ.get(LISTEN_MODE_VAR) == "inherit" else "reuseport"
        self.stopping = False
        self.retired = Totals()  # the summed metrics of workers that exited
        self.failure: tuple[int, str, str, str] | None = None  # slot, stage, message, exit status
        self._signal = signal.SIGTERM
        self._changed = asyncio.Event()
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._ids = itertools.count(1)
        self._sock: socket.socket | None = None
        self._tmp: str | None = None
        self._ipc_host: Any = None
        self.socket_path: str | None = None

    # -- life ----------------------------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._sock = self._bind()
        self._tmp = tempfile.mkdtemp(prefix="mega-cluster-")
        try:
            await self._start_ipc_host()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._on_signal, sig)
            for slot in self.slots:
                await self._spawn(slot)
            if await self._started():
                log.info("cluster primary %d started %d worker(s) on http://%s:%s", os.getpid(),
                         len(self.slots), self.host, self.port)
                await self._stop.wait()
        finally:
            await self._shutdown()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        if self.failure is not None:
            raise self._boot_failed(*self.failure)
        return 0

    @staticmethod
    def _boot_failed(number: int, stage: str, message: str, status: str) -> MegaError:
        where = f"failed to boot at stage '{stage}'" if stage else f"exited before it was ready ({status})"
        text = f"cluster: worker {number} {where}: {message}".rstrip(": ")
        return MegaError("cluster.worker_boot_failed", text,
                         hint="fix the error above (each worker boots the whole project), then start again",
                         details={"worker": number, "stage": stage, "status": status})

    def _bind(self) -> socket.socket:
        from mega.boot.stages import BootError
        from mega.server._listen import bind_socket

        try:
            if self.mode == "reuseport":
                return _hold_port(self.host, self.port)
            return bind_socket(self.host, self.port)
        except MegaError as exc:
            raise BootError("listen", exc) from exc

    async def _start_ipc_host(self) -> None:
        """The `cluster` lock and bus host, when that package is installed."""
        try:
            ipc = importlib.import_module("mega.cluster.ipc")
        except ImportError:
            log.debug("mega.cluster.ipc is not built: no cluster lock or bus host")
            return
        assert self._tmp is not None
        self.socket_path = os.path.join(self._tmp, "host.sock")
        self._ipc_host = ipc.ClusterHost(self.socket_path)
        await self._ipc_host.start()

    async def _started(self) -> bool:
        """Wait until every slot's first worker is ready (True), or one failed or a signal came."""
        while True:
            if self.failure is not None or self.stopping:
                return False
            if all(slot.served for slot in self.slots):
                return True
            self._changed.clear()
            await self._changed.wait()

    def _on_signal(self, sig: int) -> None:
        name = signal.Signals(sig).name
        if self.stopping:
            log.warning("second %s: exiting at once", name)
            for worker in self._live():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(worker.pid, sig)
            logging.shutdown()
            os._exit(1)
        log.info("%s received: stopping %d worker(s)", name, len(self._live()))
        self._signal = signal.Signals(sig)
        self.stopping = True
        self._stop.set()
        self._changed.set()

    async def _shutdown(self) -> None:
        """Forward the signal, wait for the workers' drain, kill stragglers, run this process's hooks,
        close the lock and bus host last."""
        from mega import shutdown

        self.stopping = True
        live = self._live()
        for worker in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, self._signal)
        limit = self.shutdown_timeout + self.settings.stop_grace
        if live:
            await asyncio.wait([asyncio.ensure_future(w.proc.wait()) for w in live], timeout=limit)
        for worker in live:
            if worker.proc.returncode is None:
                log.warning("cluster: worker %d (pid %d) still running %gs after %s: killed", worker.slot,
                            worker.pid, limit, self._signal.name)
                with contextlib.suppress(ProcessLookupError):
                    worker.proc.kill()
                await worker.proc.wait()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        outcomes = await shutdown.registry.run()
        failed = [name for name, outcome in outcomes if outcome != "ok"]
        if self._ipc_host is not None:
            try:
                await self._ipc_host.close()
            except Exception as exc:
                log.error("cluster: closing the lock and bus host failed", exc_info=exc)
        if self._sock is not None:
            self._sock.close()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
        log.info("cluster primary %d: shutdown complete%s", os.getpid(),
                 f" ({len(failed)} hook(s) failed: {', '.join(failed)})" if failed else "")

    # -- workers -------------------------------------------------------------------------------

    def _live(self) -> list[Worker]:
        return [slot.worker for slot in self.slots if slot.worker is not None]

    def _task(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _command(self) -> list[str]:
        return [sys.executable, "-m", "mega.cli.main", "--root", str(self.root),
                *(["--debug"] if self.debug else []), "start", "--host", self.host, "--port", str(self.port)]

    async def _spawn(self, slot: Slot) -> None:
        assert self._sock is not None
        mine, theirs = socket.socketpair()
        env = dict(os.environ)
        env.update({"MEGA_WORKER_ID": str(slot.number), CONTROL_FD_VAR: str(theirs.fileno())})
        fds = [theirs.fileno()]
        if self.mode == "reuseport":
            env[REUSEPORT_VAR] = "1"
        else:
            env[LISTEN_FD_VAR] = str(self._sock.fileno())
            fds.append(self._sock.fileno())
        if self.socket_path is not None:
            env[SOCKET_VAR] = self.socket_path
        try:
            proc = await asyncio.create_subprocess_exec(*self._command(), env=env, pass_fds=fds,
                                                        start_new_session=True)
        finally:
            theirs.close()
        reader, writer = await asyncio.open_unix_connection(sock=mine)
        worker = slot.worker = Worker(slot.number, proc, reader, writer)
        log.info("cluster: worker %d started (pid %d)", slot.number, proc.pid)
        self._task(self._listen(worker))
        self._task(self._watch(slot, worker))

    async def _listen(self, worker: Worker) -> None:
        while (message := await read_message(worker.reader)) is not None:
            op = message.get("op")
            if op == "ready":
                worker.ready = True
                self.slots[worker.slot - 1].served = True
                self._changed.set()
            elif op == "families":
                worker.families = message["families"]
                future = worker.pending.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(None)
            elif op == "scrape":
                self._task(self._answer_scrape(worker, message["id"]))
            elif op == "boot_failed":
                worker.boot_failure = (str(message.get("stage", "")), str(message.get("message", "")))

    async def _watch(self, slot: Slot, worker: Worker) -> None:
        code = await worker.proc.wait()
        if slot.worker is worker:
            slot.worker = None
        self.retired.add(worker.families or [])
        for future in worker.pending.values():
            future.cancel()
        worker.writer.close()
        status = exit_status(code)
        self._changed.set()
        if self.stopping:
            log.info("cluster: worker %d (pid %d) stopped (%s)", worker.slot, worker.pid, status)
            return
        if not slot.served:  # its first start failed: no restart loop
            stage, message = worker.boot_failure or ("", "")
            self.failure = (worker.slot, stage, message, status)
            log.error("cluster: worker %d (pid %d) failed on its first start (%s)%s: stopping the cluster",
                      worker.slot, worker.pid, status, f" at stage '{stage}'" if stage else "")
            self._stop.set()
            return
        slot.restarts += 1
        delay = slot.next_delay(time.monotonic() - worker.started, self.settings)
        if delay:
            log.error("cluster.crash_loop: worker %d (pid %d) exited (%s), %d times in %gs: restarting it "
                      "in %gs", worker.slot, worker.pid, status, len(slot.crashes),
                      self.settings.crash_loop_window, delay)
            await asyncio.sleep(delay)
            if self.stopping:
                return
        else:
            log.warning("cluster: worker %d (pid %d) exited unexpectedly (%s): replacing it", worker.slot,
                        worker.pid, status)
        await self._spawn(slot)

    # -- metrics -------------------------------------------------------------------------------

    async def _answer_scrape(self, asker: Worker, ident: int) -> None:
        text = await self.scrape()
        if not asker.writer.is_closing():
            write_message(asker.writer, {"op": "scraped", "id": ident, "text": text.decode()})

    async def scrape(self) -> bytes:
        """The whole cluster's metrics: each live worker asked, waiting at most `scrape_timeout`; a
        worker too slow counts with the numbers it last gave."""
        live = [w for w in self._live() if w.ready]
        loop = asyncio.get_running_loop()
        asked: list[asyncio.Future[None]] = []
        for worker in live:
            ident = next(self._ids)
            future: asyncio.Future[None] = loop.create_future()
            worker.pending[ident] = future
            asked.append(future)
            write_message(worker.writer, {"op": "collect", "id": ident})
        if asked:
            await asyncio.wait(asked, timeout=self.settings.scrape_timeout)
        for worker in live:  # the ones that did not answer in time: their answer is dropped
            for key in [k for k, f in worker.pending.items() if f in asked]:
                worker.pending.pop(key).cancel()
        totals = Totals()
        for worker in live:
            if worker.families is not None:
                totals.add(worker.families, worker=str(worker.slot))
        metrics = list(totals.merged(self.retired).metrics())
        running = GaugeMetricFamily("mega_cluster_workers", "Worker processes running now",
                                    value=len(self._live()))
        restarts = CounterMetricFamily("mega_cluster_worker_restarts", "Workers replaced after an unexpected "
                                       "exit, by slot", labels=["worker"])
        for slot in self.slots:
            restarts.add_metric([str(slot.number)], slot.restarts)
        return render([*metrics, running, restarts])


def _hold_port(host: str, port: int) -> socket.socket:
    """SO_REUSEPORT mode: claim the port (bound, not listening); each worker listens on its own socket
    in the port's group. A first bind without SO_REUSEPORT fails on any socket already there (another
    cluster's included), as a plain server's would."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for reuse in (False, True):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise _bind_error(host, port, exc) from exc
        if not reuse:
            sock.close()
    return sock


def _bind_error(host: str, port: int, exc: OSError) -> MegaError:
    import errno

    if exc.errno == errno.EADDRINUSE:
        return MegaError("server.port_in_use", f"port {port} on {host} is already in use",
                         hint="stop the other server, or choose another port with --port or PORT",
                         details={"host": host, "port": port})
    return MegaError("server.bind_failed", f"cannot listen on {host}:{port}: {exc.strerror}",
                     details={"host": host, "port": port})


def run_cluster(root: Path, *, host: str | None, port: int | None, count: int, debug: bool = False) -> int:
    """`mega start` in cluster mode: read the config (as each worker will), then run the primary."""
    from mega.config import load_dotenv_file, load_project_config
    from mega.observe.logging import configure_logging

    environ = dict(os.environ)
    load_dotenv_file(root, environ)
    config = load_project_config(root, environ=environ)
    server, logger = config.values["server"], config.values["logger"]
    metrics = config.settings.get("metrics")
    if metrics is not None and metrics.enabled and metrics.port is not None:
        text = f"metrics.port ({metrics.port}) cannot be used in cluster mode: every worker would bind it"
        raise MegaError("cluster.metrics_port", text, details={"port": metrics.port},
                        hint="remove metrics.port: /metrics on the main port answers for the whole cluster")
    configure_logging(level=logger["level"], fmt=logger["format"], sinks=logger["sinks"], environ=environ)
    settings: ClusterSettings = config.settings.get("cluster") or ClusterSettings()
    primary = Primary(root, host=host or server["host"], port=port or int(server["port"]), count=count,
                      shutdown_timeout=float(server["shutdown_timeout"]), settings=settings, debug=debug)
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is a dependency on POSIX
        runner = asyncio.run
    code: int = runner(primary.run())
    sys.stdout.flush()
    return code
