"""Supervision: a worker that exits is replaced in its slot at once; a slot that keeps crashing backs
off; a worker failing its first boot stops the cluster; workers outlive no primary."""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ._cluster import Cluster, _alive, probe_project, wait_for

pytestmark = pytest.mark.integration


def _samples(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}"] = sample.value
    return out


def test_a_killed_worker_is_replaced_in_its_slot_within_a_second(
        tmp_path: Path, start_cluster: Callable[..., Cluster]) -> None:
    cluster = start_cluster(probe_project(tmp_path / "p"), workers=2)
    cluster.wait_started()
    before = cluster.worker_pids()
    for slot in (1, 2, 1):
        victim = cluster.worker_pids()[slot]
        known = cluster.all_pids()
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        wait_for(lambda k=known: cluster.all_pids() - k, 5, "a replacement")
        assert time.monotonic() - killed < 1.0
        (new,) = cluster.all_pids() - known
        assert f"worker {slot} started (pid {new})" in cluster.output()
        wait_for(lambda s=slot, n=new: cluster.worker_pids().get(s) == n, 30, "the replacement serving")
        assert f"worker {slot} (pid {victim}) exited unexpectedly (killed by SIGKILL): replacing it" \
            in cluster.output()
    assert set(cluster.worker_pids()) == set(before)
    text = httpx.get(cluster.url("/metrics"), timeout=5).text
    samples = _samples(text)
    assert samples["mega_cluster_workers{}"] == 2
    assert samples["mega_cluster_worker_restarts_total{worker=1}"] == 2
    assert samples["mega_cluster_worker_restarts_total{worker=2}"] == 1
    cluster.signal()
    assert cluster.wait(60) == 0


def test_a_slot_that_keeps_crashing_backs_off_and_logs_the_crash_loop(
        tmp_path: Path, start_cluster: Callable[..., Cluster]) -> None:
    root = probe_project(tmp_path / "p", config='"cluster": {"crash_loop_restarts": 2, "backoff_max": 2}')
    cluster = start_cluster(root, workers=1, env={"PROBE_EXIT_AFTER": "2.5"})
    cluster.wait_started()
    wait_for(lambda: cluster.output().count("cluster.crash_loop") >= 3, 60, "three crash-loop lines")
    lines = [line for line in cluster.output().splitlines() if "cluster.crash_loop" in line]
    assert all("exited (exit code 3)" in line for line in lines), lines
    delays = [float(m) for m in re.findall(r"restarting it in ([\d.]+)s", "\n".join(lines))]
    assert delays[:3] == [1.0, 2.0, 2.0]  # 1 s doubling, capped at backoff_max
    assert "exited unexpectedly (exit code 3): replacing it" in cluster.output()  # the first, at once
    cluster.signal()
    assert cluster.wait(60) == 0


def test_a_worker_failing_its_first_boot_stops_the_cluster_naming_the_stage(
        tmp_path: Path, start_cluster: Callable[..., Cluster]) -> None:
    cluster = start_cluster(probe_project(tmp_path / "p"), workers=2, env={"PROBE_BOOT_FAIL": "1"})
    assert cluster.wait(60) == 1
    output = cluster.output()
    assert re.search(r"cluster: worker \d failed to boot at stage 'apps'", output), output
    assert "code: cluster.worker_boot_failed" in output
    assert "probe refuses to boot" in output
    assert len(cluster.all_pids()) == 2  # no restart loop
    assert not any(_alive(pid) for pid in cluster.all_pids())


def test_workers_drain_and_exit_when_the_primary_dies(tmp_path: Path,
                                                      start_cluster: Callable[..., Cluster]) -> None:
    cluster = start_cluster(probe_project(tmp_path / "p"), workers=2)
    cluster.wait_started()
    pids = list(cluster.worker_pids().values())
    cluster.proc.kill()
    cluster.proc.wait(10)
    wait_for(lambda: not any(_alive(pid) for pid in pids), 20, "the workers to exit")
    assert cluster.output().count("the cluster primary is gone: draining") == 2
