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
    return _samples(response.text), pid


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


def _clients_on_both_workers(cluster: Cluster) -> tuple[httpx.Client, httpx.Client]:
    """Two keep-alive clients whose connections two different workers serve."""
    first = httpx.Client(timeout=30)
    pid = first.get(cluster.url("/pid")).json()["data"]["pid"]
    for _ in range(100):
        second = httpx.Client(timeout=30)
        if second.get(cluster.url("/pid")).json()["data"]["pid"] != pid:
            return first, second
        second.close()
    raise AssertionError("100 new connections all reached one worker")


def test_a_scrape_waits_at_most_a_second_on_a_stalled_worker(tmp_path: Path,
                                                             start_cluster: Callable[..., Cluster]) -> None:
    cluster = start_cluster(probe_project(tmp_path / "p"), workers=2)
    cluster.wait_started()
    stalling, scraping = _clients_on_both_workers(cluster)
    try:
        for _ in range(10):
            stalling.get(cluster.url("/pid"))
            scraping.get(cluster.url("/pid"))
        before = _samples(scraping.get(cluster.url("/metrics")).text)  # both workers' numbers, now
        counted = _requests(before, "/pid")
        assert counted >= 22  # 20 here, and at least 2 to find the two workers

        thread = threading.Thread(target=lambda: stalling.get(cluster.url("/block?s=5")))
        thread.start()
        time.sleep(0.5)
        timings = []
        for _ in range(3):
            started = time.monotonic()
            samples = _samples(scraping.get(cluster.url("/metrics")).text)
            timings.append(time.monotonic() - started)
            assert _requests(samples, "/pid") == counted  # the stalled worker counts with its last numbers
        thread.join()
    finally:
        stalling.close()
        scraping.close()
    assert max(timings) < 1.0 + 0.5, timings  # scrape_timeout plus this machine's slack
    assert min(timings) >= 0.9, timings  # each did wait for the stalled worker, up to the timeout


def _samples(text: str) -> Samples:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples
