"""Tracing: the caller's traceparent is continued (in-memory exporter, and a local OTLP receiver),
database and bus spans join the request's trace, the sampling ratio is honoured."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mega.testing import running, write_project

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"

ROUTES = """
    from opentelemetry import trace

    async def user(req):
        return {"id": req.params["id"]}

    async def items(req, reply, ctx):
        await ctx.db().execute("CREATE TABLE IF NOT EXISTS traced (id INTEGER PRIMARY KEY, secret TEXT)")
        await ctx.db().execute("INSERT INTO traced (secret) VALUES (:s)", {"s": "hunter2"})
        return {"n": len(await ctx.db().query("SELECT id FROM traced"))}

    async def emit(req, reply, ctx):
        await ctx.bus.emit("ping", {"from": "http"})
        return {"sent": True}

    async def locked(req, reply, ctx):
        async with ctx.lock.hold("tracing-test-key"):
            return {"locked": True}

    async def ask(req, reply, ctx):
        return {"answer": await ctx.bus.request("double", 21)}

    def routes(router):
        router.get("/locked", locked)
        router.get("/ask", ask)
        router.get("/users/{id}", user)
        router.get("/items", items)
        router.get("/emit", emit)
"""


def project(root: Path, tracing: str) -> Path:
    db = {"driver": "sqlite", "path": str(root / "t.db")}
    config = (f'config = {{"logger": {{"level": "critical"}}, "tracing": {tracing},'
              f' "services": {{"dbs": {{"main": {db!r}}}}}}}\n')
    return write_project(root, {"mega_config.py": config, "apps/web/app_config.py": "config = {}\n",
                                "apps/web/routes/main.py": ROUTES})


def client(rt: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=rt.host), base_url="http://shop.test:8000")


def memory(rt: Any) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    rt.tracing.provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def test_traceparent_in_gives_the_same_trace_id_on_the_exported_span(tmp_path: Path) -> None:
    async with running(project(tmp_path, "{'exporter': 'none'}")) as rt, client(rt) as http:
        exporter = memory(rt)
        r = await http.get("/users/7", headers={"traceparent": PARENT, "tracestate": "vendor=1"})
        assert r.status_code == 200
        await http.get("/nowhere")
        await http.get("/users/8", headers={"traceparent": "garbage"})
    first, unmatched, fresh = exporter.get_finished_spans()
    assert format(first.context.trace_id, "032x") == TRACE_ID
    assert format(first.parent.span_id, "016x") == "00f067aa0ba902b7"
    assert first.context.trace_state.get("vendor") == "1"
    assert first.name == "GET /users/{id}" and first.kind is trace.SpanKind.SERVER
    assert first.attributes["http.route"] == "/users/{id}"
    assert first.attributes["http.request.method"] == "GET"
    assert first.attributes["url.path"] == "/users/7"
    assert first.attributes["server.address"] == "shop.test"
    assert first.attributes["http.response.status_code"] == 200
    assert first.attributes["mega.app"] == "web"
    assert first.resource.attributes["service.name"] == tmp_path.name
    assert first.resource.attributes["deployment.environment.name"] == "test"
    assert unmatched.name == "GET" and unmatched.attributes["http.response.status_code"] == 404
    assert "http.route" not in unmatched.attributes
    assert fresh.parent is None and format(fresh.context.trace_id, "032x") != TRACE_ID  # invalid: new root


async def test_database_and_bus_spans_join_the_request_trace(tmp_path: Path) -> None:
    async with running(project(tmp_path, "{'exporter': 'none'}")) as rt, client(rt) as http:
        exporter = memory(rt)
        got: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def on_ping(payload: Any) -> None:
            got.set_result(trace.get_current_span().get_span_context().trace_id)

        await rt.apps["web"].bus.on("ping", on_ping)
        assert (await http.get("/items", headers={"traceparent": PARENT})).json()["data"] == {"n": 1}
        assert (await http.get("/emit", headers={"traceparent": PARENT})).status_code == 200
        assert format(await asyncio.wait_for(got, 5), "032x") == TRACE_ID  # the receiver continued it
    spans = exporter.get_finished_spans()
    db = [s for s in spans if s.attributes.get("db.system.name") == "sqlite"]
    assert [s.attributes["db.operation.name"] for s in db] == ["CREATE", "INSERT", "SELECT"]  # the kind
    assert [s.attributes["mega.operation"] for s in db] == ["execute", "execute", "query"]
    assert [s.attributes["db.collection.name"] for s in db] == ["traced"] * 3  # the table, from the SQL
    assert [s.name for s in db] == ["CREATE traced", "INSERT traced", "SELECT traced"]
    assert all(format(s.context.trace_id, "032x") == TRACE_ID for s in db)
    assert all(s.kind is trace.SpanKind.CLIENT for s in db)
    assert not any("hunter2" in str(v) for s in db for v in s.attributes.values())  # never parameters
    consumer = [s for s in spans if s.kind is trace.SpanKind.CONSUMER]
    assert len(consumer) == 1 and format(consumer[0].context.trace_id, "032x") == TRACE_ID


async def test_lock_and_bus_request_spans_join_the_request_trace(tmp_path: Path) -> None:
    async with running(project(tmp_path, "{'exporter': 'none'}")) as rt, client(rt) as http:
        exporter = memory(rt)
        await rt.apps["web"].bus.on("double", lambda n: n * 2)
        assert (await http.get("/locked", headers={"traceparent": PARENT})).json()["data"] == {"locked": True}
        assert (await http.get("/ask", headers={"traceparent": PARENT})).json()["data"] == {"answer": 42}
    spans = {s.name: s for s in exporter.get_finished_spans()}
    lock, request = spans["lock acquire"], spans["bus request"]
    responder = spans[next(name for name in spans if name.startswith("receive "))]
    assert format(responder.context.trace_id, "032x") == TRACE_ID  # the responder continued the trace
    assert lock.attributes["mega.outcome"] == "acquired" and request.attributes["mega.outcome"] == "ok"
    assert format(lock.context.trace_id, "032x") == TRACE_ID == format(request.context.trace_id, "032x")
    assert lock.parent.span_id == spans["GET /locked"].context.span_id


async def test_sampling_zero_records_no_root_span(tmp_path: Path) -> None:
    root = project(tmp_path, "{'exporter': 'none', 'sample_ratio': 0}")
    async with running(root) as rt, client(rt) as http:
        exporter = memory(rt)
        for n in range(5):
            await http.get(f"/users/{n}")
        await http.get("/users/1", headers={"traceparent": PARENT})  # a sampled parent still wins
    spans = exporter.get_finished_spans()
    assert [format(s.context.trace_id, "032x") for s in spans] == [TRACE_ID]


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[tuple[str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).bodies.append((self.path, body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def otlp_receiver() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """A loopback HTTP server recording every POST (an OTLP/HTTP collector's only job here)."""
    handler = type("Receiver", (_Receiver,), {"bodies": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", handler.bodies
    finally:
        server.shutdown()
        server.server_close()


async def test_spans_reach_a_local_otlp_receiver(tmp_path: Path, otlp_receiver: Any) -> None:
    endpoint, bodies = otlp_receiver
    async with running(project(tmp_path, f"{{'exporter': 'otlp', 'endpoint': {endpoint!r}}}")) as rt, \
            client(rt) as http:
        assert (await http.get("/users/1", headers={"traceparent": PARENT})).status_code == 200
    # rt.close() shut the provider down, which flushed the batch to the receiver
    assert bodies and all(path == "/v1/traces" for path, _ in bodies)
    spans = []
    for _, body in bodies:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                spans.extend(scope_spans.spans)
    server = [s for s in spans if s.name == "GET /users/{id}"]
    assert len(server) == 1 and server[0].trace_id.hex() == TRACE_ID
