"""One durable pull consumer per job subject, and how each delivery is run, settled and reported.

A delivery: decode, `start`, run with in-process retries under the run timeout while an in-progress
signal renews the lease every `jobs.heartbeat`; success acks (`done`), failure goes to the DLQ. The
message is settled (ack or nak) before the event fires. A worker whose lease lapsed (it was paused
past `ack_wait`) settles nothing: the redelivery owns the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import traceback
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import nats.errors as nerr
from nats.js import api
from nats.js import errors as jserr

from mega.app.ctx import Ctx
from mega.bus import codec
from mega.errors import MegaError
from mega.jobs._errors import decode_failed, run_timeout
from mega.jobs._metrics import JobMetrics
from mega.jobs._retry import run_with_retries
from mega.jobs._streams import DURABLE, dlq_subject
from mega.jobs.job import Job, JobInfo

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

    from mega.app.app import MegaApp
    from mega.jobs._queue import JobQueue

log = logging.getLogger("mega.jobs")

DLQ_MAX_STACK = 4000
DLQ_RETRY_WAITS = (0.25, 1.0)
NAK_DELAY_MAX = 30.0
FETCH_WAIT = 1.0
MAX_FETCHERS = 64  # fetch loops per process; a higher concurrency needs more processes to fill it


class _Lease:
    """One delivery's lease: when it was last renewed, and whether it is still ours."""

    __slots__ = ("ack_wait", "msg", "renewed")

    def __init__(self, msg: Msg, ack_wait: float) -> None:
        self.msg, self.ack_wait = msg, ack_wait
        self.renewed = time.monotonic()

    @property
    def lapsed(self) -> bool:
        return time.monotonic() - self.renewed > self.ack_wait


class _Heartbeat:
    """One task per consumer sends the in-progress signal of every delivery in flight each `heartbeat`
    (not a task per message). A lease that lapsed (the process was paused past ack_wait) is not renewed:
    the server has redelivered it, and renewing now would take it back from the redelivery."""

    def __init__(self, heartbeat: float, ack_wait: float) -> None:
        self.heartbeat, self.ack_wait = heartbeat, ack_wait
        self.leases: set[_Lease] = set()
        self.task: asyncio.Task[None] | None = None

    def hold(self, msg: Msg) -> _Lease:
        lease = _Lease(msg, self.ack_wait)
        self.leases.add(lease)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._beat())
        return lease

    def release(self, lease: _Lease) -> None:
        self.leases.discard(lease)

    async def _beat(self) -> None:
        while self.leases:
            await asyncio.sleep(self.heartbeat)
            for lease in list(self.leases):
                if lease not in self.leases or lease.lapsed:
                    continue
                try:
                    await lease.msg.in_progress()
                    lease.renewed = time.monotonic()
                except (nerr.Error, OSError) as exc:
                    log.warning("job %s: in-progress signal failed: %s", lease.msg.subject, exc)


