"""The OTLP exporter against a loopback collector: batches over one kept-alive connection with
OpenTelemetry's headers; an error answer or a closed connection handled by OpenTelemetry's client."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SpanExportResult
from tests.unit.observe.test_server_spans import Keep, ok, run, scope

from mega.observe._otlp import OtlpExporter
from mega.observe._tracing_settings import OFF
from mega.observe.tracing import Tracing


class Collector(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps connections open, as collectors do
    posts: list[dict[str, Any]]
    answers: list[int]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        status = self.answers.pop(0) if self.answers else 200
        self.posts.append({"peer": self.client_address, "headers": dict(self.headers), "body": body,
                           "status": status})
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, type[Collector]]]:
    handler = type("C", (Collector,), {"posts": [], "answers": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", handler
    finally:
        server.shutdown()
        server.server_close()


def spans(n: int) -> list[Any]:
    keep = Keep()
    tr = Tracing(replace(OFF, enabled=True), exporter=keep, batch=False)
    run(tr.http_hook("web", "GET", "/users/{id}", ok), *[scope(f"/users/{i}") for i in range(n)])
    return keep.spans


def test_batches_go_over_one_kept_alive_connection_with_opentelemetrys_headers(collector: Any) -> None:
    url, handler = collector
    exporter = OtlpExporter(endpoint=url, headers={"x-tenant": "shop"}, timeout=5)
    batches = [spans(3), spans(2), spans(1)]
    assert all(exporter.export(batch) is SpanExportResult.SUCCESS for batch in batches)
    exporter.shutdown()
    assert len(handler.posts) == 3 and len({p["peer"] for p in handler.posts}) == 1
    headers = {k.lower(): v for k, v in handler.posts[0]["headers"].items()}
    assert headers["content-type"] == "application/x-protobuf" and headers["x-tenant"] == "shop"
    assert headers["user-agent"].startswith("OTel-OTLP-Exporter-Python/")
    sent = [len(ExportTraceServiceRequest.FromString(p["body"]).resource_spans[0].scope_spans[0].spans)
            for p in handler.posts]
    assert sent == [3, 2, 1]


def test_an_error_answer_is_left_to_opentelemetrys_client_which_sends_again(collector: Any) -> None:
    url, handler = collector
    handler.answers[:] = [503]  # the first answer only; OpenTelemetry's client then gets a 200
    exporter = OtlpExporter(endpoint=url, timeout=5)
    assert exporter.export(spans(2)) is SpanExportResult.SUCCESS
    assert [p["status"] for p in handler.posts] == [503, 200]
    assert handler.posts[0]["body"] == handler.posts[1]["body"]
    handler.answers[:] = [400, 400]  # refused for good: a failure, as OpenTelemetry's exporter reports
    assert exporter.export(spans(1)) is SpanExportResult.FAILURE
    exporter.shutdown()


def test_a_collector_gone_and_back_between_batches(collector: Any) -> None:
    url, handler = collector
    exporter = OtlpExporter(endpoint=url, timeout=5)
    assert exporter.export(spans(1)) is SpanExportResult.SUCCESS
    direct = exporter._direct
    assert direct is not None and direct._conn is not None
    direct._conn.sock.close()  # type: ignore[union-attr]  # the kept connection dies under it
    assert exporter.export(spans(1)) is SpanExportResult.SUCCESS
    assert len(handler.posts) == 2 and handler.posts[0]["peer"] != handler.posts[1]["peer"]
    exporter.shutdown()
    dead = OtlpExporter(endpoint="http://127.0.0.1:9/v1/traces", timeout=0.5)  # nothing listens there
    assert dead.export(spans(1)) is SpanExportResult.FAILURE
    dead.shutdown()


def test_a_forked_worker_opens_its_own_connection(collector: Any) -> None:
    url, handler = collector
    exporter = OtlpExporter(endpoint=url, timeout=5)
    assert exporter.export(spans(1)) is SpanExportResult.SUCCESS  # the parent's connection is open
    pid = os.fork()
    if pid == 0:  # the child: exports over a connection of its own, then leaves without cleanup
        os._exit(0 if exporter.export(spans(1)) is SpanExportResult.SUCCESS else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert exporter.export(spans(1)) is SpanExportResult.SUCCESS  # the parent's still works
    assert len(handler.posts) == 3 and len({p["peer"] for p in handler.posts}) == 2
    exporter.shutdown()
