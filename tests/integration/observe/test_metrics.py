"""Metrics: /metrics after known requests, bounded series, rejections, adapters, and nothing installed
when metrics and tracing are off."""

from __future__ import annotations

import random
import re
import string
import uuid
from pathlib import Path

import httpx
import pytest

from mega.observe.instruments import UNMATCHED
from mega.testing import running, write_project
from tests import services

ROUTES = """
    async def hello(req):
        return {"hi": True}

    async def user(req):
        return {"id": req.params["id"]}

    async def boom(req):
        raise RuntimeError("boom")

    async def items(req, reply, ctx):
        await ctx.db().execute("CREATE TABLE IF NOT EXISTS metrics_items (id INTEGER PRIMARY KEY)")
        return {"rows": len(await ctx.db().query("SELECT id FROM metrics_items"))}

    def routes(router):
        router.get("/", hello)
        router.get("/users/{id}", user)
        router.get("/boom", boom)
        router.get("/items", items)
"""


def project(root: Path, config: str, routes: str = ROUTES, app_config: str = "config = {}\n") -> Path:
    return write_project(root, {
        "mega_config.py": config,
        "apps/web/app_config.py": app_config,
        "apps/web/routes/main.py": routes,
    })


def client(rt: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=rt.host)  # type: ignore[attr-defined]
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def samples(text: str, name: str) -> dict[str, float]:
    """{label text: value} of every sample of `name` in a Prometheus text."""
    out = {}
    for line in text.splitlines():
        m = re.match(rf"{name}(\{{.*\}})? (\S+)$", line)
        if m:
            out[m.group(1) or ""] = float(m.group(2))
    return out


CONFIG = 'config = {"logger": {"level": "critical"}, "metrics": True}\n'


async def test_metrics_count_requests_by_route_pattern_method_and_status_class(tmp_path: Path) -> None:
    async with running(project(tmp_path, CONFIG)) as rt, client(rt) as http:
        for _ in range(3):
            assert (await http.get("/")).status_code == 200
        for n in range(5):
            assert (await http.get(f"/users/{n}")).status_code == 200
        assert (await http.get("/boom")).status_code == 500
        assert (await http.get("/nope/1")).status_code == 404
        assert (await http.get("/nope/2")).status_code == 404
        assert (await http.post("/")).status_code == 405
        r = await http.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    total = samples(r.text, "mega_http_requests_total")
    assert total == {
        '{app="web",method="GET",route="/",status="2xx"}': 3.0,
        '{app="web",method="GET",route="/users/{id}",status="2xx"}': 5.0,
        '{app="web",method="GET",route="/boom",status="5xx"}': 1.0,
        f'{{app="web",method="GET",route="{UNMATCHED}",status="4xx"}}': 2.0,
        f'{{app="web",method="POST",route="{UNMATCHED}",status="4xx"}}': 1.0,
    }
    counts = samples(r.text, "mega_http_request_duration_seconds_count")
    assert counts['{app="web",method="GET",route="/users/{id}",status="2xx"}'] == 5.0
    inf = samples(r.text, "mega_http_request_duration_seconds_bucket")
    assert inf['{app="web",le="+Inf",method="GET",route="/",status="2xx"}'] == 3.0
    assert inf['{app="web",le="10.0",method="GET",route="/",status="2xx"}'] == 3.0
    assert "process_resident_memory_bytes" in r.text and "python_gc_objects_collected_total" in r.text
    assert "mega_event_loop_lag_seconds" in r.text
    memory = samples(r.text, "mega_process_memory_bytes")
    assert set(memory) == {'{kind="rss"}', '{kind="vms"}'} and memory['{kind="rss"}'] > 1_000_000
    assert 'mega_lock_events_total{app="web",driver="memory",event="acquired"} 0.0' in r.text
    assert 'mega_bus_messages_total{app="web",driver="memory",kind="published"} 0.0' in r.text


async def test_series_stay_bounded_whatever_paths_are_hit(tmp_path: Path) -> None:
    lines = ["def routes(router):"]
    for i in range(50):
        lines.append(f"    router.get('/r{i}/{{id}}', lambda req: {{'n': {i}}})")
    root = project(tmp_path, CONFIG, "\n".join(lines) + "\n", 'config = {"rate_limit": False}\n')
    rng = random.Random(14)

    def noise() -> str:
        return "/" + "".join(rng.choices(string.ascii_lowercase + string.digits, k=12))

    async with running(root) as rt, client(rt) as http:
        for i in range(1000):
            await http.get(f"/r{i % 50}/{i}")
        for _ in range(200):
            await http.get(noise())
        before = [ln for ln in (await http.get("/metrics")).text.splitlines() if ln.startswith("mega_http_")]
        for i in range(2000):
            await http.get(f"/r{i % 50}/{rng.random()}")
        for _ in range(10_000):
            await http.get(noise())
        text = (await http.get("/metrics")).text
    after = [ln for ln in text.splitlines() if ln.startswith("mega_http_")]
    assert len(after) == len(before)  # 12,200 more distinct paths, not one more series
    routes = {m for m in re.findall(r'route="([^"]*)"', "\n".join(after))}
    assert routes == {f"/r{i}/{{id}}" for i in range(50)} | {UNMATCHED}
    total = samples(text, "mega_http_requests_total")
    assert total[f'{{app="web",method="GET",route="{UNMATCHED}",status="4xx"}}'] == 10_200.0
    assert total['{app="web",method="GET",route="/r7/{id}",status="2xx"}'] == 60.0


