"""In cluster mode (MEGA_CLUSTER_SOCKET set by the primary) an app with channels and no presence
transport is told at boot that its presence is per worker."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mega.cluster.ipc import SOCKET_ENV, ClusterHost
from mega.testing import running, write_project

CHANNEL = ("from mega.ws import WebSocketController\n\n\nclass Chat(WebSocketController):\n    pass\n\n\n"
           "def routes(router):\n    router.ws('/ws/chat', Chat)\n")


@pytest.fixture
def host(cluster_host: ClusterHost) -> ClusterHost:
    return cluster_host  # tests/conftest.py


def project(tmp_path: Path) -> Path:
    return write_project(tmp_path, {
        "mega_config.py": "config = {}\n",
        "apps/web/app_config.py": "config = {'hosts': ['a.com']}\n",
        "apps/web/routes/chat.py": CHANNEL,
        "apps/admin/app_config.py": "config = {'hosts': ['b.com']}\n",  # no channels: nothing to say
    })


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and "presence" in r.getMessage()]


async def test_channels_in_cluster_mode_without_a_transport_are_warned_per_worker(
        tmp_path: Path, host: ClusterHost, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        async with running(project(tmp_path), environ={SOCKET_ENV: str(host.path), "MEGA_WORKER_ID": "1"}):
            pass
    assert warnings(caplog) == [
        "app web: in cluster mode each worker has its own presence: a broadcast reaches only the sockets "
        "of the worker that sends it, and presence.list() lists only them; set ws_cluster in "
        "mega_config.py (over NATS) or bridge_hub in apps/web/app_config.py to share it across the workers"]


async def test_one_process_is_not_warned(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        async with running(project(tmp_path), environ={}):
            pass
    assert warnings(caplog) == []
