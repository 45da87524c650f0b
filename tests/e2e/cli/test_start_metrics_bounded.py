"""`mega start` in production with metrics on: after 10,000 requests over 50 routes, most of them to
random paths no route answers, the `mega_http_*` series are exactly those of the first scrape."""

from __future__ import annotations

import asyncio
import random
import re
import string
import time
from pathlib import Path

import httpx
import pytest

from mega.testing import write_project
from tests.e2e.cli.conftest import Server, environ, free_port, get, wait_for

pytestmark = pytest.mark.integration

ROUTES = 50
TOKEN = "scrape-token-for-the-test"
FIRST_MATCHED, FIRST_NOISE = 1_000, 200  # before the first scrape
MATCHED, NOISE = 2_000, 6_800  # then: 10,000 requests in all


def project(root: Path) -> Path:
    lines = ["def routes(router):"]
    lines += [f"    router.get('/r{i}/{{id}}', lambda req: {{'n': {i}}})" for i in range(ROUTES)]
    return write_project(
        root,
        {
            "mega_config.py": 'config = {"logger": {"level": "warning"}, '
            f'"metrics": {{"enabled": True, "token": "{TOKEN}"}}}}\n',
            "apps/web/app_config.py": 'config = {"rate_limit": False}\n',
            "apps/web/routes/main.py": "\n".join(lines) + "\n",
        },
    )


async def hit(port: int, paths: list[str]) -> dict[int, int]:
    """GET every path over 8 keep-alive connections; the count of each status."""
    statuses: dict[int, int] = {}
    queue = iter(paths)
    limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=10) as http:

        async def lane() -> None:
            for path in queue:
                status = (await http.get(path)).status_code
                statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(lane() for _ in range(8)))
    return statuses


def scrape(port: int) -> list[str]:
    r = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert r.status_code == 200, r.text
    return [line for line in r.text.splitlines() if line.startswith("mega_http_")]


async def test_series_do_not_grow_with_distinct_paths(tmp_path: Path) -> None:
    root = project(tmp_path / "proj")
    port = free_port()
    server = Server(
        ["start", "--port", str(port)],
        root,
        tmp_path / "server.log",
        environ(MEGA_ENV="production", SESSION_SECRET="s" * 48),
    )
    rng = random.Random(14)

    def noise(n: int) -> list[str]:
        return ["/" + "".join(rng.choices(string.ascii_lowercase + string.digits, k=16)) for _ in range(n)]

    try:
        wait_for(lambda: get(port, "/health/live").status_code == 200, 30, "mega start to serve")
        started = time.monotonic()
        first = await hit(port, [f"/r{i % ROUTES}/{i}" for i in range(FIRST_MATCHED)] + noise(FIRST_NOISE))
        before = scrape(port)
        second = await hit(port, [f"/r{i % ROUTES}/{rng.random()}" for i in range(MATCHED)] + noise(NOISE))
        after = scrape(port)
        elapsed = time.monotonic() - started
    finally:
        server.kill()
    assert first == {200: FIRST_MATCHED, 404: FIRST_NOISE}, server.output()[-2000:]
    assert second == {200: MATCHED, 404: NOISE}
    assert sum(first.values()) + sum(second.values()) == 10_000
    assert len(after) == len(before)  # 8,800 more distinct paths, not one more series
    assert {re.sub(r"\} \S+$", "}", ln) for ln in after} == {re.sub(r"\} \S+$", "}", ln) for ln in before}
    routes = set(re.findall(r'route="([^"]*)"', "\n".join(after)))
    assert routes == {f"/r{i}/{{id}}" for i in range(ROUTES)} | {"__unmatched__"}
    total = {
        ln.split(" ")[0]: float(ln.split(" ")[1]) for ln in after if ln.startswith("mega_http_requests_total")
    }
    assert (
        total['mega_http_requests_total{app="web",method="GET",route="__unmatched__",status="4xx"}']
        == FIRST_NOISE + NOISE
    )
    assert (
        total['mega_http_requests_total{app="web",method="GET",route="/r7/{id}",status="2xx"}']
        == (FIRST_MATCHED + MATCHED) / ROUTES
    )
    print(
        f"\n[metrics bounded] 10,000 requests through mega start in {elapsed:.1f}s, "
        f"{len(after)} mega_http_ lines"
    )
