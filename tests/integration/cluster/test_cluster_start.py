"""Cluster mode of `mega start`: the primary binds once and starts N workers that share the port and
the connections; bad worker counts and --watch are refused before anything starts."""

from __future__ import annotations

import asyncio
import collections
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from mega.config import ConfigProblem, load_project_config
from mega.config._problems import ConfigError

from ._cluster import Cluster, probe_project

pytestmark = pytest.mark.integration


def _mega(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "MEGA_ENV": "development"}
    environ.pop("MEGA_CLUSTER_WORKERS", None)
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "mega.cli.main", "--root", str(root), "start", *args],
                          capture_output=True, text=True, timeout=60, env=environ)


async def _new_connections(url: str, count: int) -> list[int]:
    async def one() -> int:
        async with httpx.AsyncClient(timeout=10) as client:
            pid: int = (await client.get(url)).json()["data"]["pid"]
            return pid

    return await asyncio.gather(*(one() for _ in range(count)))


def test_the_primary_starts_n_workers_that_share_new_connections(
        tmp_path: Path, start_cluster: Callable[..., Cluster]) -> None:
    cluster = start_cluster(probe_project(tmp_path / "p"), workers=2)
    cluster.wait_started()
    output = cluster.output()
    assert re.search(rf"cluster primary {cluster.proc.pid} started 2 worker\(s\)", output), output
    pids = cluster.worker_pids()
    assert sorted(pids) == [1, 2]
    assert cluster.proc.pid not in pids.values()

    for _ in range(3):  # bursts of 64 new connections at once, then one after the other
        burst = collections.Counter(asyncio.run(_new_connections(cluster.url("/pid"), 64)))
        assert set(burst) <= set(pids.values())
        assert max(burst.values()) <= 48, burst  # no worker takes more than 75 %
    one_by_one: collections.Counter[int] = collections.Counter()
    for _ in range(64):
        with httpx.Client(timeout=10) as client:
            one_by_one[client.get(cluster.url("/pid")).json()["data"]["pid"]] += 1
    assert max(one_by_one.values()) <= 48, one_by_one

    with httpx.Client(timeout=10) as client:
        slots = {client.get(cluster.url("/pid")).json()["data"]["worker"] for _ in range(200)}
    assert slots <= {"1", "2"}

    cluster.signal()
    assert cluster.wait(60) == 0, cluster.output()


def test_server_workers_in_the_config_starts_a_cluster(tmp_path: Path,
                                                       start_cluster: Callable[..., Cluster]) -> None:
    root = probe_project(tmp_path / "p", server='"workers": 2')
    cluster = start_cluster(root, workers=None)
    cluster.wait_started()
    assert "started 2 worker(s)" in cluster.output()
    cluster.signal()
    assert cluster.wait(60) == 0


def test_a_port_in_use_fails_before_any_worker_starts(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = _mega(probe_project(tmp_path / "p"), env={"MEGA_CLUSTER_WORKERS": "2", "PORT": str(port)})
    assert result.returncode == 1, result.stderr
    assert f"boot failed at stage 'listen': port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "worker 1 started" not in result.stderr + result.stdout


@pytest.mark.parametrize("value", ["abc", "-1", "2.5"])
def test_a_bad_worker_count_in_the_environment_exits_2_naming_value_and_source(tmp_path: Path,
                                                                               value: str) -> None:
    result = _mega(probe_project(tmp_path / "p"), env={"MEGA_CLUSTER_WORKERS": value})
    assert result.returncode == 2, result.stderr
    assert f"MEGA_CLUSTER_WORKERS={value!r} (from the environment) must be an integer >= 0 or 'auto'" \
        in result.stderr
    assert "code: cluster.invalid_workers" in result.stderr


@pytest.mark.parametrize("value", ["-1", "'many'", "True", "1.5"])
def test_a_bad_server_workers_in_the_config_exits_2_naming_value_and_file(tmp_path: Path, value: str) -> None:
    result = _mega(probe_project(tmp_path / "p", server=f'"workers": {value}'))
    assert result.returncode == 2, result.stderr
    shown = repr(eval(value))
    assert "boot failed at stage 'config'" in result.stderr
    assert f"server.workers must be an integer >= 0 or 'auto', got {shown}" in result.stderr
    problems = load_problems(tmp_path / "p")
    assert [(p.code, p.key, p.file) for p in problems] == [("cluster.invalid_workers", "server.workers",
                                                            "mega_config.py")]


def load_problems(root: Path) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as caught:
        load_project_config(root, environ={})
    return list(caught.value.problems)


@pytest.mark.parametrize("source", ["env", "config"])
def test_watch_in_cluster_mode_exits_2(tmp_path: Path, source: str) -> None:
    root = probe_project(tmp_path / "p", server='"workers": 2' if source == "config" else "")
    env = {"MEGA_CLUSTER_WORKERS": "2"} if source == "env" else {}
    result = _mega(root, "--watch", env=env)
    assert result.returncode == 2, result.stderr
    where = "MEGA_CLUSTER_WORKERS" if source == "env" else "server.workers"
    assert f"mega start --watch cannot run in cluster mode (2 workers from {where})" in result.stderr
    assert "code: cluster.watch_conflict" in result.stderr


def test_zero_workers_serves_in_one_process(tmp_path: Path, start_cluster: Callable[..., Cluster]) -> None:
    cluster = start_cluster(probe_project(tmp_path / "p"), workers=0)
    from ._cluster import wait_for

    wait_for(lambda: httpx.get(cluster.url("/pid"), timeout=2).json()["data"]["pid"] == cluster.proc.pid, 60,
             "the single process")
    assert "cluster primary" not in cluster.output()
    cluster.signal()
    assert cluster.wait(60) == 0


def test_a_separate_metrics_port_is_refused_in_cluster_mode(tmp_path: Path) -> None:
    root = probe_project(tmp_path / "p", config='"metrics": {"port": 9464}')
    result = _mega(root, env={"MEGA_CLUSTER_WORKERS": "2"})
    assert result.returncode == 2, result.stderr
    assert "metrics.port (9464) cannot be used in cluster mode: every worker would bind it" in result.stderr
    assert "code: cluster.metrics_port" in result.stderr
    assert "worker 1 started" not in result.stderr
