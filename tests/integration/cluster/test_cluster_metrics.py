"""`/metrics` on any worker answers for the whole cluster, and never waits long on a stalled worker."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ._cluster import Cluster, probe_project

pytestmark = pytest.mark.integration


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(cluster: Cluster, timeout: float = 10) -> tuple[Samples, int]:
    """The samples of one scrape on a new connection, and the pid that answered it."""
    with httpx.Client(timeout=timeout) as client:
        response = client.get(cluster.url("/metrics"))
        pid = client.get(cluster.url("/pid")).json()["data"]["pid"]  # same connection: same worker
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples, pid


def _requests(samples: Samples, route: str) -> float:
    return sum(v for (name, labels), v in samples.items()
               if name == "mega_http_requests_total" and ("route", route) in labels)


def test_every_worker_answers_for_the_cluster(tmp_path: Path, start_cluster: Callable[..., Cluster]) -> None:
    cluster = start_cluster(probe_project(tmp_path / "p"), workers=2)
    cluster.wait_started()
    answered: set[int] = set()
    with httpx.Client(timeout=10) as client:
        for _ in range(40):
            client.get(cluster.url("/cpu"))
    for _ in range(30):
        samples, pid = _scrape(cluster)
        answered.add(pid)
        assert _requests(samples, "/cpu") == 40  # summed over both workers, whichever answers
        workers = {dict(labels).get("worker") for (name, labels) in samples
                   if name == "process_cpu_seconds_total"}
        assert workers == {"1", "2"}  # process series: one per worker
        rss = {dict(labels)["worker"] for (name, labels) in samples
               if name == "mega_process_memory_bytes" and ("kind", "rss") in labels}
        assert rss == {"1", "2"}
        if len(answered) == 2:
            break
    assert answered == set(cluster.worker_pids().values())


def test_a_scrape_waits_at_most_a_second_on_a_stalled_worker(tmp_path: Path,
                                                             start_cluster: Callable[..., Cluster]) -> None:
    cluster = start_cluster(probe_project(tmp_path / "p"), workers=2)
    cluster.wait_started()
    with httpx.Client(timeout=10) as client:
        for _ in range(20):
            client.get(cluster.url("/pid"))
    before, _ = _scrape(cluster)  # both workers' numbers, as they are now
    assert _requests(before, "/pid") == 20
    stalled: dict[str, int] = {}

    def stall() -> None:
        with httpx.Client(timeout=30) as client:
            stalled["pid"] = client.get(cluster.url("/block?s=8")).json()["data"]["pid"]

    thread = threading.Thread(target=stall)
    thread.start()
    time.sleep(0.5)
    timings: list[tuple[float, int]] = []
    while thread.is_alive() and len(timings) < 4:
        started = time.monotonic()
        try:
            samples, pid = _scrape(cluster, timeout=2.5)
        except httpx.TimeoutException:  # this new connection landed on the stalled worker itself
            continue
        timings.append((time.monotonic() - started, pid))
        assert _requests(samples, "/pid") >= 20  # the stalled worker counts with its last numbers
    thread.join()
    # Scrapes the other worker answered (a new connection may also land on the stalled one itself).
    waited = [elapsed for elapsed, pid in timings if pid != stalled["pid"]]
    assert waited, timings
    assert max(waited) < 1.0 + 0.5, timings  # scrape_timeout plus this machine's slack
    assert max(waited) >= 0.9, timings  # it did wait for the stalled worker, up to the timeout
