"""Jobs under metrics and tracing, over the machine's NATS: `mega_job_*` series after known runs, the
enqueuer's traceparent in the message headers and the worker's run span continuing it; with both off
the queue has no hook at all."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nats
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mega.jobs._consumer import Consumer
from mega.jobs._metrics import JobMetrics
from mega.jobs._worker import serve_http
from mega.testing import make_client, running, write_project
from tests import services

pytestmark = [pytest.mark.integration, pytest.mark.service("nats")]

NATS_URL = services.url("nats")
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"

JOB = """
import os
from mega import Job

class Work(Job):
    subject = os.environ["OBS_JOBS_SUBJECT"]
    concurrency = 2
    retries = 1
    backoff = {"type": "fixed", "initial": 0.01, "max": 0.01}

    async def run(self, payload, ctx):
        if payload.get("fail"):
            raise RuntimeError("poison")
        return payload["id"]
"""

ROUTES = """
    async def enqueue(req, reply, ctx):
        job = next(iter(ctx.app.jobs.jobs.values()))
        result = await ctx.jobs.enqueue(job, {"id": "from-http"})
        return {"seq": result.seq}

    def routes(router):
        router.post("/enqueue", enqueue)
"""


class Names:
    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:10]
        self.subject = f"it.obsjobs.{tag}"
        self.prefix = f"OBS_{tag}"
        self.stream = f"{self.prefix}_{self.subject.replace('.', '_')}"
        self.dlq = self.stream + "_DLQ"

    async def delete_streams(self) -> None:
        nc = await nats.connect(NATS_URL)
        try:
            js = nc.jetstream()
            for name in (self.stream, self.dlq):
                with contextlib.suppress(Exception):
                    await js.delete_stream(name)
        finally:
            await nc.close()


@pytest.fixture
async def names(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Names]:
    """This test's subject and streams (the job class reads the subject from the env), deleted after."""
    made = Names()
    monkeypatch.setenv("OBS_JOBS_SUBJECT", made.subject)
    yield made
    await made.delete_streams()


@pytest.fixture
def project(tmp_path: Path, names: Names) -> Callable[[str], Path]:
    """`project(observe)`: the web app with the job, its extra global config `observe` (`"metrics": True`)."""

    def make(observe: str) -> Path:
        config = (
            'config = {"logger": {"level": "critical"}, '
            f'"services": {{"buses": {{"q": {{"driver": "nats", "url": "{NATS_URL}"}}}}}}, '
            f'"jobs": {{"stream_prefix": "{names.prefix}"}}, {observe}}}\n'
        )
        return write_project(tmp_path, {
            "mega_config.py": config,
            "apps/web/app_config.py": 'config = {"rate_limit": False}\n',
            "apps/web/routes/main.py": ROUTES,
            "apps/web/jobs/work.py": JOB,
        })

    return make


async def stored(stream: str, seq: int) -> Any:
    """The message `seq` of `stream`, as JetStream keeps it."""
    nc = await nats.connect(NATS_URL)
    try:
        return await nc.jetstream().get_msg(stream, seq)
    finally:
        await nc.close()