async def test_security_rejections_are_counted_by_reason(tmp_path: Path) -> None:
    limited = 'config = {"rate_limit": {"max": 2, "window": 60}}\n'
    async with running(project(tmp_path, CONFIG, app_config=limited)) as rt, client(rt) as http:
        statuses = [(await http.get("/")).status_code for _ in range(5)]
        text = (await http.get("/metrics")).text
    assert statuses.count(429) == 3
    assert samples(text, "mega_security_rejections_total") == {'{reason="rate_limit.exceeded"}': 3.0}


@pytest.mark.parametrize("driver", ["sqlite", "postgres"])
async def test_adapter_calls_are_timed_with_a_real_database(tmp_path: Path, driver: str) -> None:
    table = f"metrics_items_{uuid.uuid4().hex[:10]}"
    entry = {"driver": "sqlite", "path": str(tmp_path / "m.db")} if driver == "sqlite" else \
        {"driver": "postgres", "url": services.require("postgres")}
    config = (f'config = {{"logger": {{"level": "critical"}}, "metrics": True,'
              f' "services": {{"dbs": {{"main": {entry!r}}}}}}}\n')
    async with running(project(tmp_path, config, ROUTES.replace("metrics_items", table))) as rt, \
            client(rt) as http:
        try:
            for _ in range(2):
                assert (await http.get("/items")).json()["data"] == {"rows": 0}
            text = (await http.get("/metrics")).text
        finally:
            await rt.apps["web"].db().execute(f"DROP TABLE IF EXISTS {table}")
    counts = samples(text, "mega_adapter_call_duration_seconds_count")
    labels = f'alias="main",driver="{driver}",family="db"'  # the text sorts a histogram's labels
    assert counts[f'{{{labels},op="execute",outcome="ok"}}'] == 2.0
    assert counts[f'{{{labels},op="query",outcome="ok"}}'] == 2.0


