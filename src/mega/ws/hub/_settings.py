"""The `ws_hub` config section (mega_config.py): the `mega ws-hub` server and every bridge link.

    ws_hub = {
        "host": "0.0.0.0", "port": 3100, "heartbeat": 25,   # the server (flags and env win)
        "compression": {"enabled": False,                   # permessage-deflate on hub links
                        "threshold": 1024,                  # bytes; smaller messages go uncompressed
                        "window_bits": 15},                 # 9-15: memory per link vs ratio
    }
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mega.config import _checks as c
from mega.config._specs import Leaf, Section, const
from mega.config.sections import GLOBAL, Resolve, register_section, section_settings
from mega.ws._compression import Compression, compression_fields, compression_from

__all__ = ["HUB_DEFAULTS", "WS_HUB", "Compression", "HubSettings", "hub_settings"]

HOST = "0.0.0.0"
PORT = 3100
HEARTBEAT = 25.0


@dataclass(frozen=True)
class HubSettings:
    host: str = HOST
    port: int = PORT
    heartbeat: float = HEARTBEAT
    compression: Compression = field(default_factory=Compression)


HUB_DEFAULTS = HubSettings()


WS_HUB = Section(
    {
        "host": Leaf(c.string, const(HOST)),
        "port": Leaf(c.integer(1, 65535), const(PORT)),
        "heartbeat": Leaf(c.duration(most=3600), const(HEARTBEAT)),
        "compression": Section(compression_fields(enabled=False, window_bits=15)),
    }
)


def _from_value(value: Mapping[str, Any]) -> HubSettings:
    return HubSettings(str(value["host"]), int(value["port"]), float(value["heartbeat"]),
                       compression_from(value["compression"]))


def ws_hub_section_settings(value: Any, resolve: Resolve) -> HubSettings:
    return _from_value(value)


def hub_settings(config: Mapping[str, Any], *, file: str = "mega_config.py") -> HubSettings:
    """The section of a global config dict (raw, or as the loader validated it)."""
    if config.get("ws_hub") is None:
        return HUB_DEFAULTS
    settings: HubSettings = section_settings(config, ("ws_hub",), file=file)["ws_hub"]
    return settings


register_section("ws_hub", WS_HUB, scope=GLOBAL, settings=ws_hub_section_settings)
