"""ClusterHost and ClusterClient beyond the contracts: restarts of the host, reconnection, the socket
file, bad frames. The host runs in the test's event loop; each client is one "worker"."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from mega.bus.cluster import ClusterBus
from mega.cluster.ipc import ClusterClient, ClusterHost
from mega.errors import MegaError
from mega.lock.cluster import ClusterLock


@pytest_asyncio.fixture
async def folder() -> AsyncIterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mega-ipc-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def until(check: Callable[[], Any], timeout: float = 5) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def test_tokens_keep_rising_across_a_host_restart(folder: Path) -> None:
    path = folder / "s"
    tokens = []
    for _ in range(3):
        host = ClusterHost(path)
        await host.start()
        client = ClusterClient(path)
        lock = ClusterLock(client)
        for _ in range(3):
            held = await lock.acquire("k", ttl=5, wait=0)
            tokens.append(held.token)
            await lock.release(held)
        await lock.close()
        await client.close()
        await host.close()  # the primary restarts: the counter is gone, the clock floor is not
        await asyncio.sleep(0.002)  # a real restart takes far longer than the 1 ms the floor needs
    assert tokens == sorted(set(tokens)) and len(tokens) == 9


async def test_a_worker_reconnects_renews_subscriptions_and_learns_its_locks_are_gone(folder: Path) -> None:
    path = folder / "s"
    host = ClusterHost(path)
    await host.start()
    client = ClusterClient(path)
    lock, bus = ClusterLock(client), ClusterBus(client, prefix="web.")
    lost: list[Any] = []
    lock.on_lost(lost.append)
    await bus.on("echo", lambda p: p)
    with pytest.raises(MegaError) as lost_err:
        async with lock.hold("k", ttl=0.6, wait=0) as held:
            await host.close()  # the primary is gone ...
            with pytest.raises(MegaError) as err:
                await bus.request("echo", 1, timeout=5)
            assert err.value.code == "bus.backend_unavailable"
            host = ClusterHost(path)
            await host.start()  # ... and back, with an empty lock table
            await until(lambda: client.connected)
            await until(lambda: host.stats()["subscriptions"] == 1)
            assert await bus.request("echo", 2, timeout=5) == 2  # the subscription was renewed
            await until(lambda: held.lost, timeout=3)  # the next extension is refused
    assert lost_err.value.code == "lock.lost"
    assert lost == [held] and held.lost_reason == "not_owner"
    assert client.reconnects == 1
    await bus.close()
    await lock.close()
    await client.close()
    await host.close()


async def test_a_stale_socket_file_is_replaced_and_a_live_one_refused(folder: Path) -> None:
    path = folder / "s"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))  # a socket file nobody listens on: a dead primary's leftover
    stale.close()
    host = ClusterHost(path)
    await host.start()
    with pytest.raises(OSError, match="already listens"):
        await ClusterHost(path).start()
    await host.close()
    assert not path.exists()
    path.write_text("not a socket")
    with pytest.raises(FileExistsError):
        await ClusterHost(path).start()


async def test_a_bad_frame_drops_that_connection_only(folder: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = folder / "s"
    host = ClusterHost(path)
    await host.start()
    good = ClusterClient(path)
    lock = ClusterLock(good)
    held = await lock.acquire("k", ttl=5, wait=0)
    reader, writer = await asyncio.open_unix_connection(str(path))
    writer.write(b"\x00\x00\x00\x05\x00\x00\x00\x00hello")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""  # the host hung up on it
    writer.close()
    assert "bad frame" in caplog.text
    await lock.release(held)  # the good worker is untouched
    assert host.stats()["connections"] == 1
    await lock.close()
    await good.close()
    await host.close()


async def test_stats_of_the_host(folder: Path) -> None:
    host = ClusterHost(folder / "s")
    await host.start()
    client = ClusterClient(host.path)
    lock, bus = ClusterLock(client), ClusterBus(client)
    held = await lock.acquire("k", ttl=5, wait=0)
    waiter = asyncio.create_task(lock.acquire("k", ttl=5, wait=5))
    await bus.on("a.*", lambda p: None)
    await until(lambda: host.stats()["waiting"] == 1)
    stats = host.stats()
    assert (stats["connections"], stats["keys"], stats["held"], stats["subscriptions"]) == (1, 1, 1, 1)
    await lock.release(held)
    await lock.release(await waiter)
    await bus.close()
    await lock.close()
    await client.close()
    await host.close()


async def test_a_host_that_does_not_answer_is_an_outage_not_contention(folder: Path) -> None:
    path = folder / "s"

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # a hung primary: reads, never answers
        writer.close()

    server = await asyncio.start_unix_server(swallow, str(path))
    client = ClusterClient(path, answer_within=0.3)
    lock, bus = ClusterLock(client), ClusterBus(client)
    for call, code in ((lock.acquire("k", ttl=5, wait=0), "lock.backend_unavailable"),
                       (lock.acquire("k", ttl=5, wait=0.2), "lock.backend_unavailable"),
                       (lock.claim("k", ttl=5), "lock.backend_unavailable"),
                       (bus.on("evt", lambda p: None), "bus.backend_unavailable")):
        with pytest.raises(MegaError) as err:
            await asyncio.wait_for(call, 3)
        assert err.value.code == code
        assert "did not answer" in str(err.value)
    await bus.close()
    await lock.close()
    await client.close()
    server.close()
    await server.wait_closed()
