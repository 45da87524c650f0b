"""The request's server span, made cheaply, and the span processor that queues finished spans for a
background exporter.

`ServerSpan` is an OpenTelemetry span (the API's `Span`, and the SDK's `ReadableSpan` that processors
and exporters take) that mega builds itself for each HTTP request instead of going through
`Tracer.start_span`: the sampling decision is the provider's (a sampled parent wins, otherwise the
trace id against the ratio, as `ParentBased(TraceIdRatioBased)` decides), the route's part is built
at boot (`Route`), and the attributes dict and the `SpanContext` are made only when something asks
for them (a child span, a processor, an exporter, a handler setting an attribute). It is the current
span while the handler runs, so spans an application starts there, and mega's database, cache, lock,
bus and jobs spans, are its children. Like the SDK's spans it refuses changes once ended; unlike them
it is not meant to be shared across threads (a request's span is used by the request's task).

`QueueProcessor` replaces the SDK's `BatchSpanProcessor` for the configured exporter: `on_end` is a
deque append; a daemon thread exports in batches of up to `batch` spans when `batch` are waiting or
every `delay` seconds. A full queue drops spans (counted, logged once per burst).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
import weakref
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import Event, ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.util import types

__all__ = ["QueueProcessor", "Route", "ServerSpan", "server_address"]

log = logging.getLogger("mega.tracing")
_UNSET = Status(StatusCode.UNSET)
_ERROR = Status(StatusCode.ERROR)
_SIMPLE = (str, bool, int, float)


def _clean(value: Any) -> Any:
    """An attribute value as OpenTelemetry accepts it (a sequence of one simple type becomes a tuple);
    None for what it refuses."""
    if isinstance(value, _SIMPLE):
        return value
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        items = tuple(value)
        kinds = {type(v) for v in items if v is not None}
        if len(kinds) <= 1 and all(k in _SIMPLE for k in kinds):
            return items
    return None


class Route:
    """What every request span of one route shares, made once when the route's hook is built."""

    __slots__ = ("fixed", "name", "processor", "resource", "scope", "unmatched")

    def __init__(self, name: str, fixed: dict[str, Any], unmatched: bool, resource: Any, scope: Any,
                 processor: SpanProcessor) -> None:
        self.name = name
        self.fixed = fixed  # mega.app, and http.route + http.request.method when matched
        self.unmatched = unmatched
        self.resource = resource
        self.scope = scope
        self.processor = processor


def server_address(host: bytes) -> str:
    """`server.address` from a Host header: the host without its port ("[::1]" keeps its brackets)."""
    text = host.decode("latin-1")
    return text.split("]")[0] + "]" if text.startswith("[") else text.rsplit(":", 1)[0]