class Consumer:
    """Runs the jobs of one Job class from its work stream."""

    def __init__(self, job: type[Job], queue: JobQueue, app: MegaApp, metrics: JobMetrics) -> None:
        self.job, self.queue, self.app, self.metrics = job, queue, app, metrics
        self.settings = queue.settings
        self.subject = job.subject
        self.stream = ""
        self.sub: JetStreamContext.PullSubscription | None = None
        self.js: JetStreamContext | None = None
        self.inflight: dict[asyncio.Task[None], Msg] = {}
        self.stopping = False
        self.draining = False
        self.bound = False
        self._heartbeat = _Heartbeat(self.settings.heartbeat, self.settings.ack_wait)

    # -- binding and the fetch loop ----------------------------------------------------------

    async def bind(self) -> None:
        alias, js = self.queue.jetstream(self.job)
        self.js = js
        self.stream = await self.queue.streams.ensure(js, alias, self.subject)
        s = self.settings
        config = api.ConsumerConfig(
            durable_name=DURABLE,
            name=DURABLE,
            ack_policy=api.AckPolicy.EXPLICIT,
            ack_wait=s.ack_wait,
            max_deliver=s.max_deliver,
            max_ack_pending=self.job.concurrency,
            filter_subject=self.subject,
        )
        await js.add_consumer(self.stream, config=config)  # create, or update concurrency / ack_wait
        self.sub = await js.pull_subscribe_bind(DURABLE, stream=self.stream)
        self.bound = True

    async def run(self) -> None:
        """Fetch and run until `stop()`: one fetch loop per slot (at most MAX_FETCHERS per process)."""
        while self.sub is None and not self.stopping:
            try:
                await self.bind()
            except Exception as exc:
                await self._loop_error(exc)
        fetchers = min(self.job.concurrency, MAX_FETCHERS)
        await asyncio.gather(*(self._fetcher() for _ in range(fetchers)))

    async def _fetcher(self) -> None:
        """One slot: its own pull subscription, one message at a time. (nats-py's batch fetch long-polls
        until the whole batch is there, holding the first message: one long poll per slot instead.)"""
        assert self.js is not None
        sub: JetStreamContext.PullSubscription | None = None
        while not self.stopping:
            try:
                if sub is None:
                    sub = await self.js.pull_subscribe_bind(DURABLE, stream=self.stream)
                try:
                    msgs = await sub.fetch(1, timeout=FETCH_WAIT)
                except (TimeoutError, nerr.TimeoutError):
                    continue
                for msg in msgs:
                    await self._dispatch(msg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.stopping:
                    break
                await self._loop_error(exc)
        if sub is not None:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _dispatch(self, msg: Msg) -> None:
        if self.stopping:  # arrived after SIGTERM: give it back at once
            with contextlib.suppress(nerr.Error, OSError):
                await msg.nak()
            return
        task = asyncio.get_running_loop().create_task(self._handle(msg))
        self.inflight[task] = msg
        task.add_done_callback(self._finished)
        await asyncio.wait({task})  # a cancelled fetch loop leaves the run to stop()

    async def _loop_error(self, exc: Exception) -> None:
        log.warning("job %s: consume loop error: %s: %s", self.subject, type(exc).__name__, exc)
        self.metrics.count(self.subject, "loop_error")
        await self.queue.events.emit("fail", {"subject": self.subject, "phase": "consume-loop", "error": exc})
        await asyncio.sleep(1.0)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self.inflight.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("job %s: handler crashed", self.subject, exc_info=task.exception())

    async def stop(self, timeout: float) -> None:
        """Stop fetching; in-flight jobs get `timeout` seconds to finish, the rest are nak'ed."""
        self.stopping = True
        if self.inflight:
            await asyncio.wait(list(self.inflight), timeout=timeout)
        self.draining = True
        left = list(self.inflight)
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left, timeout=5)

    # -- one delivery --------------------------------------------------------------------------

    async def _handle(self, msg: Msg) -> None:
        meta = msg.metadata
        delivery, seq = meta.num_delivered, meta.sequence.stream
        msg_id = msg.headers.get("Nats-Msg-Id") if msg.headers else None
        info = JobInfo(self.subject, self.stream, seq, delivery, msg_id)
        base = {
            "subject": self.subject,
            "seq": seq,
            "stream": self.stream,
            "delivery": delivery,
            "msg_id": msg_id,
        }
        lease = self._heartbeat.hold(msg)
        settled = False
        try:
            try:
                payload = codec.decode(msg.data)
            except codec.CodecError as exc:
                settled = True
                await self._to_dlq(
                    msg, info, base, decode_failed(self.subject, exc), "decode", raw=True, lease=lease
                )
                return
            settled = await self._run(msg, info, base, payload, lease)
        except asyncio.CancelledError:
            if not settled and not lease.lapsed:  # shutdown past its timeout: hand it back now
                with contextlib.suppress(nerr.Error, OSError):
                    await msg.nak()
                self.metrics.count(self.subject, "nak")
            raise
        finally:
            self._heartbeat.release(lease)

    async def _run(self, msg: Msg, info: JobInfo, base: dict[str, Any], payload: Any, lease: _Lease) -> bool:
        tracer = self.queue.tracer
        if tracer is None:
            return await self._run_once(msg, info, base, payload, lease)
        attributes = {"messaging.message.id": info.msg_id or f"{info.stream}:{info.seq}",
                      "messaging.nats.delivery": info.delivery, "mega.job.stream": info.stream}
        with tracer.consuming(self.subject, msg.headers, attributes):
            return await self._run_once(msg, info, base, payload, lease)

    async def _run_once(
        self, msg: Msg, info: JobInfo, base: dict[str, Any], payload: Any, lease: _Lease
    ) -> bool:
        await self.queue.events.emit("start", {**base, "payload": payload})
        self.metrics.started(self.subject)
        started = time.perf_counter()
        limit = self.job.timeout if self.job.timeout is not None else self.settings.run_timeout
        task = asyncio.get_running_loop().create_task(self._attempts(payload, info, base))
        try:
            done, _ = await asyncio.wait({task}, timeout=limit or None)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            seconds = time.perf_counter() - started
            self.metrics.ended(self.subject, seconds)
            for observe in self.queue.run_observers:
                observe(self.subject, seconds)
        error: BaseException | None
        if not done:
            task.cancel()
            task.add_done_callback(self._abandoned(base))
            error = run_timeout(self.subject, limit)
        else:
            error = task.exception()
        if error is None:
            if lease.lapsed:
                return self._lapsed(base)
            await msg.ack()
            self.metrics.count(self.subject, "done")
            await self.queue.events.emit("done", {**base, "result": task.result()})
            return True
        phase = "max-deliver" if info.delivery >= self.settings.max_deliver else "run"
        await self._to_dlq(msg, info, base, error, phase, lease=lease, payload=payload)
        return True

    async def _attempts(self, payload: Any, info: JobInfo, base: dict[str, Any]) -> Any:
        instance = self.job()

        async def attempt(n: int) -> Any:
            ctx = Ctx(self.app, None, None)
            ctx.job = replace(info, attempt=n)  # type: ignore[attr-defined]
            return await instance.run(payload, ctx)

        async def on_retry(n: int, left: int, error: BaseException) -> None:
            self.metrics.count(self.subject, "retry")
            await self.queue.events.emit(
                "retry", {**base, "attempt": n, "retries_left": left, "error": error}
            )

        return await run_with_retries(
            attempt, retries=self.job.retries, backoff=self.job.backoff, on_retry=on_retry
        )

    def _abandoned(self, base: dict[str, Any]) -> Any:
        def report(task: asyncio.Task[Any]) -> None:
            if task.cancelled() or task.exception() is None:
                return
            self.metrics.count(self.subject, "abandoned")
            fire = self.queue.events.emit(
                "fail", {**base, "phase": "abandoned-run", "error": task.exception()}
            )
            asyncio.get_running_loop().create_task(fire)

        return report

    def _lapsed(self, base: dict[str, Any]) -> bool:
        self.metrics.count(self.subject, "lease_lost")
        log.warning(
            "job %s seq %s: the lease lapsed (paused past ack_wait): leaving it to its redelivery",
            self.subject,
            base["seq"],
        )
        return True

    # -- the dead-letter queue -----------------------------------------------------------------

    async def _to_dlq(
        self,
        msg: Msg,
        info: JobInfo,
        base: dict[str, Any],
        error: BaseException,
        phase: str,
        *,
        lease: _Lease,
        raw: bool = False,
        payload: Any = None,
    ) -> None:
        body = codec.encode(self._envelope(msg, info, error, raw, payload))
        headers = {"Nats-Msg-Id": f"{self.stream}:{info.seq}"}  # lands once, whoever publishes it
        assert self.js is not None
        failure: BaseException | None = None
        for wait in (0.0, *DLQ_RETRY_WAITS):
            if wait:
                await asyncio.sleep(wait)
            try:
                await self.js.publish(dlq_subject(self.subject), body, headers=headers)
                failure = None
                break
            except (jserr.Error, nerr.Error, OSError, TimeoutError) as exc:
                failure = exc
        if lease.lapsed:
            self._lapsed(base)
            return
        if failure is None:
            await msg.ack()
            self.metrics.count(self.subject, "dlq")
            await self.queue.events.emit("fail", {**base, "phase": phase, "error": error})
            await self.queue.events.emit("dlq", {**base, "dlq_subject": dlq_subject(self.subject)})
            return
        if info.delivery >= self.settings.max_deliver:
            self.metrics.count(self.subject, "orphan")
            log.error(
                "job %s seq %s: DLQ publish failed on the last delivery; left unacked in %s",
                self.subject,
                info.seq,
                self.stream,
            )
            await self.queue.events.emit(
                "fail", {**base, "phase": "dlq-orphan", "error": failure, "cause": error}
            )
            return
        delay = min(NAK_DELAY_MAX, 2.0 ** (info.delivery - 1))
        await msg.nak(delay=delay)
        self.metrics.count(self.subject, "nak")
        await self.queue.events.emit(
            "fail", {**base, "phase": "dlq-publish", "error": failure, "cause": error, "nak_delay": delay}
        )

    def _envelope(
        self, msg: Msg, info: JobInfo, error: BaseException, raw: bool, payload: Any
    ) -> dict[str, Any]:
        stack = "".join(traceback.format_exception(error))[-DLQ_MAX_STACK:]
        code = error.code if isinstance(error, MegaError) else None
        return {
            "original_subject": self.subject,
            "original_seq": info.seq,
            "failed_at": dt.datetime.now(dt.UTC).isoformat(),
            "delivery_count": info.delivery,
            "error": {"name": type(error).__name__, "code": code, "message": str(error), "stack": stack},
            "payload": msg.data.decode("utf-8", "replace") if raw else payload,
        }
