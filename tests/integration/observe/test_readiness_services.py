"""Readiness against real services: declared adapters check themselves; a cut database fails readiness."""

from __future__ import annotations

import asyncio
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from mega.testing import make_client, running, write_project
from tests import services
from tests.integration.adapters._services import TcpProxy

pytestmark = pytest.mark.integration


def project(root: Path, services_cfg: str) -> Path:
    config = (
        'config = {"logger": {"level": "warning"}, '
        '"health": {"expose_details": True, "check_timeout": 1}, '
        f'"services": {services_cfg}}}\n'
    )
    return write_project(
        root, {"mega_config.py": config, "apps/main/routes/r.py": "def routes(router):\n    pass\n"}
    )


async def ready_within(http: httpx.AsyncClient, status: int, seconds: float = 10.0) -> httpx.Response:
    """The first readiness answer with `status`, probing as an orchestrator would (every 0.2 s)."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        r = await http.get("/health/ready")
        if r.status_code == status or asyncio.get_running_loop().time() > deadline:
            return r
        await asyncio.sleep(0.2)


async def test_readiness_is_503_while_postgres_is_unreachable_and_200_once_it_is_back(tmp_path: Path) -> None:
    pg = urlsplit(services.require("postgres"))
    proxy = await TcpProxy(pg.hostname or "127.0.0.1", pg.port or 5432).start()
    url = f"postgresql://{pg.username or 'postgres'}@127.0.0.1:{proxy.port}{pg.path or '/test'}"
    root = project(tmp_path, f'{{"dbs": {{"main": {{"driver": "postgres", "url": {url!r}}}}}}}')
    try:
        async with running(root) as rt, make_client(rt) as http:
            assert "db:main" in rt.health.names  # declared, so checked: nothing registered by hand
            r = await http.get("/health/ready")
            assert r.status_code == 200, r.text
            assert r.json()["data"]["check_details"]["db:main"]["status"] == "ok"

            await proxy.cut()
            r = await http.get("/health/ready")
            assert r.status_code == 503, r.text
            error = r.json()["error"]
            assert error["code"] == "health.check_failed" and "db:main" in error["details"]["failed"]
            assert error["details"]["check_details"]["db:main"]["status"] == "failed"
            assert (await http.get("/health/live")).status_code == 200  # liveness never tests the database

            await proxy.resume()
            r = await ready_within(http, 200)
            assert r.status_code == 200, r.text
            assert r.json()["data"]["checks"]["db:main"] == "ok"
    finally:
        await proxy.cut()


class StallingProxy(TcpProxy):
    """A TcpProxy that can hold every byte (`stall()`): the database hangs instead of refusing."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(host, port)
        self.flowing = asyncio.Event()
        self.flowing.set()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.CancelledError):
            pass
        writer.close()


async def test_a_hanging_postgres_fails_readiness_within_its_check_timeout(tmp_path: Path) -> None:
    pg = urlsplit(services.require("postgres"))
    proxy = await StallingProxy(pg.hostname or "127.0.0.1", pg.port or 5432).start()
    url = f"postgresql://{pg.username or 'postgres'}@127.0.0.1:{proxy.port}{pg.path or '/test'}"
    root = project(tmp_path, f'{{"dbs": {{"main": {{"driver": "postgres", "url": {url!r}}}}}}}')
    try:
        async with running(root) as rt, make_client(rt) as http:
            assert (await http.get("/health/ready")).status_code == 200
            proxy.flowing.clear()
            started = asyncio.get_running_loop().time()
            r = await http.get("/health/ready")
            elapsed = asyncio.get_running_loop().time() - started
            assert r.status_code == 503, r.text
            details = r.json()["error"]["details"]["check_details"]["db:main"]
            assert details["reason"] == "timed out after 1s"
            assert elapsed < 5  # the 1 s time box, not the driver's own timeouts
            proxy.flowing.set()
            r = await ready_within(http, 200)
            assert r.status_code == 200, r.text
    finally:
        proxy.flowing.set()
        await proxy.cut()


async def test_declared_redis_and_nats_adapters_register_their_checks(tmp_path: Path) -> None:
    redis_url = services.require("redis")
    nats_url = services.require("nats")
    root = project(
        tmp_path,
        f'{{"redis": {{"main": {{"url": {redis_url!r}}}}}, '
        f'"buses": {{"events": {{"driver": "nats", "url": {nats_url!r}}}}}}}',
    )
    async with running(root) as rt, make_client(rt) as http:
        assert {"redis:main", "bus:events", "db:default"} <= set(rt.health.names)
        r = await http.get("/health/ready")
        assert r.status_code == 200, r.text
        details = r.json()["data"]["check_details"]
        assert all(details[name]["status"] == "ok" for name in ("redis:main", "bus:events", "db:default"))
