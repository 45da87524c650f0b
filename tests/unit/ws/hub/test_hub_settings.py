"""The `ws_hub` section: defaults, compression values, bad values fail with config.invalid_value;
the compression threshold leaves small messages uncompressed."""

from __future__ import annotations

from pathlib import Path

import pytest
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame, Opcode

from mega.config import load_project_config
from mega.config._problems import ConfigError
from mega.testing import write_project
from mega.ws._deflate import Threshold
from mega.ws.hub._cli import project_settings
from mega.ws.hub._settings import Compression, HubSettings


def load(root: Path, ws_hub: str) -> object:
    write_project(root, {"mega_config.py": f"config = {{'ws_hub': {ws_hub}}}\n"})
    return project_settings(root, {})


def test_the_project_loader_validates_the_section_too(tmp_path: Path) -> None:
    write_project(tmp_path, {"mega_config.py": "config = {'ws_hub': {'compression': {'window_bits': 3}}}\n",
                             "apps/web/app_config.py": "config = {}\n"})
    with pytest.raises(ConfigError) as info:
        load_project_config(tmp_path, environ={})
    assert [p.code for p in info.value.problems] == ["config.invalid_value"]
    (tmp_path / "mega_config.py").write_text("config = {'ws_hub': {'port': 4100}}\n")
    assert load_project_config(tmp_path, environ={}).settings["ws_hub"].port == 4100


def test_the_section_has_its_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, "{}") == HubSettings("0.0.0.0", 3100, 25.0, Compression(False, 1024, 15))


def test_compression_values_are_read(tmp_path: Path) -> None:
    settings = load(tmp_path, "{'heartbeat': '10s', 'compression': {'enabled': True, 'threshold': '2 KiB', "
                              "'window_bits': 9}}")
    assert settings == HubSettings("0.0.0.0", 3100, 10.0, Compression(True, 2048, 9))


@pytest.mark.parametrize(("value", "key"), [
    ("{'compression': {'window_bits': 8}}", "ws_hub.compression.window_bits"),
    ("{'compression': {'window_bits': 16}}", "ws_hub.compression.window_bits"),
    ("{'compression': {'threshold': -1}}", "ws_hub.compression.threshold"),
    ("{'compression': {'threshold': 'big'}}", "ws_hub.compression.threshold"),
    ("{'port': 70000}", "ws_hub.port"),
])
def test_a_bad_value_fails_with_config_invalid_value(tmp_path: Path, value: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, value)
    assert [(p.code, p.key) for p in info.value.problems] == [("config.invalid_value", key)]


def test_an_unknown_compression_key_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "{'compression': {'level': 9}}")
    assert info.value.problems[0].code == "config.unknown_key"


def test_messages_under_the_threshold_go_uncompressed() -> None:
    inner = PerMessageDeflate(False, False, 15, 15)
    ext = Threshold(inner, 1024)
    small = ext.encode(Frame(Opcode.TEXT, b"x" * 100))
    big = ext.encode(Frame(Opcode.TEXT, b"x" * 4000))
    assert (small.rsv1, small.data) == (False, b"x" * 100)
    assert big.rsv1 is True and len(big.data) < 100
    peer = PerMessageDeflate(False, False, 15, 15)
    assert peer.decode(big).data == b"x" * 4000
    assert peer.decode(small).data == b"x" * 100
