"""The `ws` config section (app_config.py): WebSocket channel limits and the upgrade's Origin check.

    ws = {
        "max_message_bytes": "64 KiB",   # a larger client message closes the socket with 1009
        "send_buffer_bytes": "1 MiB",    # queued, unsent bytes per connection; beyond: close 1013
        "allowed_origins": ["https://app.example.com"],  # besides the app's own hosts
        "allow_missing_origin": False,   # True lets clients without an Origin header (not browsers) in
        "compression": False,            # permessage-deflate: True, or {"threshold": ..., "window_bits": ...}
    }
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mega.config import _checks as c
from mega.config._specs import Leaf, Section, Switch, const
from mega.config.sections import APP, Resolve, register_section, section_settings
from mega.forms._settings import size
from mega.ws._compression import Compression, compression_fields, compression_from

__all__ = ["WS", "WsSettings", "ws_settings"]

MAX_MESSAGE_BYTES = 64 * 1024
SEND_BUFFER_BYTES = 1024 * 1024
# Browser sockets are many: a 4 KiB window (zlib memLevel 5) keeps about 54 KiB per connection where
# zlib's defaults take about 334 KiB, for 17% more bytes on 1 KB JSON (ADR 0036).
WINDOW_BITS = 12
COMPRESSION_OFF = Compression(False, window_bits=WINDOW_BITS)


@dataclass(frozen=True)
class WsSettings:
    max_message_bytes: int = MAX_MESSAGE_BYTES
    send_buffer_bytes: int = SEND_BUFFER_BYTES
    allowed_origins: frozenset[str] = frozenset()  # "scheme://host[:port]", lowercased
    allow_missing_origin: bool = False
    compression: Compression = field(default=COMPRESSION_OFF)


DEFAULT = WsSettings()


def _origin(value: Any) -> str:
    text = c.string(value).strip().lower().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        raise c.Invalid(c.INVALID_VALUE, f"must be an origin such as 'https://app.example.com', got "
                        f"{value!r}",
                        hint="scheme, host and an optional port; no path")
    return text


WS = Section(
    {
        "max_message_bytes": Leaf(size, const(MAX_MESSAGE_BYTES)),
        "send_buffer_bytes": Leaf(size, const(SEND_BUFFER_BYTES)),
        "allowed_origins": Leaf(c.list_of(_origin, "a list of origins"), const([])),
        "allow_missing_origin": Leaf(c.boolean, const(False)),
        # False (off), True (on with the defaults), or the dict; a dict turns it on unless it says
        # "enabled": False (so a ws_hub.compression dict can be copied as is).
        "compression": Switch(Section(compression_fields(enabled=True, window_bits=WINDOW_BITS)),
                              const(False), "True, False or a dict such as {'threshold': 1024, "
                              "'window_bits': 12}", true_ok=True),
    }
)


def ws_section_settings(value: Any, resolve: Resolve) -> WsSettings:
    comp = value["compression"]
    return WsSettings(int(value["max_message_bytes"]), int(value["send_buffer_bytes"]),
                      frozenset(value["allowed_origins"]), bool(value["allow_missing_origin"]),
                      compression_from(comp) if comp else COMPRESSION_OFF)


def ws_settings(config: Mapping[str, Any], *, file: str) -> WsSettings:
    """The section of an app config dict (raw, or as the loader validated it)."""
    if config.get("ws") is None:
        return DEFAULT
    settings: WsSettings = section_settings(config, ("ws",), file=file)["ws"]
    return settings


register_section("ws", WS, scope=APP, settings=ws_section_settings)
