"""`bridge_hub` at boot (in process): the link never delays boot, its config problems, the conflict
with ws_cluster, the shutdown hook registered before connecting, and the always-ok health check."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path

import pytest

from mega import shutdown
from mega.boot.stages import BootError
from mega.config import load_project_config
from mega.config._problems import ConfigError
from mega.testing import running, write_project
from mega.ws.hub._bridge import BridgeTransport
from tests.e2e.cli.conftest import free_port

pytestmark = [pytest.mark.integration]

ROUTES = """
    from mega.ws import WebSocketController

    class Chat(WebSocketController):
        pass

    def routes(router):
        router.ws("/ws/chat", Chat)
"""


def project(root: Path, bridge: str | None, global_extra: str = "") -> Path:
    app = f"config = {{'bridge_hub': {bridge}}}\n" if bridge is not None else "config = {}\n"
    glob = f"config = {{'logger': {{'level': 'error'}}{global_extra}}}\n"
    return write_project(root, {"mega_config.py": glob, "apps/web/app_config.py": app,
                                "apps/web/routes/main.py": ROUTES})


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MEGA_WSHUB") and k != "BRIDGE_ID"}
    return {**base, **extra}


async def boot_seconds(root: Path, environ: dict[str, str]) -> float:
    started = time.perf_counter()
    async with running(root, environ=environ):
        took = time.perf_counter() - started
    return took


async def test_a_down_hub_adds_under_100_ms_to_boot(tmp_path: Path) -> None:
    down = env(MEGA_WSHUB_URL=f"ws://127.0.0.1:{free_port()}", MEGA_WSHUB_TOKEN="t")
    plain, bridged = project(tmp_path / "plain", None), project(tmp_path / "bridged", "{}")
    await boot_seconds(plain, down)  # warm imports
    await boot_seconds(bridged, down)
    without = [await boot_seconds(plain, down) for _ in range(5)]
    with_bridge = [await boot_seconds(bridged, down) for _ in range(5)]
    extra = statistics.median(with_bridge) - statistics.median(without)
    print(f"boot median without bridge_hub {statistics.median(without) * 1000:.1f} ms, with a down hub "
          f"{statistics.median(with_bridge) * 1000:.1f} ms (+{extra * 1000:.1f} ms)")
    assert extra < 0.100


async def test_the_link_is_wired_with_its_hook_and_an_always_ok_health_check(tmp_path: Path) -> None:
    root = project(tmp_path, "{'channels': ['chat'], 'bridge_id': 'w-1'}")
    async with running(root, environ=env(MEGA_WSHUB_URL=f"ws://127.0.0.1:{free_port()}",
                                         MEGA_WSHUB_TOKEN="t")) as rt:
        transport = rt.apps["web"].presence.transport
        assert isinstance(transport, BridgeTransport)
        assert transport.settings.bridge_id == "w-1" and transport.settings.channels == ("chat",)
        assert transport.link is not None and transport.link.subscriptions == ("chat", "ns:/ws/chat")
        assert "mega-hublink:web" in shutdown.names()
        results = {r.name: r for r in await rt.health.run_checks()}
        assert results["hub:web"].ok is True
        assert results["hub:web"].details == {"registered": False, "open": False}
    assert "mega-hublink:web" not in shutdown.names()


def test_env_defaults_and_a_missing_token(tmp_path: Path) -> None:
    root = project(tmp_path, "True")
    environ = {"MEGA_WSHUB_TOKEN": "s3cr3t-value", "BRIDGE_ID": "b-7"}
    app = load_project_config(root, environ=environ).apps["web"]
    settings = app.settings["bridge_hub"]
    assert (settings.url, settings.token, settings.bridge_id) == ("ws://localhost:3100", "s3cr3t-value",
                                                                  "b-7")
    assert (settings.retry.retries, settings.retry.min_timeout, settings.retry.max_timeout,
            settings.connect_timeout) == (30, 1.0, 10.0, 5.0)
    assert "s3cr3t" not in repr(settings)
    with pytest.raises(ConfigError) as info:
        load_project_config(root, environ={})
    assert [(p.code, p.key) for p in info.value.problems] == [("config.missing_value", "bridge_hub.token")]
    def bridge_id(root: Path, environ: dict[str, str]) -> str:
        return str(load_project_config(root, environ=environ).apps["web"].settings["bridge_hub"].bridge_id)

    worker = {**environ, "MEGA_WORKER_ID": "3"}  # a cluster worker: its slot appended, one id per process
    assert bridge_id(root, worker) == "b-7.w3"
    worker.pop("BRIDGE_ID")
    assert bridge_id(root, worker) == "main-1.w3"
    assert bridge_id(project(tmp_path / "named", "{'bridge_id': 'edge'}"), worker) == "edge.w3"
    assert bridge_id(root, {**environ, "MEGA_WORKER_ID": ""}) == "b-7"  # not a worker
    bad = project(tmp_path / "bad", "{'url': 'http://x', 'retry': {'min_timeout': 5, 'max_timeout': 1}}")
    with pytest.raises(ConfigError) as info:
        load_project_config(bad, environ={"MEGA_WSHUB_TOKEN": "t"})
    assert [(p.code, p.key) for p in info.value.problems] == [
        ("config.invalid_value", "bridge_hub.url"), ("config.invalid_value", "bridge_hub.retry.min_timeout")]


async def test_bridge_hub_with_ws_cluster_fails_boot_naming_both_files(tmp_path: Path) -> None:
    services = "'services': {'buses': {'main': {'driver': 'nats', 'url': 'nats://127.0.0.1:4222'}}}"
    root = project(tmp_path, "{}", f", {services}, 'ws_cluster': {{'bus': 'main'}}")
    with pytest.raises(BootError) as info:
        async with running(root, environ=env(MEGA_WSHUB_TOKEN="t")):
            pass
    cause = info.value.original
    assert getattr(cause, "code", None) == "config.cluster_transport_conflict"
    assert "apps/web/app_config.py" in cause.message and "mega_config.py" in cause.message


def test_the_roster_key_takes_a_redis_cache_and_refuses_nats(tmp_path: Path) -> None:
    services = "'services': {'redis': {'r': {'url': 'redis://127.0.0.1:6379/0'}}, " \
               "'caches': {'presence': {'driver': 'redis', 'redis': 'r'}, 'mem': {'driver': 'memory'}}}"
    environ = {"MEGA_WSHUB_TOKEN": "t"}
    good = project(tmp_path / "good", "{'roster': {'driver': 'redis', 'cache': 'presence', 'ttl': 6}}",
                   f", {services}")
    roster = load_project_config(good, environ=environ).apps["web"].settings["bridge_hub"].roster
    assert (roster.driver, roster.cache, roster.ttl) == ("redis", "presence", 6.0)
    cases = {
        "{'roster': {'driver': 'nats'}}": ("config.invalid_value", "bridge_hub.roster.driver"),
        "{'roster': {'driver': 'redis'}}": ("config.invalid_value", "bridge_hub.roster.cache"),
        "{'roster': {'driver': 'redis', 'cache': 'mem'}}": ("config.invalid_value",
                                                            "bridge_hub.roster.cache"),
        "{'roster': {'driver': 'redis', 'cache': 'presence', 'ttl': 1}}": ("config.invalid_value",
                                                                           "bridge_hub.roster.ttl"),
    }
    for n, (bridge, expected) in enumerate(cases.items()):
        with pytest.raises(ConfigError) as info:
            load_project_config(project(tmp_path / f"bad{n}", bridge, f", {services}"), environ=environ)
        assert [(p.code, p.key) for p in info.value.problems] == [expected], bridge


@pytest.mark.service("redis")
async def test_a_redis_roster_is_wired_with_its_hook(tmp_path: Path) -> None:
    from mega.ws.presence._redis_roster import RedisRoster

    services = "'services': {'redis': {'r': {'url': 'redis://127.0.0.1:6379/0'}}, " \
               "'caches': {'presence': {'driver': 'redis', 'redis': 'r'}}}"
    root = project(tmp_path, "{'roster': {'driver': 'redis', 'cache': 'presence'}}", f", {services}")
    async with running(root, environ=env(MEGA_WSHUB_URL=f"ws://127.0.0.1:{free_port()}",
                                         MEGA_WSHUB_TOKEN="t")) as rt:
        assert isinstance(rt.apps["web"].presence.roster, RedisRoster)
        assert "mega-wsroster:web" in shutdown.names()
    assert "mega-wsroster:web" not in shutdown.names()
