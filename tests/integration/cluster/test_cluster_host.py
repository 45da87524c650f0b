"""The primary hosts the `cluster` lock and bus: a lock held in one worker blocks the other."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ._cluster import Cluster, probe_project

pytestmark = pytest.mark.integration


def _take(cluster: Cluster) -> dict[str, Any]:
    with httpx.Client(timeout=10) as client:  # a new connection: either worker may answer
        data: dict[str, Any] = client.get(cluster.url("/take?key=shared")).json()["data"]
    return data


def test_a_lock_held_in_one_worker_blocks_the_other(tmp_path: Path,
                                                    start_cluster: Callable[..., Cluster]) -> None:
    cluster = start_cluster(probe_project(tmp_path / "p"), workers=2)
    cluster.wait_started()
    with httpx.Client(timeout=10) as client:
        drivers = client.get(cluster.url("/drivers")).json()["data"]
    assert (drivers["lock"], drivers["bus"]) == ("cluster", "cluster")
    pids = set(cluster.worker_pids().values())

    held: dict[str, Any] = {}

    def hold() -> None:
        with httpx.Client(timeout=30) as client:
            held.update(client.get(cluster.url("/hold?key=shared&s=3")).json()["data"])

    thread = threading.Thread(target=hold)
    started = time.monotonic()
    thread.start()
    time.sleep(0.3)
    refused: dict[int, str] = {}
    while set(refused) != pids and time.monotonic() - started < 2.5:
        data = _take(cluster)
        assert data["acquired"] is False, data  # held elsewhere, whichever worker asks
        refused[data["pid"]] = data["code"]
    assert time.monotonic() - started < 3
    thread.join()
    assert set(refused) == pids  # the worker not holding it was refused too
    assert set(refused.values()) == {"lock.timeout"}
    assert held["pid"] in pids
    taken = _take(cluster)
    assert taken["acquired"] is True
    assert taken["token"] > held["token"]  # fencing tokens rise across workers
    cluster.signal()
    assert cluster.wait(60) == 0
