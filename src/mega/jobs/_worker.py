"""`mega worker`: boot the project without HTTP and run its jobs until SIGTERM (or, with `burst`, until
the streams are empty).

SIGTERM (or Ctrl-C): stop fetching; in-flight jobs get `jobs.shutdown_timeout` seconds to finish, the
rest are nak'ed (redelivered at once to another worker); exit 0. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mega.boot.stages import boot
from mega.jobs._consumer import FETCH_WAIT, Consumer
from mega.jobs._errors import JobError
from mega.jobs._metrics import JobMetrics
from mega.jobs._settings import DEFAULT, JobsSettings
from mega.observe.probe_server import serve_probes

if TYPE_CHECKING:
    from mega.boot.runtime import Runtime

log = logging.getLogger("mega.jobs")

BURST_POLL = 0.5


def select_consumers(rt: Runtime, subjects: Sequence[str], metrics: JobMetrics) -> list[Consumer]:
    """A consumer per discovered job (or per `subjects`; an unknown one is `job.unknown_job`)."""
    found = {subject: (app, cls) for app in rt.apps.values() for subject, cls in app.jobs.jobs.items()}
    unknown = [s for s in subjects if s not in found]
    if unknown:
        raise JobError(
            "job.unknown_job",
            f"no job takes subject {unknown[0]!r}",
            details={"subject": unknown[0], "known": sorted(found)},
            hint=f"jobs: {', '.join(sorted(found)) or 'none (add classes in apps/<app>/jobs/)'}",
        )
    chosen = list(subjects) or list(found)
    return [Consumer(found[s][1], found[s][0].jobs, found[s][0], metrics) for s in chosen]


class Worker:
    def __init__(self, rt: Runtime, consumers: list[Consumer], metrics: JobMetrics) -> None:
        self.rt, self.consumers, self.metrics = rt, consumers, metrics
        self.settings: JobsSettings = rt.config.settings.get("jobs", DEFAULT)
        self.stop_requested = asyncio.Event()
        self.signals = 0
        self.stopping = False

    def ready(self) -> dict[str, Any]:
        unbound = [c.subject for c in self.consumers if not c.bound]
        if self.stopping:
            return {"ok": False, "reason": "draining"}
        if unbound:
            return {"ok": False, "reason": f"not bound yet: {', '.join(unbound)}"}
        return {"ok": True, "jobs": [c.subject for c in self.consumers]}

    def on_signal(self) -> None:
        self.signals += 1
        if self.signals > 1:
            log.warning("second signal: exiting now")
            os._exit(1)
        log.info("stopping: in-flight jobs get %gs", self.settings.shutdown_timeout)
        self.stop_requested.set()

    async def run(self, *, burst: bool = False) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.on_signal)
        self.rt.health.register("jobs", self.ready)
        loops = [loop.create_task(c.run()) for c in self.consumers]
        watcher = loop.create_task(self._burst()) if burst else None
        await self.stop_requested.wait()
        self.stopping = True
        self.rt.health.mark_draining()
        for c in self.consumers:
            c.stopping = True
        await asyncio.gather(*(c.stop(self.settings.shutdown_timeout) for c in self.consumers))
        if loops:  # none when the project has no jobs
            await asyncio.wait(loops, timeout=FETCH_WAIT + 1.0)  # a fetch in progress naks what it gets
        for task in [*loops, *([watcher] if watcher else [])]:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        return 0

    async def _burst(self) -> None:
        while True:
            await asyncio.sleep(BURST_POLL)
            if all(c.bound for c in self.consumers) and await self._empty():
                log.info("burst: the streams are empty, stopping")
                self.stop_requested.set()
                return

    async def _empty(self) -> bool:
        for c in self.consumers:
            if c.inflight or c.sub is None:
                return False
            try:
                info = await c.sub.consumer_info()
            except Exception as exc:
                log.debug("burst: consumer_info(%s) failed: %s", c.subject, exc)
                return False
            if info.num_pending or info.num_ack_pending:
                return False
        return True


async def serve_http(rt: Runtime, metrics: JobMetrics, port: int, host: str = "0.0.0.0") -> asyncio.Server:
    """`/health/live`, `/health/ready` and `/metrics` (the worker's counters, then the process's
    series when metrics are on)."""
    async def page() -> tuple[int, Any]:
        text = metrics.render().encode()
        return 200, text if rt.metrics is None else text + rt.metrics.render()

    return await serve_probes(host, port, {"/health/live": rt.health.live, "/health/ready": rt.health.ready,
                                           "/metrics": page})


async def run_worker(
    root: Path, subjects: Sequence[str], *, http_port: int | None = None, burst: bool = False
) -> int:
    rt = await boot(root)
    server = None
    try:
        metrics = JobMetrics()
        worker = Worker(rt, select_consumers(rt, subjects, metrics), metrics)
        if http_port is not None:
            server = await serve_http(rt, metrics, http_port)
        log.info(
            "worker: %d job(s): %s", len(worker.consumers), ", ".join(c.subject for c in worker.consumers)
        )
        return await worker.run(burst=burst)
    finally:
        if server is not None:
            server.close()
        await rt.close()
