"""Cluster mode with `bridge_hub`: `MEGA_CLUSTER_WORKERS=2 mega start` against a real hub; each worker
registers under its own bridge id (`<BRIDGE_ID>.w1`, `.w2`), none is refused as already in use."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from mega.testing import write_project
from tests.e2e.cli.conftest import free_port
from tests.integration.ws_hub._hub import TOKEN, start_hub

pytestmark = [pytest.mark.integration]

ROUTES = """
    from mega import get_app
    from mega.ws import WebSocketController

    class Chat(WebSocketController):
        pass

    async def bridge(req):
        link = get_app("web").presence.transport
        return {"id": link.settings.bridge_id, "registered": link.link.registered,
                "refused": link.link.refused}

    def routes(router):
        router.ws("/ws/chat", Chat)
        router.get("/bridge", bridge)
"""


def get(port: int) -> dict[str, object] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/bridge", timeout=2) as response:
            data: dict[str, object] = json.loads(response.read())["data"]
            return data
    except (urllib.error.URLError, OSError, ValueError):
        return None


def test_each_cluster_worker_registers_with_its_own_bridge_id(tmp_path: Path) -> None:
    hub = start_hub(tmp_path)
    base = f"b{secrets.token_hex(3)}"
    root = write_project(tmp_path / "p", {
        "mega_config.py": "config = {'logger': {'level': 'error'}}\n",
        "apps/web/app_config.py": "config = {'bridge_hub': {'channels': ['chat']}}\n",
        "apps/web/routes/main.py": ROUTES,
    })
    port = free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("MEGA_WSHUB") and k != "BRIDGE_ID"}
    environ.pop("MEGA_TEST_RUN", None)
    environ.update({"MEGA_WSHUB_URL": hub.url, "MEGA_WSHUB_TOKEN": TOKEN, "BRIDGE_ID": base,
                    "MEGA_CLUSTER_WORKERS": "2", "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen([sys.executable, "-m", "mega", "--root", str(root), "start", "--port", str(port)],
                            env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        seen: dict[str, dict[str, object]] = {}
        deadline = time.monotonic() + 60
        while not (len(seen) == 2 and all(s["registered"] for s in seen.values())):
            assert proc.poll() is None, proc.communicate()[1][-2000:]
            assert time.monotonic() < deadline, f"bridges seen: {seen}"
            answer = get(port)
            if answer is not None:
                seen[str(answer["id"])] = answer
            time.sleep(0.05)
        assert set(seen) == {f"{base}.w1", f"{base}.w2"}
        assert not any(s["refused"] for s in seen.values())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        hub.stop()
