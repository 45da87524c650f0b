"""The pieces of cluster mode that need no process: the worker count, the restart policy, the sum of
the workers' metrics, the control channel's framing."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge

from mega.cluster import ClusterSettings, resolve_workers
from mega.cluster._metrics import Totals, families_of, render
from mega.cluster._slots import Slot, exit_status
from mega.cluster._wire import read_message, write_message
from mega.errors import MegaError


@pytest.mark.parametrize(("configured", "env", "expected"), [
    (None, {}, 0), (0, {}, 0), (3, {}, 3), (3, {"MEGA_CLUSTER_WORKERS": "2"}, 2),
    (None, {"MEGA_CLUSTER_WORKERS": " 4 "}, 4), (2, {"MEGA_CLUSTER_WORKERS": ""}, 2),
    ("auto", {}, os.cpu_count() or 1), (None, {"MEGA_CLUSTER_WORKERS": "AUTO"}, os.cpu_count() or 1),
])
def test_the_environment_wins_over_server_workers(configured: int | str | None, env: dict[str, str],
                                                  expected: int) -> None:
    assert resolve_workers(configured, env) == expected


@pytest.mark.parametrize("raw", ["two", "-1", "1.5", "0x2"])
def test_a_bad_environment_value_is_invalid_workers_naming_value_and_source(raw: str) -> None:
    with pytest.raises(MegaError) as caught:
        resolve_workers(1, {"MEGA_CLUSTER_WORKERS": raw})
    assert caught.value.code == "cluster.invalid_workers"
    assert caught.value.message == (f"MEGA_CLUSTER_WORKERS={raw!r} (from the environment) must be an "
                                    f"integer >= 0 or 'auto', got {raw!r}")
    assert caught.value.details == {"value": raw, "source": "MEGA_CLUSTER_WORKERS"}


def test_a_slot_is_replaced_at_once_then_backs_off_doubling_to_the_cap() -> None:
    settings = ClusterSettings(crash_loop_restarts=5, crash_loop_window=60, backoff_max=30)
    slot = Slot(1)
    delays = [slot.next_delay(uptime=0.5, settings=settings, now=float(t)) for t in range(12)]
    assert delays == [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 30, 30]


def test_a_slot_up_for_a_whole_window_starts_afresh() -> None:
    settings = ClusterSettings(crash_loop_restarts=2, crash_loop_window=60, backoff_max=30)
    slot = Slot(1)
    assert [slot.next_delay(0.5, settings, now=float(t)) for t in range(4)] == [0, 0, 1, 2]
    assert slot.next_delay(uptime=61, settings=settings, now=100.0) == 0  # reset after 60 s up
    assert slot.backoff == 0


def test_exits_older_than_the_window_do_not_count() -> None:
    settings = ClusterSettings(crash_loop_restarts=2, crash_loop_window=10, backoff_max=30)
    slot = Slot(1)
    assert [slot.next_delay(0.5, settings, now=float(t)) for t in (0, 20, 40, 60)] == [0, 0, 0, 0]


def test_exit_status_reads_like_the_shell() -> None:
    assert exit_status(3) == "exit code 3"
    assert exit_status(-9) == "killed by SIGKILL"


def _worker(requests: int, rss: float) -> list[dict[str, object]]:
    registry = CollectorRegistry()
    counter = Counter("mega_http_requests", "requests", ["route"], registry=registry)
    counter.labels("/a").inc(requests)
    Gauge("mega_lock_waiting", "waiting", registry=registry).set(rss / 1000)
    Gauge("mega_process_memory_bytes", "memory", ["kind"], registry=registry).labels("rss").set(rss)
    return families_of(registry)


def _lines(totals: Totals) -> list[str]:
    text = render(list(totals.metrics())).decode()
    return [line for line in text.splitlines()
            if line and not line.startswith("#") and "_created" not in line]


def test_counters_are_summed_and_gauges_labelled_by_worker() -> None:
    totals = Totals()
    totals.add(_worker(3, 1000.0), worker="1")
    totals.add(_worker(4, 2000.0), worker="2")
    assert _lines(totals) == [
        'mega_http_requests_total{route="/a"} 7.0',
        'mega_lock_waiting{worker="1"} 1.0',
        'mega_lock_waiting{worker="2"} 2.0',
        'mega_process_memory_bytes{kind="rss",worker="1"} 1000.0',
        'mega_process_memory_bytes{kind="rss",worker="2"} 2000.0',
    ]


def test_a_dead_workers_counters_stay_and_its_gauges_go() -> None:
    retired = Totals()
    retired.add(_worker(3, 1000.0))  # worker 1's last numbers, once it exited
    live = Totals()
    live.add(_worker(1, 500.0), worker="1")  # its replacement, started from zero
    live.add(_worker(4, 2000.0), worker="2")
    assert _lines(live.merged(retired)) == [
        'mega_http_requests_total{route="/a"} 8.0',
        'mega_lock_waiting{worker="1"} 0.5',
        'mega_lock_waiting{worker="2"} 2.0',
        'mega_process_memory_bytes{kind="rss",worker="1"} 500.0',
        'mega_process_memory_bytes{kind="rss",worker="2"} 2000.0',
    ]


def test_the_control_channel_carries_one_message_per_frame() -> None:
    async def run() -> list[object]:
        left, right = socket.socketpair()
        _, writer = await asyncio.open_unix_connection(sock=left)
        reader, other = await asyncio.open_unix_connection(sock=right)
        write_message(writer, {"op": "collect", "id": 1})
        write_message(writer, {"op": "scraped", "id": 1, "text": "é" * 100_000})
        await writer.drain()
        writer.close()
        got = [await read_message(reader), await read_message(reader), await read_message(reader)]
        other.close()
        await writer.wait_closed()
        return got

    first, second, end = asyncio.run(run())
    assert first == {"op": "collect", "id": 1}
    assert isinstance(second, dict) and second["text"] == "é" * 100_000
    assert end is None  # the other side closed
