"""The instrument registry: hooks see the status of any endpoint, wrappers keep what mega reads off an
endpoint, metrics can be merged across processes and served on a port of their own."""

from __future__ import annotations

import socket
import urllib.request
from pathlib import Path
from typing import Any

from mega.observe._metrics_settings import OFF
from mega.observe.instruments import Instruments
from mega.observe.metrics import Metrics, merge
from mega.testing import running, write_project


async def plain(scope: dict[str, Any], receive: Any, send: Any, params: Any) -> None:
    """An endpoint that returns nothing (as a plugin's may)."""
    await send({"type": "http.response.start", "status": 418, "headers": []})
    await send({"type": "http.response.body", "body": b""})


plain.cors = "the route's policy"  # type: ignore[attr-defined]


async def test_a_hook_sees_the_status_of_an_endpoint_that_does_not_return_it() -> None:
    seen: list[tuple[str, str, str, int]] = []

    def hook(app: str, method: str, pattern: str, endpoint: Any) -> Any:
        async def wrapped(scope: dict[str, Any], receive: Any, send: Any, params: Any) -> int:
            status = await endpoint(scope, receive, send, params)
            seen.append((app, method, pattern, status))
            return int(status)

        return wrapped

    instruments = Instruments()
    instruments.add_http(hook)
    endpoint = instruments.wrap_route("web", "GET", "/tea", plain)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    assert await endpoint({"type": "http"}, None, send, None) == 418
    assert seen == [("web", "GET", "/tea", 418)]
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert endpoint.cors == "the route's policy"  # type: ignore[attr-defined]  # CORS preflight reads it


def test_an_empty_registry_wraps_nothing() -> None:
    instruments = Instruments()
    assert instruments.unmatched_wrapper("web") is None
    assert instruments.hooks("jobs") == []
    instruments.add("jobs", print)
    assert instruments.hooks("jobs") == [print]


def test_snapshots_of_several_processes_merge_into_sums() -> None:
    one, two = Metrics(OFF), Metrics(OFF)
    for metrics, n in ((one, 2), (two, 3)):
        row = metrics.http.row(("web", "GET", "/", "2xx"))
        for _ in range(n):
            metrics.http.observe(row, 0.002)
        metrics.rejections["csrf.origin_mismatch"] = n
    total = merge([one.snapshot(), two.snapshot()])
    assert total["http"][("web", "GET", "/", "2xx")][0] == 5
    assert total["rejections"] == {"csrf.origin_mismatch": 5}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_metrics_on_a_port_of_their_own(tmp_path: Path) -> None:
    port = free_port()
    root = write_project(tmp_path, {
        "mega_config.py": f'config = {{"logger": {{"level": "critical"}}, "metrics": {{"port": {port}}}}}\n',
        "apps/web/app_config.py": "config = {}\n",
        "apps/web/routes/main.py": "def routes(router):\n    router.get('/', lambda: {'ok': 1})\n"})
    async with running(root) as rt:
        assert ("GET", "/metrics") not in {(m, p) for p, t in rt.apps["web"].table.static.items() for m in t}
        import asyncio

        body = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read())
        assert b"mega_event_loop_lag_seconds" in body
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        still_listening = True
    except OSError:
        still_listening = False
    assert not still_listening  # closed at shutdown


async def test_metrics_on_without_prometheus_client_fails_boot_with_what_to_install(
        tmp_path: Path, monkeypatch: Any) -> None:
    import sys

    import pytest

    from mega.boot.stages import BootError

    monkeypatch.setitem(sys.modules, "mega.observe.metrics", None)  # as if prometheus_client were missing
    root = write_project(tmp_path, {"mega_config.py": 'config = {"metrics": True}\n',
                                    "apps/web/app_config.py": "config = {}\n"})
    with pytest.raises(BootError) as info:
        async with running(root):
            pass
    assert info.value.stage == "observe" and info.value.original.code == "metrics.not_installed"
    assert info.value.hint == "pip install 'mega[metrics]', or turn metrics off"
