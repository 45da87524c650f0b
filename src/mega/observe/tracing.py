"""OpenTelemetry tracing: one tracer provider per process, spans for HTTP, adapters (databases, caches)
and the bus, W3C `traceparent`/`tracestate` in and out.

The provider is mega's own (the global one is left to the application): mega's spans use it, and the
current span travels in OpenTelemetry's context as usual, so a span an application starts inside a
handler becomes a child of the request's span.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from mega import __version__
from mega.adapters.base import STATEMENT
from mega.errors import MegaError
from mega.observe._spans import QueueProcessor, Route, ServerSpan
from mega.observe._tracing_settings import TracingSettings
from mega.observe.instruments import UNMATCHED, Instruments

if TYPE_CHECKING:
    from mega.adapters.base import Adapter
    from mega.http._pipeline import Endpoint
    from mega.jobs._queue import JobQueue

__all__ = ["Tracing", "build_resource"]

log = logging.getLogger("mega.tracing")
_PROPAGATOR = TraceContextTextMapPropagator()
_TRACEPARENT, _TRACESTATE = b"traceparent", b"tracestate"
_LOW64 = (1 << 64) - 1
_SPAN_KEY = next(iter(trace.set_span_in_context(trace.INVALID_SPAN, Context())))  # the current span's key
_RUNTIME = otel_context._RUNTIME_CONTEXT
_attach: Callable[[Context], Any] = otel_context.attach
_detach: Callable[[Any], None] = otel_context.detach
_current: Callable[[], Context] = otel_context.get_current
if type(_RUNTIME) is ContextVarsRuntimeContext:  # the default: its context variable, set and reset directly
    _attach, _detach, _current = (_RUNTIME._current_context.set, _RUNTIME._current_context.reset,
                                  _RUNTIME._current_context.get)
EXPORT_TIMEOUT = 5.0  # seconds per export: a dead collector must not hold shutdown for long


def build_resource(settings: TracingSettings, *, project: str, env: str) -> Resource:
    """The resource every span (and, later, every OpenTelemetry metric) carries: built here only."""
    attributes: dict[str, str] = dict(settings.attributes)
    attributes.update({
        "service.name": settings.service_name or project,
        "deployment.environment.name": settings.environment or env,
        "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.language": "python",
        "mega.version": __version__,
    })
    if settings.service_version:
        attributes["service.version"] = settings.service_version
    return Resource.create(attributes)


def build_exporter(settings: TracingSettings) -> SpanExporter | None:
    """The exporter `tracing.exporter` names (None for 'none')."""
    if settings.exporter == "otlp":
        from mega.observe._otlp import OtlpExporter

        return OtlpExporter(endpoint=settings.export_url, headers=dict(settings.headers) or None,
                            timeout=EXPORT_TIMEOUT)
    if settings.exporter == "zipkin":
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

        return ZipkinExporter(endpoint=settings.export_url, timeout=int(EXPORT_TIMEOUT))
    if settings.exporter == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    return None


class Tracing:
    """The process's tracer and the hooks that make spans."""

    def __init__(self, settings: TracingSettings, *, project: str = "mega", env: str = "development",
                 exporter: SpanExporter | None = None, batch: bool = True) -> None:
        if not 0.0 <= settings.sample_ratio <= 1.0:  # the config refuses it; a direct caller too
            raise MegaError("tracing.invalid_sample_ratio", f"tracing sample_ratio must be from 0 to 1, got "
                            f"{settings.sample_ratio!r}", hint="0.1 samples one trace in ten, 1 all, 0 none")
        self.settings = settings
        ratio = TraceIdRatioBased(settings.sample_ratio)
        self.provider = TracerProvider(resource=build_resource(settings, project=project, env=env),
                                       sampler=ParentBased(ratio))
        exporter = exporter if exporter is not None else build_exporter(settings)
        if exporter is not None:
            processor = QueueProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
            self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("mega", __version__)
        self._never = settings.sample_ratio == 0.0
        self._bound = ratio.bound  # a root trace is sampled when its id's low 64 bits are below it
        self._fan = _Fanout(cast(SdkTracer, self.tracer).span_processor)

    def install(self, instruments: Instruments) -> None:
        instruments.add_http(self.http_hook)
        instruments.add_adapter(self.observe_adapter)
        instruments.add("jobs", self.jobs_hook)
        instruments.add("ws_rejection", self.ws_rejection)
        instruments.closers.append(self.close)

    def close(self) -> None:
        self.provider.shutdown()  # flushes what the batch processor holds

    def flush(self, timeout_millis: int = 5000) -> bool:
        return self.provider.force_flush(timeout_millis)

    # -- HTTP ----------------------------------------------------------------------------------

    def http_hook(self, app: str, method: str, pattern: str, endpoint: Endpoint) -> Endpoint:
        """`endpoint` inside a server span named "<method> <route pattern>", the caller's trace continued."""
        unmatched = pattern == UNMATCHED
        fixed: dict[str, Any] = {"mega.app": app}
        if not unmatched:
            fixed["http.route"] = pattern
            fixed["http.request.method"] = method
        name = f"{method} {pattern}"
        never, bound = self._never, self._bound
        tracer = cast(SdkTracer, self.tracer)
        # the provider's processor: every processor added to it sees the span
        route = Route(name, fixed, unmatched, tracer.resource,
                      getattr(tracer, "_instrumentation_scope", None), tracer.span_processor)
        fan, multi = self._fan, tracer.span_processor
        bits = random.getrandbits
        time_ns = time.time_ns

        async def traced(scope: dict[str, Any], receive: Any, send: Any, params: Any) -> int:
            host, parent, parent_span = _incoming(scope["headers"])
            if parent_span is None:
                if never:  # the sampler would drop it: make no span at all
                    answered: int = await endpoint(scope, receive, send, params)
                    return answered
                trace_id = bits(128) or 1
                sampled = (trace_id & _LOW64) < bound
                flags, state = (0x03 if sampled else 0x02), None  # W3C level 2: a random trace id
            else:
                trace_id, state = parent_span.trace_id, parent_span.trace_state
                sampled = parent_span.trace_flags.sampled
                flags = (parent_span.trace_flags & 0x02) | (0x01 if sampled else 0)
            if not sampled:  # the trace goes on (its id travels) but nothing is recorded
                context = SpanContext(trace_id, bits(64) or 1, False, TraceFlags(flags), state)
                return await _unrecorded(trace.NonRecordingSpan(context), parent, endpoint, scope, receive,
                                         send, params)
            span = ServerSpan(scope["method"] if unmatched else name, trace_id, bits(64) or 1, flags,
                              parent_span, state, route, scope["path"], scope.get("scheme", "http"), host,
                              scope["method"])
            if getattr(multi, "_span_processors", None) is not fan.seen:
                fan.refresh()
            for start in fan.starts:
                start(span, parent)
            base = parent or _current()
            token = _attach(Context({**base, _SPAN_KEY: span}) if base else Context({_SPAN_KEY: span}))
            status: int = 500
            try:
                status = await endpoint(scope, receive, send, params)
                return status
            except BaseException as exc:
                span.record_exception(exc)
                raise
            finally:
                span.answered(status)
                _detach(token)
                if span._end_time is None:  # what `span.end()` does, the processors called directly
                    span._end_time = time_ns()
                    for end in fan.ends:
                        end(span)
                else:
                    span.end()  # ended by the handler: refused, and said so

        traced.returns_status = True  # type: ignore[attr-defined]
        return traced

    def ws_rejection(self, app: str, path: str, code: str) -> None:
        """A WebSocket frame refused (ASP): a server span "WS <path>" carrying the reason code."""
        span = self.tracer.start_span(f"WS {path}", kind=SpanKind.SERVER, attributes={
            "mega.app": app, "http.route": path, "mega.security.reason": code})
        span.set_status(Status(StatusCode.ERROR, code))
        span.end()

    # -- adapters: a client span per call, made when the call ends ---------------------------

    def observe_adapter(self, adapter: Adapter, op: str, seconds: float, error: BaseException | None) -> None:
        if self._never and not trace.get_current_span().get_span_context().is_valid:
            return  # sampling 0 outside any trace: the sampler would drop it
        end = time.time_ns()
        attributes: dict[str, Any] = {"mega.adapter.alias": adapter.alias,
                                      "mega.adapter.family": adapter.family}
        if adapter.family == "db":
            attributes["db.system.name"] = adapter.driver
            attributes["mega.operation"] = op
            statement = STATEMENT.get()  # (kind, table) from the SQL text, never the parameters
            if statement is None:  # begin, commit, rollback, savepoints
                attributes["db.operation.name"] = op
                name = f"{op} {adapter.alias}"
            else:
                kind, table = statement
                attributes["db.operation.name"] = kind
                if table is not None:
                    attributes["db.collection.name"] = table
                name = f"{kind} {table}" if table else f"{kind} {adapter.alias}"
        else:
            attributes["mega.operation"] = op
            name = f"{adapter.family} {op}"
        span = self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes,
                                      start_time=end - int(seconds * 1e9))
        if error is not None:
            span.record_exception(error)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end(end_time=end)

    def timer(self, name: str, app: str, driver: str) -> Callable[[float, str], None]:
        """An `observe(seconds, outcome)` for a lock's waits ("lock acquire") or a bus's requests
        ("bus request"): a span per call, made when it ends, in the caller's trace."""
        kind = SpanKind.CLIENT if name.startswith("bus") else SpanKind.INTERNAL

        def observe(seconds: float, outcome: str) -> None:
            if self._never and not trace.get_current_span().get_span_context().is_valid:
                return
            end = time.time_ns()
            span = self.tracer.start_span(name, kind=kind, start_time=end - int(seconds * 1e9), attributes={
                "mega.app": app, "mega.driver": driver, "mega.outcome": outcome})
            if outcome not in ("ok", "acquired"):
                span.set_status(Status(StatusCode.ERROR, outcome))
            span.end(end_time=end)

        return observe

    # -- bus: traceparent out in message headers, continued by receivers ----------------------

    def outgoing(self) -> dict[str, str] | None:
        """Headers carrying the current trace (None outside a trace)."""
        carrier: dict[str, str] = {}
        _PROPAGATOR.inject(carrier)
        return carrier or None

    async def consume(self, subject: str, headers: Mapping[str, str] | None, call: Awaitable[None]) -> None:
        """Run a subscriber's handler call inside a consumer span continuing the sender's trace."""
        parent = _PROPAGATOR.extract(dict(headers)) if headers else None
        with self.tracer.start_as_current_span(f"receive {subject}", context=parent, kind=SpanKind.CONSUMER,
                                               attributes={"messaging.system": "mega.bus",
                                                           "messaging.destination.name": subject}):
            await call


    # -- jobs: traceparent in the message headers, the worker's run span continues it -----------

    def jobs_hook(self, app: str, queue: JobQueue) -> None:
        """The "jobs" slot: `queue` makes a producer span per enqueue and a consumer span per run."""
        queue.tracer = self

        def failed(fields: dict[str, Any]) -> None:  # inside the run's span (same task): mark it
            span = trace.get_current_span()
            if span.is_recording():
                span.set_status(Status(StatusCode.ERROR, str(fields.get("phase", "run"))))
                error = fields.get("error")
                if isinstance(error, BaseException):
                    span.record_exception(error)

        queue.on("fail", failed)

    @contextmanager
    def producing(self, subject: str) -> Iterator[dict[str, str]]:
        """A producer span "send <subject>" around an enqueue; yields the headers carrying it."""
        if self._never and not trace.get_current_span().get_span_context().is_valid:
            yield {}
            return
        with self.tracer.start_as_current_span(f"send {subject}", kind=SpanKind.PRODUCER, attributes={
                "messaging.system": "mega.jobs", "messaging.destination.name": subject,
                "messaging.operation.type": "send"}):
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier)
            yield carrier

    @contextmanager
    def consuming(self, subject: str, headers: Mapping[str, str] | None,
                  attributes: dict[str, Any]) -> Iterator[Any]:
        """A consumer span "process <subject>" around a job's run, continuing the enqueuer's trace."""
        parent = _PROPAGATOR.extract(dict(headers)) if headers else None
        with self.tracer.start_as_current_span(f"process {subject}", context=parent, kind=SpanKind.CONSUMER,
                                               attributes={"messaging.system": "mega.jobs",
                                                           "messaging.destination.name": subject,
                                                           "messaging.operation.type": "process",
                                                           **attributes}) as span:
            yield span