class ServerSpan(ReadableSpan, trace.Span):
    """An HTTP request's span (see the module docstring).

    What a request adds to its route's attributes (path, scheme, Host, status code) is kept as it came;
    the attributes dict is made only when something reads or sets one (a processor, the SDK's encoder,
    a handler's `set_attribute`). The lean encoder writes the raw values with cached bytes instead."""

    # What every request span starts with: the class's until a span sets its own.
    _kind = SpanKind.SERVER
    _events: list[Event] | tuple[()] = ()
    _links: list[Link] | tuple[()] = ()
    _status = _UNSET
    _instrumentation_info = None
    _span_context: SpanContext | None = None
    _end_time: int | None = None
    _attrs: dict[str, Any] | None = None  # the attributes, once made
    _fixed: dict[str, Any] | None = None  # the route's attributes while `_attrs` begins with them unchanged
    _status_code: int | None = None

    def __init__(self, name: str, trace_id: int, span_id: int, flags: int, parent: SpanContext | None,
                 trace_state: Any, route: Route, path: str, scheme: str, host: bytes | None,
                 method: str) -> None:
        # ReadableSpan's fields, set directly (its __init__ would build a Resource when none is given)
        self._name = name
        self._trace_id = trace_id
        self._span_id = span_id
        self._flags = flags
        self._trace_state = trace_state
        self._parent = parent
        self._route = route
        self._path = path
        self._scheme = scheme
        self._host = host
        self._method = method
        self._resource = route.resource
        self._instrumentation_scope = route.scope
        self._start_time = time.time_ns()

    @property  # ReadableSpan keeps it in an attribute: made here on first use
    def _attributes(self) -> dict[str, Any]:  # type: ignore[override]
        attrs = self._attrs
        return attrs if attrs is not None else self._make_attributes()

    def _make_attributes(self) -> dict[str, Any]:
        route = self._route
        attributes = dict(route.fixed)
        attributes["url.path"] = self._path
        attributes["url.scheme"] = self._scheme
        if route.unmatched:
            attributes["http.request.method"] = self._method
        if self._host is not None:
            attributes["server.address"] = server_address(self._host)
        if self._status_code is not None:
            attributes["http.response.status_code"] = self._status_code
        self._fixed = route.fixed
        self._attrs = attributes
        return attributes

    @property  # ReadableSpan keeps it in an attribute: made here on first use
    def _context(self) -> SpanContext:  # type: ignore[override]
        made = self._span_context
        if made is None:
            made = self._span_context = SpanContext(self._trace_id, self._span_id, is_remote=False,
                                                    trace_flags=TraceFlags(self._flags),
                                                    trace_state=self._trace_state)
        return made

    @property
    def context(self) -> SpanContext:
        return self._context

    def get_span_context(self) -> SpanContext:
        return self._context

    def is_recording(self) -> bool:
        return self._end_time is None

    def _ended(self, what: str) -> bool:
        if self._end_time is None:
            return False
        log.warning("%s on the ended span %r", what, self._name)
        return True

    def set_attributes(self, attributes: Mapping[str, types.AttributeValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def set_attribute(self, key: str, value: types.AttributeValue) -> None:
        if self._ended("set_attribute"):
            return
        cleaned = _clean(value)
        if not key or not isinstance(key, str) or cleaned is None:
            log.warning("span attribute %r = %r refused: keys are non-empty strings, values str, bool, int, "
                        "float or a sequence of one of them", key, value)
            return
        attrs = self._attributes
        if self._fixed is not None and key in self._fixed:
            self._fixed = None
        attrs[key] = cleaned

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        if self._ended("add_event"):
            return
        if not self._events:
            self._events = []
        self._events.append(Event(name, attributes, timestamp if timestamp is not None else time.time_ns()))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if self._ended("add_link"):
            return
        if context is not None and (context.is_valid or attributes or context.trace_state):
            if not self._links:
                self._links = []
            self._links.append(Link(context, attributes))

    def update_name(self, name: str) -> None:
        if not self._ended("update_name"):
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._ended("set_status") or self._status.status_code is StatusCode.OK:
            return  # OK is final, as in the SDK
        if isinstance(status, Status):
            if status.status_code is not StatusCode.UNSET:
                self._status = status
        elif status is not StatusCode.UNSET:
            self._status = Status(status, description if status is StatusCode.ERROR else None)

    def record_exception(self, exception: BaseException, attributes: types.Attributes = None,
                         timestamp: int | None = None, escaped: bool = False) -> None:
        stacktrace = "".join(traceback.format_exception(type(exception), exception, exception.__traceback__))
        recorded: dict[str, Any] = {"exception.type": type(exception).__qualname__,
                                    "exception.message": str(exception),
                                    "exception.stacktrace": stacktrace, "exception.escaped": str(escaped)}
        if attributes:
            recorded.update(attributes)
        self.add_event("exception", recorded, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._ended("end"):
            return
        self._end_time = end_time if end_time is not None else time.time_ns()
        self._route.processor.on_end(self)

    def answered(self, status: int) -> None:
        """The response's status code; a 5xx is the span's status ERROR (unless the handler set OK)."""
        self._status_code = status
        if self._attrs is not None:
            self._attrs["http.response.status_code"] = status
        if status >= 500 and self._status.status_code is not StatusCode.OK:
            self._status = _ERROR


class QueueProcessor(SpanProcessor):
    """Finished spans into a deque; one daemon thread exports them in batches (module docstring)."""

    def __init__(self, exporter: SpanExporter, *, batch: int = 2048, delay: float = 1.0,
                 max_queue: int = 65536) -> None:
        self.exporter = exporter
        self.batch = batch
        self.delay = delay
        self.max_queue = max_queue
        self.dropped = 0
        self._lock = threading.Lock()  # one export at a time (the thread's, or a flush's)
        self._start()
        restart = weakref.WeakMethod(self._start)  # a forked worker gets its own thread and queue

        def after_fork() -> None:
            method = restart()
            if method is not None:
                method()

        os.register_at_fork(after_in_child=after_fork)

    def _start(self) -> None:
        self._queue: deque[ReadableSpan] = deque()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="mega-span-export", daemon=True)
        self._thread.start()

    def on_start(self, span: Any, parent_context: Context | None = None) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        queue = self._queue
        if len(queue) >= self.max_queue:
            self.dropped += 1
            if self.dropped == 1:
                log.warning("the span queue is full (%d): spans are dropped until the exporter catches up",
                            self.max_queue)
            return
        if type(span) is not ServerSpan and not span.context.trace_flags.sampled:
            return
        queue.append(span)
        if len(queue) >= self.batch and not self._wake.is_set():
            self._wake.set()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self.delay)
            self._wake.clear()
            self._export_all()

    def _export_all(self) -> bool:
        with self._lock:
            queue, ok = self._queue, True
            while queue:
                spans = [queue.popleft() for _ in range(min(len(queue), self.batch))]
                try:
                    ok = bool(self.exporter.export(spans).name == "SUCCESS") and ok
                except Exception:
                    log.exception("exporting %d spans failed", len(spans))
                    ok = False
            if self.dropped:
                log.warning("%d spans were dropped (the span queue was full)", self.dropped)
                self.dropped = 0
            return ok

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._export_all()

    def shutdown(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(5.0)
        self._export_all()
        self.exporter.shutdown()
