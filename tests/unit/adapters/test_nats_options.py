"""NatsAdapter options: URL forms, discrete options, the passthrough order, bad entries (no server needed)."""

from __future__ import annotations

import pytest

from mega.adapters.nats import NatsAdapter
from mega.errors import MegaError


def kwargs(options: dict) -> dict:
    return NatsAdapter("events", options)._kwargs


def test_url_servers_or_host():
    assert kwargs({"url": "nats://a:4222"})["servers"] == ["nats://a:4222"]
    assert kwargs({"url": "nats://a:4222, nats://b:4222"})["servers"] == ["nats://a:4222", "nats://b:4222"]
    assert kwargs({"servers": ["nats://a:1", "nats://b:2"]})["servers"] == ["nats://a:1", "nats://b:2"]
    assert kwargs({"servers": "nats://a:1"})["servers"] == ["nats://a:1"]
    assert kwargs({"host": "n1"})["servers"] == ["nats://n1:4222"]
    assert kwargs({"host": "n1", "port": 5222})["servers"] == ["nats://n1:5222"]
    assert kwargs({})["servers"] == ["nats://127.0.0.1:4222"]
    assert kwargs({"driver": "nats", "url": "nats://a:1"})["servers"] == ["nats://a:1"]  # as declared


def test_passthrough_first_then_servers_and_auth_win():
    kw = kwargs({"url": "nats://a:1", "user": "u", "password": "p", "name": "web",
                 "options": {"servers": ["nats://evil:1"], "user": "x", "reconnect_time_wait": 0.5,
                             "max_reconnect_attempts": 3}})
    assert kw["servers"] == ["nats://a:1"]
    assert (kw["user"], kw["password"], kw["name"]) == ("u", "p", "web")
    assert kw["reconnect_time_wait"] == 0.5
    assert kw["max_reconnect_attempts"] == 3  # the passthrough beats mega's default
    assert kwargs({})["max_reconnect_attempts"] == -1


def test_user_callbacks_are_chained_not_replaced():
    async def mine() -> None: ...

    adapter = NatsAdapter("events", {"options": {"reconnected_cb": mine}})
    assert adapter._kwargs["reconnected_cb"] == adapter._on_reconnected
    assert adapter._user_callbacks == {"reconnected_cb": mine}


@pytest.mark.parametrize(("options", "words"), [
    ({"url": "nats://a:1", "servers": ["nats://b:1"]}, "give one of url, servers or host/port"),
    ({"url": ""}, "url must be a non-empty string"),
    ({"servers": []}, "servers must be a URL or a non-empty list"),
    ({"host": "a", "port": "4222"}, "port must be an integer"),
    ({"options": "reconnect"}, "options must be a dict"),
    ({"ulr": "nats://a:1"}, "unknown option 'ulr' (did you mean 'url'?)"),
])
def test_bad_entries_are_refused_naming_the_alias(options, words):
    with pytest.raises(MegaError) as err:
        NatsAdapter("events", options)
    assert err.value.code == "bus.invalid_config"
    assert err.value.message.startswith("services.buses.events: ")
    assert words in err.value.message


def test_before_connect():
    adapter = NatsAdapter("events", {"url": "nats://user:secret@127.0.0.1:4222"})
    assert adapter.target() == "nats://user:***@127.0.0.1:4222"
    with pytest.raises(MegaError) as err:
        _ = adapter.native
    assert err.value.code == "adapter.not_connected"
    with pytest.raises(MegaError) as err:
        adapter.client("x")
    assert err.value.code == "bus.unavailable"
    stats = adapter.stats()
    assert (stats["state"], stats["server"], stats["in_msgs"]) == ("closed", None, 0)
