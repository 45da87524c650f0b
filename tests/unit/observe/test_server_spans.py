"""The request's span made by mega's HTTP hook, the queue processor and the lean OTLP encoder: the same
span data and the same OTLP bytes as OpenTelemetry's own path, the sampling ratio honoured."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from mega.observe._otlp import encode
from mega.observe._spans import QueueProcessor, ServerSpan
from mega.observe._tracing_settings import OFF
from mega.observe.tracing import Tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


class Keep(SpanExporter):
    def __init__(self) -> None:
        self.batches: list[list[ReadableSpan]] = []

    def export(self, spans: Any) -> SpanExportResult:
        self.batches.append(list(spans))
        return SpanExportResult.SUCCESS

    @property
    def spans(self) -> list[ReadableSpan]:
        return [s for batch in self.batches for s in batch]


def tracing(ratio: float = 1.0) -> tuple[Tracing, Keep]:
    keep = Keep()
    return Tracing(replace(OFF, enabled=True, sample_ratio=ratio), exporter=keep, batch=False), keep


def scope(path: str = "/users/7", headers: list[tuple[bytes, bytes]] | None = None,
          method: str = "GET") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "scheme": "http",
            "headers": [(b"host", b"shop.test:8000"), *(headers or [])]}


def run(endpoint: Any, *scopes: dict[str, Any]) -> None:
    async def all_of() -> None:
        for one in scopes:
            with contextlib.suppress(RuntimeError):  # a failing endpoint's span is what the test reads
                await endpoint(one, None, None, None)

    asyncio.run(all_of())


async def ok(scope: Any, receive: Any, send: Any, params: Any) -> int:
    return 200


def test_the_request_span_carries_what_the_sdk_span_did_and_is_the_handlers_current_span() -> None:
    tr, keep = tracing()
    seen: list[Any] = []

    async def handler(scope: Any, receive: Any, send: Any, params: Any) -> int:
        current = trace.get_current_span()
        seen.append(current)
        current.set_attribute("shop.items", 3)
        current.set_attribute("shop.tags", ["a", "b"])
        current.add_event("looked up", {"n": 1})
        with tr.tracer.start_as_current_span("inner"):
            pass
        return 201

    run(tr.http_hook("web", "GET", "/users/{id}", handler),
        scope(headers=[(b"traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode()),
                       (b"tracestate", b"vendor=1")]))
    inner, server = keep.spans
    assert isinstance(server, ServerSpan) and seen == [server]
    assert server.name == "GET /users/{id}" and server.kind is SpanKind.SERVER
    assert format(server.context.trace_id, "032x") == TRACE_ID and server.context.trace_flags.sampled
    assert server.parent is not None and server.parent.is_remote
    assert format(server.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert server.context.trace_state.get("vendor") == "1"
    assert dict(server.attributes) == {
        "mega.app": "web", "http.route": "/users/{id}", "http.request.method": "GET", "url.path": "/users/7",
        "url.scheme": "http", "server.address": "shop.test", "shop.items": 3, "shop.tags": ("a", "b"),
        "http.response.status_code": 201}
    assert [e.name for e in server.events] == ["looked up"]
    assert server.start_time is not None and server.end_time is not None
    assert server.start_time <= server.end_time
    assert inner.parent is not None and inner.parent.span_id == server.context.span_id  # a child of it
    assert server.resource.attributes["service.name"] == "mega"
    assert server.instrumentation_scope is not None and server.instrumentation_scope.name == "mega"


def test_errors_mark_the_span_and_an_ended_span_refuses_changes(caplog: pytest.LogCaptureFixture) -> None:
    tr, keep = tracing()

    async def fails(scope: Any, receive: Any, send: Any, params: Any) -> int:
        raise RuntimeError("boom")

    async def five_hundred(scope: Any, receive: Any, send: Any, params: Any) -> int:
        return 503

    run(tr.http_hook("web", "GET", "/a", fails), scope("/a"))
    run(tr.http_hook("web", "GET", "/b", five_hundred), scope("/b"))
    failed, unavailable = keep.spans
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["http.response.status_code"] == 500
    assert failed.events[0].name == "exception"
    assert failed.events[0].attributes["exception.type"] == "RuntimeError"
    assert unavailable.status.status_code is StatusCode.ERROR and not unavailable.events
    assert isinstance(unavailable, ServerSpan)
    unavailable.set_attribute("late", 1)
    unavailable.set_status(Status(StatusCode.OK))
    unavailable.end()
    assert "late" not in unavailable.attributes and unavailable.status.status_code is StatusCode.ERROR
    assert len(keep.spans) == 2 and "ended span" in caplog.text


def test_the_sampling_ratio_is_honoured_and_a_parent_decides_for_its_children() -> None:
    tr, keep = tracing(0.25)
    run(tr.http_hook("web", "GET", "/x", ok), *[scope("/x") for _ in range(4000)])
    assert 800 < len(keep.spans) < 1200  # 1,000 expected
    bound = round(0.25 * 2**64)
    assert all((s.context.trace_id & (2**64 - 1)) < bound for s in keep.spans)  # TraceIdRatioBased's rule
    keep.batches.clear()
    unsampled = f"00-{TRACE_ID}-00f067aa0ba902b7-00".encode()
    sampled = f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode()
    children: list[bool] = []
    tr0, keep0 = tracing(0.0)
    for t, k in ((tr, keep), (tr0, keep0)):

        async def child(scope: Any, receive: Any, send: Any, params: Any, t: Tracing = t) -> int:
            with t.tracer.start_as_current_span("db") as span:
                children.append(span.is_recording())
            assert format(trace.get_current_span().get_span_context().trace_id, "032x") == TRACE_ID
            return 200

        run(t.http_hook("web", "GET", "/x", child), *[scope("/x", [(b"traceparent", unsampled)])] * 20)
        assert k.spans == []  # an unsampled parent: nothing recorded, the trace id still travels
        run(t.http_hook("web", "GET", "/x", child), scope("/x", [(b"traceparent", sampled)]))
        assert [s.name for s in k.spans] == ["db", "GET /x"]  # a sampled parent wins over the ratio
        k.batches.clear()
    assert children == [False] * 20 + [True] + [False] * 20 + [True]


def test_the_lean_encoder_writes_the_bytes_opentelemetrys_encoder_writes() -> None:
    tr, keep = tracing()
    run(tr.http_hook("web", "GET", "/users/{id}", ok), scope("/users/1"),
        scope("/users/2", [(b"traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode()),
                           (b"tracestate", b"a=1,b=2")]))
    run(tr.http_hook("web", "GET", "__unmatched__", ok), scope("/nowhere", method="PATCH"))

    async def rich(scope: Any, receive: Any, send: Any, params: Any) -> int:
        span = trace.get_current_span()
        span.set_attribute("http.route", "/changed")  # a route attribute set again
        span.set_attributes({"f": 1.5, "neg": -7, "big": 2**62, "yes": True, "no": False, "empty": "",
                             "list": [1, 2]})
        span.set_status(Status(StatusCode.ERROR, "described"))
        return 200

    run(tr.http_hook("web", "POST", "/rich", rich), scope("/rich", method="POST"))

    async def down(scope: Any, receive: Any, send: Any, params: Any) -> int:
        return 503

    run(tr.http_hook("web", "GET", "/down", down), scope("/down"))  # status ERROR set by mega

    async def fine(scope: Any, receive: Any, send: Any, params: Any) -> int:
        trace.get_current_span().set_status(Status(StatusCode.OK))  # a status, no attribute touched
        return 200

    run(tr.http_hook("web", "GET", "/fine", fine), scope("/fine"))
    sdk = tr.tracer
    with sdk.start_as_current_span("plain", attributes={"a": "b", "n": 3}) as span:
        span.add_link(span.get_span_context(), {"why": "test"})
    with sdk.start_span("client", kind=SpanKind.CLIENT, links=[Link(span.get_span_context())]) as other:
        other.set_status(Status(StatusCode.OK))
    spans = keep.spans
    assert len(spans) == 8
    untouched = encode(spans)  # request spans nobody read: encoded from the request's values
    ours = ExportTraceServiceRequest.FromString(untouched)
    theirs = encode_spans(spans)  # reads every span's attributes
    assert ours == theirs
    assert len(ours.resource_spans) == 1 and len(ours.resource_spans[0].scope_spans) == 1
    assert encode(spans) == untouched  # from the attributes once read, and from the caches: the same bytes


def test_a_processor_added_after_the_hook_was_built_sees_every_request_span_start_and_end() -> None:
    tr, keep = tracing()
    hook = tr.http_hook("web", "GET", "/late", ok)
    run(hook, scope("/late"))
    seen: list[tuple[str, Any]] = []

    class Watch(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            seen.append(("start", span))

        def on_end(self, span: ReadableSpan) -> None:
            seen.append(("end", dict(span.attributes or {})))

    tr.provider.add_span_processor(Watch())
    run(hook, scope("/late", [(b"traceparent", f"00-{TRACE_ID}-00f067aa0ba902b7-01".encode())]))
    _, second = keep.spans
    assert [kind for kind, _ in seen] == ["start", "end"] and seen[0][1] is second
    assert seen[1][1]["http.response.status_code"] == 200 and seen[1][1]["url.path"] == "/late"
    assert format(second.context.trace_id, "032x") == TRACE_ID


def test_the_queue_processor_exports_in_batches_and_on_flush_and_shutdown() -> None:
    keep = Keep()
    processor = QueueProcessor(keep, batch=100, delay=30.0, max_queue=250)
    tr = Tracing(replace(OFF, enabled=True), exporter=None)
    tr.provider.add_span_processor(processor)
    run(tr.http_hook("web", "GET", "/q", ok), *[scope("/q") for _ in range(100)])
    deadline = time.monotonic() + 5
    while not keep.batches and time.monotonic() < deadline:  # a full batch wakes the thread
        time.sleep(0.01)
    assert [len(b) for b in keep.batches] == [100]
    run(tr.http_hook("web", "GET", "/q", ok), *[scope("/q") for _ in range(30)])
    assert processor.force_flush()
    assert [len(b) for b in keep.batches] == [100, 30]
    processor._wake.set = lambda: None  # type: ignore[method-assign]  # keep the thread asleep: fill up
    run(tr.http_hook("web", "GET", "/q", ok), *[scope("/q") for _ in range(300)])
    assert processor.dropped == 50
    del processor._wake.set  # the Event's own again
    tr.close()  # shutdown exports what is left
    assert sum(len(b) for b in keep.batches) == 130 + 250
    assert not processor._thread.is_alive()