async def test_the_endpoint_asks_for_its_token(tmp_path: Path) -> None:
    config = ('config = {"logger": {"level": "critical"},'
              ' "metrics": {"token": "s3cret", "path": "/internal/metrics"}}\n')
    async with running(project(tmp_path, config)) as rt, client(rt) as http:
        assert (await http.get("/internal/metrics")).status_code == 401
        bad = await http.get("/internal/metrics", headers={"authorization": "Bearer nope"})
        assert bad.status_code == 401 and "mega_" not in bad.text
        ok = await http.get("/internal/metrics", headers={"authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and "mega_http_requests_total" in ok.text
        assert (await http.get("/metrics")).status_code == 404


async def test_allow_list_refuses_other_addresses(tmp_path: Path) -> None:
    config = 'config = {"logger": {"level": "critical"}, "metrics": {"allow": ["10.0.0.0/8"]}}\n'
    async with running(project(tmp_path, config)) as rt, client(rt) as http:
        assert (await http.get("/metrics")).status_code == 403  # httpx's ASGI client is 127.0.0.1


async def test_off_means_no_hook_in_the_compiled_pipeline(tmp_path: Path) -> None:
    async with running(project(tmp_path, 'config = {"logger": {"level": "critical"}}\n')) as rt:
        app = rt.apps["web"]
        assert rt.instruments is None and app.instruments is None
        endpoint = app.table.static["/"]["GET"]
        assert endpoint.__qualname__ == "endpoint[GET /]"  # compile_route's own function, unwrapped
        assert app._miss.__self__._respond.__name__ == "_answer_unmatched"  # type: ignore[attr-defined]
        assert app._unmatched.__name__ == "_answer_unmatched"  # type: ignore[attr-defined]
        assert all(a.observe is None for a in rt.adapters.all())  # type: ignore[union-attr]
        async with client(rt) as http:
            assert (await http.get("/metrics")).status_code == 404
    async with running(project(tmp_path / "on", CONFIG)) as rt:
        endpoint = rt.apps["web"].table.static["/"]["GET"]
        assert endpoint.__qualname__.endswith("measured")


LOCK_BUS_ROUTES = """
    async def locked(req, reply, ctx):
        async with ctx.lock.hold("metrics-test-key", wait=1):
            pass
        try:
            await ctx.lock.acquire("metrics-test-held", wait=0)
            await ctx.lock.acquire("metrics-test-held", wait=0)
        except Exception as exc:
            return {"second": exc.code}
        return {"second": "granted"}

    async def ask(req, reply, ctx):
        return {"answer": await ctx.bus.request("double", 21)}

    def routes(router):
        router.get("/locked", locked)
        router.get("/ask", ask)
"""


async def test_lock_waits_and_bus_requests_are_timed_and_counted(tmp_path: Path) -> None:
    async with running(project(tmp_path, CONFIG, LOCK_BUS_ROUTES)) as rt, client(rt) as http:
        await rt.apps["web"].bus.on("double", lambda n: n * 2)
        assert (await http.get("/locked")).json()["data"] == {"second": "lock.timeout"}
        assert (await http.get("/ask")).json()["data"] == {"answer": 42}
        text = (await http.get("/metrics")).text
    waits = samples(text, "mega_lock_wait_seconds_count")
    assert waits == {'{app="web",driver="memory",outcome="acquired"}': 2.0,
                     '{app="web",driver="memory",outcome="timeout"}': 1.0}
    events = samples(text, "mega_lock_events_total")
    assert events['{app="web",driver="memory",event="timeout"}'] == 1.0
    assert events['{app="web",driver="memory",event="acquired"}'] == 2.0
    asked = samples(text, "mega_bus_request_duration_seconds_count")
    assert asked == {'{app="web",driver="memory",outcome="ok"}': 1.0}
    bus = samples(text, "mega_bus_messages_total")
    assert bus['{app="web",driver="memory",kind="requests"}'] == 1.0
    assert bus['{app="web",driver="memory",kind="received"}'] == 1.0


async def test_event_loop_lag_shows_a_blocked_loop(tmp_path: Path) -> None:
    import asyncio

    config = 'config = {"logger": {"level": "critical"}, "metrics": {"loop_lag_interval": "10ms"}}\n'
    blocking = ("import time\n\n"
                "def routes(router):\n"
                "    async def block(req):\n"
                "        time.sleep(0.3)  # a handler that blocks the event loop\n"
                "        return {}\n"
                "    router.get('/block', block)\n")
    async with running(project(tmp_path, config, blocking)) as rt, client(rt) as http:
        await asyncio.sleep(0.05)  # the sampler has ticked
        await http.get("/block")
        await asyncio.sleep(0.05)
        lag = samples((await http.get("/metrics")).text, "mega_event_loop_lag_seconds")
    assert lag['{kind="max"}'] >= 0.2


BREAKER_ROUTES = """
    from mega.resilience import BreakerOpenError, get_breaker

    async def call(req):
        breaker = get_breaker(req.query.get("name"))

        async def work():
            if req.query.get("fail"):
                raise ConnectionError("down")
            return "ok"

        try:
            return {"got": await breaker.call(work)}
        except (ConnectionError, BreakerOpenError) as exc:
            return {"error": type(exc).__name__}

    def routes(router):
        router.get("/call", call)
"""


async def test_circuit_breakers_report_their_state_and_calls_by_outcome(tmp_path: Path) -> None:
    from mega.resilience import CircuitBreaker
    from mega.resilience._breaker import forget_breakers

    name = f"metrics-{uuid.uuid4().hex[:8]}"
    clock = [0.0]
    CircuitBreaker(name, failure_threshold=2, reset_timeout=10, clock=lambda: clock[0])
    root = project(tmp_path, CONFIG, BREAKER_ROUTES, 'config = {"rate_limit": False}\n')
    try:
        async with running(root) as rt, client(rt) as http:
            for query in ("", "", "&fail=1", "&fail=1", "", ""):  # 2 ok, 2 failures (opens), 2 rejected
                await http.get(f"/call?name={name}{query}")
            opened = (await http.get("/metrics")).text
            clock[0] = 11.0  # past reset_timeout: half-open on the next look
            await http.get(f"/call?name={name}")  # the probe succeeds: closed again
            closed = (await http.get("/metrics")).text
    finally:
        forget_breakers({name})
    assert samples(opened, "mega_breaker_state")[f'{{name="{name}"}}'] == 2.0
    calls = {k: v for k, v in samples(opened, "mega_breaker_calls_total").items() if name in k}
    assert calls == {f'{{name="{name}",outcome="success"}}': 2.0, f'{{name="{name}",outcome="failure"}}': 2.0,
                     f'{{name="{name}",outcome="reject"}}': 2.0}
    assert samples(closed, "mega_breaker_state")[f'{{name="{name}"}}'] == 0.0
    assert samples(closed, "mega_breaker_calls_total")[f'{{name="{name}",outcome="success"}}'] == 3.0


async def test_breakers_are_not_observed_with_metrics_off(tmp_path: Path) -> None:
    from mega.resilience._breaker import _observers

    before = list(_observers)
    async with running(project(tmp_path, 'config = {"logger": {"level": "critical"}}\n')) as rt:
        assert rt.metrics is None and _observers == before
    async with running(project(tmp_path / "on", CONFIG)) as rt:
        assert len(_observers) == len(before) + 1  # attached while metrics are on
    assert _observers == before  # and detached at shutdown
