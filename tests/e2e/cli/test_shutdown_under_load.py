"""SIGTERM on `mega start` under keep-alive load: readiness 503 first, in-flight requests answered,
hooks by order with a hanging one cut at its timeout, exit 0 within the grace time."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.cli.conftest import environ, free_port, get, wait_for
from tests.shutdown_hooks import hooks_routes

pytestmark = pytest.mark.integration

ROUTES = hooks_routes(
    [("last", 300, None), ("hang", 10, 1), ("boom", 20, None)],
    handlers="async def work():\n    await asyncio.sleep(0.05)\n    return 'ok'\n",
    mounts=['router.get("/work", work)'], register_once=True)

GRACE = 20.0  # server.shutdown_timeout


@dataclass
class Outcome:
    started: float
    result: str  # "200", "503", ..., "reset", "eof", "refused"
    closing: bool = False  # the response carried Connection: close


@dataclass
class Record:
    load: list[Outcome] = field(default_factory=list)
    ready: list[Outcome] = field(default_factory=list)


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str
) -> tuple[str, bool]:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = (line.partition(":") for line in lines[1:] if line)
    headers = {k.strip().lower(): v.strip() for k, _, v in fields}
    await reader.readexactly(int(headers.get("content-length", "0")))
    return lines[0].split(" ")[1], headers.get("connection", "").lower() == "close"


def _dropped(writer: asyncio.StreamWriter | None) -> None:
    """Close a connection the server ended (granian ends idle keep-alive ones at its shutdown)."""
    if writer is not None:
        writer.close()


async def _keep_alive_client(port: int, stop: asyncio.Event, out: list[Outcome]) -> None:
    writer: asyncio.StreamWriter | None = None
    while not stop.is_set():
        started = time.monotonic()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            status, closing = await asyncio.wait_for(_request(reader, writer, "/work"), 60)
        except ConnectionRefusedError:
            out.append(Outcome(started, "refused"))
            return
        except asyncio.IncompleteReadError:
            out.append(Outcome(started, "eof"))
            writer = _dropped(writer)
            continue
        except OSError:
            out.append(Outcome(started, "reset"))
            writer = _dropped(writer)
            continue
        out.append(Outcome(started, status, closing))
        if closing:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def _readiness_poller(port: int, stop: asyncio.Event, out: list[Outcome]) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                status, _ = await asyncio.wait_for(_request(reader, writer, "/health/ready"), 60)
            finally:
                writer.close()
        except ConnectionRefusedError:
            out.append(Outcome(started, "refused"))
            return
        except (OSError, asyncio.IncompleteReadError):
            out.append(Outcome(started, "reset"))
            continue
        out.append(Outcome(started, status))
        await asyncio.sleep(0.002)


async def test_sigterm_under_keep_alive_load_drains_cleanly_and_cuts_a_hanging_hook(
    fresh_project: Path, start_server, mega_server: str
) -> None:
    (fresh_project / "apps/main/routes/work.py").write_text(ROUTES)
    (fresh_project / "mega_config.py").write_text(
        f'config = {{"logger": {{"level": "info"}}, "server": {{"shutdown_timeout": {GRACE}}}}}\n')
    port = free_port()
    server = start_server("start", "--port", str(port), "--server", mega_server, cwd=fresh_project,
                          env=environ(MEGA_ENV="production", SESSION_SECRET="s" * 48))
    await asyncio.to_thread(wait_for, lambda: get(port, "/health/ready").status_code == 200, 30, "readiness")

    record, stop = Record(), asyncio.Event()
    clients = [asyncio.create_task(_keep_alive_client(port, stop, record.load)) for _ in range(16)]
    poller = asyncio.create_task(_readiness_poller(port, stop, record.ready))
    await asyncio.sleep(1.5)  # load running on every connection
    assert sum(o.result == "200" for o in record.load) > 16 and not poller.done()

    signalled = time.monotonic()
    os.kill(server.proc.pid, signal.SIGTERM)
    code = await asyncio.to_thread(server.proc.wait, GRACE + 10)
    exited = time.monotonic() - signalled
    stop.set()
    await asyncio.wait_for(asyncio.gather(*clients, poller), 30)

    output = server.output()
    assert code == 0, output
    assert exited < GRACE, output  # the drain and the hooks (hang cut at 1 s) within the grace time

    before = [o for o in record.load if o.started < signalled]
    assert before and all(o.result == "200" for o in before), [o for o in before if o.result != "200"]
    assert not [o for o in record.load if o.result.startswith("5")]
    # Responses written once the drain began tell the keep-alive client to go.
    assert any(o.closing for o in record.load if o.result == "200"), "no Connection: close while draining"

    after = [o.result for o in record.ready if o.started >= signalled]
    assert "503" in after, after
    assert "refused" not in after[: after.index("503")], after  # readiness 503 before any refusal

    assert (fresh_project / "hooks.txt").read_text().split() == ["hang", "boom", "last"]
    assert "shutdown hook hang timed out after 1s" in output
    assert "shutdown hook boom failed" in output
