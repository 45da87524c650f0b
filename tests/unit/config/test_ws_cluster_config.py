"""The global `ws_cluster` section: accepted shapes and every refusal's code."""

from __future__ import annotations

import pytest

from mega.config import load_project_config
from mega.ws.presence._settings import RosterSettings, WsClusterSettings
from tests.unit.config.conftest import MakeProject, Problems

SERVICES = """{
    "buses": {"events": {"driver": "nats", "url": "nats://127.0.0.1:4222"},
              "mem": {"driver": "memory"}},
    "redis": {"main": {"url": "redis://127.0.0.1:6379/0"}},
    "caches": {"rosters": {"driver": "redis", "redis": "main", "prefix": "r:"},
               "local": {"driver": "memory"}},
}"""


def project(make_project: MakeProject, ws_cluster: str) -> object:
    return make_project(f"config = {{'services': {SERVICES}, 'ws_cluster': {ws_cluster}}}\n")


def test_defaults_and_the_redis_roster(make_project: MakeProject) -> None:
    root = project(make_project, "{'bus': 'events'}")
    settings = load_project_config(root, environ={}).settings["ws_cluster"]  # type: ignore[arg-type]
    assert settings == WsClusterSettings("events", RosterSettings("nats", 15.0, None), "mega.ws")
    root2 = make_project(f"config = {{'services': {SERVICES}, 'ws_cluster': {{'roster': {{'driver': 'redis', "
                         f"'cache': 'rosters', 'ttl': '6s'}}, 'subject_prefix': 'acme.ws'}}}}\n", name="p2")
    settings = load_project_config(root2, environ={}).settings["ws_cluster"]
    assert settings == WsClusterSettings("events", RosterSettings("redis", 6.0, "rosters"), "acme.ws")
    root3 = make_project("config = {}\n", name="p3")
    assert load_project_config(root3, environ={}).settings["ws_cluster"] is None


@pytest.mark.parametrize(("value", "code", "key"), [
    ("{'bus': 'nope'}", "adapter.not_found", "ws_cluster.bus"),
    ("{'bus': 'mem'}", "config.invalid_value", "ws_cluster.bus"),
    ("{'bus': 'events', 'roster': {'ttl': 2}}", "config.invalid_value", "ws_cluster.roster.ttl"),
    ("{'bus': 'events', 'roster': {'driver': 'gossip'}}", "config.invalid_value", "ws_cluster.roster.driver"),
    ("{'bus': 'events', 'roster': {'driver': 'redis'}}", "config.invalid_value", "ws_cluster.roster.cache"),
    ("{'bus': 'events', 'roster': {'driver': 'redis', 'cache': 'x'}}", "adapter.not_found",
     "ws_cluster.roster.cache"),
    ("{'bus': 'events', 'roster': {'driver': 'redis', 'cache': 'local'}}", "config.invalid_value",
     "ws_cluster.roster.cache"),
    ("{'bus': 'events', 'roster': {'cache': 'rosters'}}", "config.invalid_value", "ws_cluster.roster.cache"),
    ("{'bus': 'events', 'subject_prefix': 'a.*'}", "config.invalid_value", "ws_cluster.subject_prefix"),
    ("{'bus': 'events', 'hops': 3}", "config.unknown_key", "ws_cluster.hops"),
    ("'on'", "config.invalid_type", "ws_cluster"),
])
def test_refusals(make_project: MakeProject, problems_of: Problems, value: str, code: str, key: str) -> None:
    root = project(make_project, value)
    found = [(p.code, p.key) for p in problems_of(root)]
    assert (code, key) in found, found


def test_no_bus_named_and_two_nats_buses(make_project: MakeProject, problems_of: Problems) -> None:
    services = SERVICES.replace('"mem": {"driver": "memory"}', '"more": {"driver": "nats", "url": "nats://x"}')
    root = make_project(f"config = {{'services': {services}, 'ws_cluster': {{}}}}\n")
    assert [(p.code, p.key) for p in problems_of(root)] == [("config.invalid_value", "ws_cluster.bus")]