def _incoming(headers: list[tuple[bytes, bytes]]) -> tuple[bytes | None, Context | None, SpanContext | None]:
    """The Host header, and the caller's context and span from `traceparent`/`tracestate` (None when
    absent; an invalid one gives a new root, as the SDK does)."""
    host = carrier = None
    for key, value in headers:
        if key == b"host":
            host = host or value
        elif key in (_TRACEPARENT, _TRACESTATE):
            carrier = carrier or {}
            carrier[key.decode()] = value.decode("latin-1")
    if carrier is None:
        return host, None, None
    parent = _PROPAGATOR.extract(carrier)
    parent_span = trace.get_current_span(parent).get_span_context()
    return (host, parent, parent_span) if parent_span.is_valid else (host, None, None)


async def _unrecorded(span: trace.Span, parent: Context | None, endpoint: Endpoint, scope: dict[str, Any],
                      receive: Any, send: Any, params: Any) -> int:
    """An unsampled request: its trace is current (the id travels on) and nothing is recorded."""
    token = _attach(Context({**(parent or _current()), _SPAN_KEY: span}))
    try:
        answered: int = await endpoint(scope, receive, send, params)
        return answered
    finally:
        _detach(token)


class _Fanout:
    """The provider's processors' `on_start` and `on_end`, called directly by the HTTP hook and read
    again when a processor is added (the SDK then replaces its tuple of them); `QueueProcessor.on_start`
    does nothing and is left out. Without that tuple (another SDK release), the provider's own fan-out."""

    def __init__(self, multi: Any) -> None:
        self.multi = multi
        self.seen: Any = None
        self.starts: tuple[Callable[..., None], ...] = (multi.on_start,)
        self.ends: tuple[Callable[[Any], None], ...] = (multi.on_end,)

    def refresh(self) -> None:
        processors = self.multi._span_processors
        self.starts = tuple(p.on_start for p in processors if not isinstance(p, QueueProcessor))
        self.ends = tuple(p.on_end for p in processors)
        self.seen = processors
