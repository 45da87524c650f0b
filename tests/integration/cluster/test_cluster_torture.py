"""The issue's torture runs: `kill -9` one worker ten times under 32 keep-alive connections, and
SIGTERM under the same load."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from ._cluster import Cluster, probe_project, wait_for
from ._load import Load, went_down

pytestmark = pytest.mark.integration


def test_kill_9_ten_times_under_32_keep_alive_connections(tmp_path: Path,
                                                          start_cluster: Callable[..., Cluster]) -> None:
    cluster = start_cluster(probe_project(tmp_path / "p"), workers=2)
    cluster.wait_started()
    load = Load(cluster.url(""), connections=32, metrics_every=0.2).start()
    kills: list[tuple[int, float, float]] = []  # (victim pid, killed at, replacement started at)
    try:
        time.sleep(1.0)
        for round_ in range(10):
            slot = 1 + round_ % 2
            victim = cluster.worker_pids()[slot]
            known = cluster.all_pids()
            os.kill(victim, signal.SIGKILL)
            killed = time.monotonic()
            wait_for(lambda k=known: cluster.all_pids() - k, 5, "a replacement")
            replaced = time.monotonic()
            (new,) = cluster.all_pids() - known
            kills.append((victim, killed, replaced))
            wait_for(lambda s=slot, n=new: cluster.worker_pids().get(s) == n, 30, "the replacement serving")
            time.sleep(1.2)
    finally:
        load.stop()
    served = [r for r in load.records if r.error is None]
    errors = [r for r in load.records if r.error is not None]
    assert len(served) > 1000
    assert all(r.status == 200 for r in served), {r.status for r in served}
    for victim, killed, replaced in kills:
        assert replaced - killed < 1.0, (victim, replaced - killed)
    victims = {victim: replaced for victim, _, replaced in kills}
    for error in errors:  # only on the killed worker's connections, none later than 1 s after its restart
        assert error.previous_pid in victims, error
        assert error.started < victims[error.previous_pid] + 1.0, error
    print(f"\nkill -9 x10: {len(served)} served, {len(errors)} errors, replaced after "
          f"{[round(r - k, 3) for _, k, r in kills]} s, {len(load.scrapes)} scrapes")
    assert len(load.scrapes) > 50
    # A scrape fails only when its keep-alive connection was on the killed worker.
    assert len([s for _, s in load.scrapes if isinstance(s, str)]) <= len(kills)
    assert went_down(load.scrapes) == []
    good = [(at, s) for at, s in load.scrapes if not isinstance(s, str)]
    final_at, total = good[-1]
    requests = sum(v for k, v in total.items() if k.startswith("mega_http_requests_total{") and "/pid" in k)
    # Compared with what the last scrape could count: a victim's answers after the scrape before its
    # kill are lost by design (ADR 0031), and answers after the last scrape are not in it yet.
    lost = set()
    for victim, killed, _ in kills:
        before = max((at for at, _ in good if at < killed), default=0.0)
        lost.update(id(r) for r in served if r.pid == victim and r.ended > before)
    countable = [r for r in served if r.ended <= final_at and id(r) not in lost]
    assert requests >= len(countable) * 0.9  # the dead workers' counts are kept
    cluster.signal()
    assert cluster.wait(60) == 0


def test_sigterm_under_load_drains_every_request_started_before_it(
        tmp_path: Path, start_cluster: Callable[..., Cluster]) -> None:
    cluster = start_cluster(probe_project(tmp_path / "p"), workers=2, env={"PROBE_HOOKS": "1"})
    cluster.wait_started()
    load = Load(cluster.url(""), path="/slow?s=0.3", connections=32, pause=0.0).start()
    ready: list[tuple[float, int | str]] = []
    try:
        wait_for(lambda: len(load.records) >= 64, 30, "the load to run")  # every connection is open
        signalled = time.monotonic()
        cluster.signal()
        deadline = signalled + 3
        while time.monotonic() < deadline and cluster.proc.poll() is None:
            try:
                status = httpx.get(cluster.url("/health/ready"), timeout=2).status_code
                ready.append((time.monotonic(), status))
            except httpx.HTTPError as exc:
                ready.append((time.monotonic(), repr(exc)))
            time.sleep(0.005)
        code = cluster.wait(5 + 10 + 5)
        stopped = time.monotonic()
    finally:
        load.stop()
    assert code == 0, cluster.output()
    assert stopped - signalled < 5 + 1  # the grace time: server.shutdown_timeout
    before = [r for r in load.records if r.started < signalled]
    first_503 = min((a for a, s in ready if s == 503), default=signalled - 1) - signalled
    print(f"\nSIGTERM: {len(before)} requests before it, stopped after {stopped - signalled:.2f} s, "
          f"first 503 after {first_503:.3f} s; readiness: {[(round(a - signalled, 3), s) for a, s in ready]}")
    assert len(before) >= 64
    assert [r for r in before if r.error is not None or r.status != 200] == []
    refused = [at for at, status in ready if isinstance(status, str)]
    unready = [at for at, status in ready if status == 503]
    assert unready, ready
    if refused:
        assert min(unready) < min(refused)
    output = cluster.output()
    assert output.count("shutdown hook probe-hang timed out after 0.3s") == 2, output
    assert output.count("probe-after ran in") == 2, output
    assert "cluster primary" in output and "shutdown complete" in output


def test_a_second_signal_exits_at_once(tmp_path: Path, start_cluster: Callable[..., Cluster]) -> None:
    cluster = start_cluster(probe_project(tmp_path / "p"), workers=2)
    cluster.wait_started()
    pids = list(cluster.worker_pids().values())
    load = Load(cluster.url(""), path="/slow?s=4", connections=4, pause=0.0).start()
    try:
        time.sleep(0.5)
        cluster.signal()
        time.sleep(0.3)
        started = time.monotonic()
        cluster.signal()
        code = cluster.wait(10)
        assert time.monotonic() - started < 2.0  # not the 4 s the requests in flight would take
    finally:
        load.stop()
    assert code == 1
    assert "second SIGTERM: exiting at once" in cluster.output()
    from ._cluster import _alive

    wait_for(lambda: not any(_alive(pid) for pid in pids), 5, "the workers to exit too")


def test_a_worker_still_running_after_the_grace_is_killed_and_logged(
        tmp_path: Path, start_cluster: Callable[..., Cluster]) -> None:
    root = probe_project(tmp_path / "p", server='"shutdown_timeout": 1',
                         config='"cluster": {"stop_grace": 1, "drain_delay": 0}')
    cluster = start_cluster(root, workers=2, env={"PROBE_STUCK_HOOK": "1"})
    cluster.wait_started()
    pids = cluster.worker_pids()
    signalled = time.monotonic()
    cluster.signal()
    assert cluster.wait(20) == 0
    assert time.monotonic() - signalled < 1 + 1 + 3
    output = cluster.output()
    for slot, pid in pids.items():
        assert f"cluster: worker {slot} (pid {pid}) still running 2s after SIGTERM: killed" in output, output
    assert "shutdown complete" in output
