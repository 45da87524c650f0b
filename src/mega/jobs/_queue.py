"""`ctx.jobs` / `app.jobs`: enqueue jobs, listen to their events.

    result = await ctx.jobs.enqueue(SendMail, {"to": "a@b.c"}, msg_id="order-42")
    result.seq, result.stream, result.duplicate

`msg_id` becomes the `Nats-Msg-Id` header: a repeat within `jobs.duplicate_window` is not stored again
and returns `duplicate=True`. A publish that fails raises `job.enqueue_failed` (503): never a silent
success.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mega.bus import codec
from mega.jobs._errors import JobError, nats_failed
from mega.jobs._events import Events, Listener
from mega.jobs._streams import Streams
from mega.jobs.job import Job

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext

    from mega.adapters.nats import NatsAdapter
    from mega.jobs._settings import JobsSettings

__all__ = ["EnqueueResult", "JobQueue"]

MSG_ID_HEADER = "Nats-Msg-Id"
PUBLISH_TIMEOUT = 5.0


class JobTracer(Protocol):
    """What tracing gives a queue: a producer span around a publish (yielding the trace headers to
    send) and a consumer span around a run that continues the sender's trace."""

    def producing(self, subject: str) -> AbstractContextManager[dict[str, str]]: ...

    def consuming(self, subject: str, headers: Mapping[str, str] | None,
                  attributes: dict[str, Any]) -> AbstractContextManager[Any]: ...


@dataclass(frozen=True)
class EnqueueResult:
    seq: int
    stream: str
    duplicate: bool


class JobQueue:
    """One app's job queue: the `jobs` settings, its NATS connections by alias, its event listeners."""

    def __init__(
        self,
        settings: JobsSettings,
        connection: Callable[[str | None], NatsAdapter],
        *,
        streams: Streams | None = None,
        app_name: str = "",
    ) -> None:
        self.settings = settings
        self.app_name = app_name
        self._connection = connection
        self.streams = streams or Streams(settings)
        self.events = Events()
        self.jobs: dict[str, type[Job]] = {}  # subject -> class, the jobs this app declares
        # Filled by the instruments' "jobs" slot (metrics, tracing on); empty/None: nothing is paid.
        self.run_observers: list[Callable[[str, float], None]] = []  # (subject, seconds) per run
        self.tracer: JobTracer | None = None
        self._contexts: dict[str, tuple[Any, JetStreamContext]] = {}

    def on(self, name: str, fn: Listener) -> Callable[[], None]:
        """Listen to `dispatch`, `start`, `done`, `retry`, `fail` or `dlq` (else `job.unknown_event`)."""
        return self.events.on(name, fn)

    def alias_of(self, job: type[Job]) -> str | None:
        return job.bus or self.settings.bus

    def connection(self, job: type[Job]) -> NatsAdapter:
        return self._connection(self.alias_of(job))

    def jetstream(self, job: type[Job]) -> tuple[str, JetStreamContext]:
        adapter = self.connection(job)
        try:
            nc = adapter.client(job.subject)
        except Exception as exc:
            raise _publish_failed(job.subject, exc) from exc
        cached = self._contexts.get(adapter.alias)
        if cached is None or cached[0] is not nc:  # a new connection after a reconnect or a restart
            cached = self._contexts[adapter.alias] = (nc, nc.jetstream(timeout=PUBLISH_TIMEOUT))
        return adapter.alias, cached[1]

    async def enqueue(
        self, job: type[Job], payload: Any = None, *, msg_id: str | None = None
    ) -> EnqueueResult:
        """Publish one job; returns where it was stored, or `duplicate=True` for a repeated msg_id."""
        if not (isinstance(job, type) and issubclass(job, Job)):
            raise JobError(
                "job.invalid_option",
                f"enqueue() takes a Job class, got {job!r}",
                details={"value": repr(job)},
                hint="await ctx.jobs.enqueue(SendMail, payload)",
            )
        if msg_id is not None and (not isinstance(msg_id, str) or not msg_id.strip()):
            raise JobError(
                "job.invalid_msg_id",
                f"msg_id must be a non-empty string, got {msg_id!r}",
                details={"msg_id": repr(msg_id)},
                status=400,
                hint="use a stable id of the work (an order id), or leave it out",
            )
        try:
            data = codec.encode(payload)
        except codec.CodecError as exc:
            raise JobError(
                "job.payload_not_serializable",
                f"job {job.subject!r}: {exc.message}",
                details={"subject": job.subject},
                hint=exc.hint,
                cause=exc,
            ) from exc
        import nats.errors as nerr  # nats-py: only projects that use jobs load it
        from nats.js import errors as jserr

        alias, js = self.jetstream(job)
        await self.streams.ensure(js, alias, job.subject)
        headers = {MSG_ID_HEADER: msg_id} if msg_id is not None else None
        producing = self.tracer.producing(job.subject) if self.tracer is not None else nullcontext(None)
        try:
            with producing as trace_headers:
                if trace_headers:
                    headers = {**(headers or {}), **trace_headers}
                ack = await js.publish(job.subject, data, headers=headers)
        except (nerr.NoRespondersError, jserr.NoStreamResponseError, jserr.ServiceUnavailableError) as exc:
            self.streams.forget(job.subject)  # the stream may be gone: check again next time
            raise _publish_failed(job.subject, exc) from exc
        except (jserr.Error, nerr.Error, OSError, TimeoutError) as exc:
            raise _publish_failed(job.subject, exc) from exc
        result = EnqueueResult(ack.seq, ack.stream, bool(ack.duplicate))
        if self.events.wants("dispatch"):
            await self.events.emit(
                "dispatch",
                {
                    "subject": job.subject,
                    "seq": ack.seq,
                    "stream": ack.stream,
                    "msg_id": msg_id,
                    "duplicate": result.duplicate,
                },
            )
        return result


def _publish_failed(subject: str, exc: BaseException) -> JobError:
    return nats_failed("job.enqueue_failed", f"enqueue({subject!r}) failed", exc,
                       details={"subject": subject},
                       hint="NATS is unreachable or the stream is gone; retry, the job was NOT stored")
