"""`ws.compression` in app_config.py: off unless asked, `True` or a dict turns it on (a dict may say
`"enabled": False`), bad values are config problems; the accept message names the extension only
when it is on."""

from __future__ import annotations

from pathlib import Path

import pytest

from mega.config._problems import ConfigError
from mega.ws._compression import Compression
from mega.ws._deflate import ACCEPT_KEY, ServerDeflate
from mega.ws._endpoint import _accept_message
from mega.ws._settings import WsSettings, ws_settings

FILE = "apps/web/app_config.py"


def settings(ws: object) -> WsSettings:
    return ws_settings({"ws": ws}, file=FILE)


@pytest.mark.parametrize(("ws", "expected"), [
    (None, Compression(False, 1024, 12)),
    ({}, Compression(False, 1024, 12)),
    ({"compression": False}, Compression(False, 1024, 12)),
    ({"compression": None}, Compression(False, 1024, 12)),
    ({"compression": True}, Compression(True, 1024, 12)),
    ({"compression": {}}, Compression(True, 1024, 12)),
    ({"compression": {"threshold": "2 KiB", "window_bits": 15}}, Compression(True, 2048, 15)),
    ({"compression": {"enabled": True, "threshold": 0, "window_bits": 9}}, Compression(True, 0, 9)),
    ({"compression": {"enabled": False, "threshold": 64}}, Compression(False, 64, 12)),
])
def test_accepted_shapes(ws: object, expected: Compression) -> None:
    assert settings(ws).compression == expected


@pytest.mark.parametrize(("value", "code", "key"), [
    ({"window_bits": 8}, "config.invalid_value", "ws.compression.window_bits"),
    ({"window_bits": 16}, "config.invalid_value", "ws.compression.window_bits"),
    ({"threshold": -1}, "config.invalid_value", "ws.compression.threshold"),
    ({"threshold": "big"}, "config.invalid_value", "ws.compression.threshold"),
    ({"enabled": "maybe"}, "config.invalid_type", "ws.compression.enabled"),
    ({"level": 9}, "config.unknown_key", "ws.compression.level"),
    ("yes", "config.invalid_type", "ws.compression"),
    (1, "config.invalid_type", "ws.compression"),
])
def test_bad_values_are_named(value: object, code: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings({"compression": value})
    assert [(p.code, p.key, p.file) for p in info.value.problems] == [(code, key, FILE)]


def test_window_bits_message_lists_the_range() -> None:
    with pytest.raises(ConfigError) as info:
        settings({"compression": {"window_bits": 20}})
    (problem,) = info.value.problems
    assert problem.message == ("apps/web/app_config.py: ws.compression.window_bits must be an integer 9-15, "
                               "got 20")
    assert problem.hint == "9 (a 512-byte window, least memory) to 15 (32 KiB, the best ratio)"


def test_the_accept_message_names_the_extension_only_when_on(tmp_path: Path) -> None:
    assert _accept_message(settings(None)) == {"type": "websocket.accept"}
    message = _accept_message(settings({"compression": {"threshold": 300, "window_bits": 10},
                                        "max_message_bytes": 1000}))
    (factory,) = message[ACCEPT_KEY]
    assert isinstance(factory, ServerDeflate)
    assert (factory.threshold, factory.max_inflate) == (300, 3024)
    assert (factory.server_max_window_bits, factory.client_max_window_bits) == (10, 10)