def samples(text: str, name: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        m = re.match(rf"{name}(\{{.*\}})? (\S+)$", line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


async def _drained(stream: str) -> bool:
    nc = await nats.connect(NATS_URL)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        ci = await js.consumer_info(stream, "worker")
        return info.state.messages == 0 and ci.num_ack_pending == 0
    finally:
        await nc.close()


async def _wait(predicate: Any, timeout: float) -> bool:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        with contextlib.suppress(Exception):
            if await predicate():
                return True
        await asyncio.sleep(0.2)
    return False


async def _worker_metrics(rt: Any, metrics: JobMetrics) -> str:
    server = await serve_http(rt, metrics, 0)
    port = server.sockets[0].getsockname()[1]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        page = (await reader.read()).decode()
        writer.close()
        return page
    finally:
        server.close()
        await server.wait_closed()


async def test_job_series_and_the_trace_from_enqueue_to_the_worker_run(
    names: Names, project: Callable[[str], Path]
) -> None:
    async with running(project('"metrics": True, "tracing": {"exporter": "none"}')) as rt:
        exporter = InMemorySpanExporter()
        rt.tracing.provider.add_span_processor(SimpleSpanProcessor(exporter))
        app = rt.apps["web"]
        work = app.jobs.jobs[names.subject]
        async with make_client(rt) as http:
            r = await http.post("/enqueue", headers={"traceparent": PARENT})
            assert r.status_code == 200, r.text
            from_http = r.json()["data"]["seq"]
            plain = await app.jobs.enqueue(work, {"id": "plain"})  # outside any trace: a new root
            bad = await app.jobs.enqueue(work, {"id": "bad", "fail": True})

            message = await stored(names.stream, from_http)
            assert message.headers is not None
            assert message.headers["traceparent"].split("-")[1] == TRACE_ID  # carried in the headers

            consumer = Consumer(work, app.jobs, app, JobMetrics())
            task = asyncio.get_running_loop().create_task(consumer.run())
            try:
                assert await _wait(lambda: _drained(names.stream), 30)
            finally:
                consumer.stopping = True
                await consumer.stop(5)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            text = (await http.get("/metrics")).text
            worker_page = await _worker_metrics(rt, consumer.metrics)
    # `mega worker --http-port`: its own counters, then the process's registry (metrics on)
    assert "mega_jobs_total{" in worker_page and "mega_job_events_total{" in worker_page

    label = f'subject="{names.subject}"'
    events = samples(text, "mega_job_events_total")
    expected = {"dispatch": 3.0, "done": 2.0, "retry": 1.0, "dlq": 1.0}
    assert events == {f'{{event="{event}",{label}}}': count for event, count in expected.items()}
    assert samples(text, "mega_job_failures_total") == {f'{{phase="run",{label}}}': 1.0}
    assert samples(text, "mega_job_run_duration_seconds_count") == {f"{{{label}}}": 3.0}

    spans = exporter.get_finished_spans()
    sends = [s for s in spans if s.name == f"send {names.subject}"]
    runs = [s for s in spans if s.name == f"process {names.subject}"]
    assert len(sends) == 3 and len(runs) == 3
    assert all(s.kind is trace.SpanKind.PRODUCER for s in sends)
    assert all(s.kind is trace.SpanKind.CONSUMER for s in runs)
    by_parent = {s.parent.span_id: s for s in runs if s.parent is not None}
    for send in sends:  # every run continues the trace of its enqueue, as the send span's child
        run = by_parent[send.context.span_id]
        assert run.context.trace_id == send.context.trace_id
    http_send = next(s for s in sends if format(s.context.trace_id, "032x") == TRACE_ID)
    http_run = by_parent[http_send.context.span_id]
    assert http_run.attributes["messaging.destination.name"] == names.subject
    assert http_run.attributes["messaging.nats.delivery"] == 1
    failed = [s for s in runs if s.status.status_code is trace.StatusCode.ERROR]
    assert len(failed) == 1 and failed[0].attributes["mega.job.stream"] == names.stream
    assert {plain.seq, bad.seq} <= {from_http + 1, from_http + 2}


async def test_with_metrics_and_tracing_off_a_queue_has_no_hook(
    names: Names, project: Callable[[str], Path]
) -> None:
    async with running(project('"metrics": False')) as rt:
        queue = rt.apps["web"].jobs
        assert rt.instruments is None
        assert queue.run_observers == [] and queue.tracer is None
        assert not any(queue.events.wants(e) for e in ("dispatch", "done", "retry", "fail", "dlq"))
        result = await queue.enqueue(queue.jobs[names.subject], {"id": "x"})
        assert "traceparent" not in ((await stored(names.stream, result.seq)).headers or {})
