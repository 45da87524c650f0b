"""The `compression` key of the `ws` (per app) and `ws_hub` (global) sections: permessage-deflate as
`{enabled, threshold, window_bits}`. Only config here; the extension itself is mega.ws._deflate."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mega.config import _checks as c
from mega.config._specs import Leaf, Spec, const
from mega.forms._settings import size

__all__ = ["THRESHOLD", "Compression", "compression_fields", "compression_from"]

THRESHOLD = 1024


@dataclass(frozen=True)
class Compression:
    enabled: bool = False
    threshold: int = THRESHOLD  # bytes; smaller messages go out uncompressed
    window_bits: int = 15  # 9-15: the LZ77 window, memory per connection against ratio


def _threshold(value: Any) -> int:
    if value == 0 and not isinstance(value, bool):
        return 0
    try:
        return size(value)
    except c.Invalid as exc:
        raise c.Invalid(c.INVALID_VALUE,
                        f"must be a size in bytes >= 0 (e.g. 1024 or '1 KiB'), got {value!r}",
                        hint="messages smaller than the threshold go uncompressed") from exc


_bits = c.integer(9, 15)


def _window_bits(value: Any) -> int:
    try:
        bits: int = _bits(value)
    except c.Invalid as exc:
        raise c.Invalid(exc.code, exc.text, hint="9 (a 512-byte window, least memory) to 15 (32 KiB, the "
                        "best ratio)") from exc
    return bits


def compression_fields(*, enabled: bool, window_bits: int) -> dict[str, Spec]:
    """The three keys, with the section's defaults."""
    return {
        "enabled": Leaf(c.boolean, const(enabled)),
        "threshold": Leaf(_threshold, const(THRESHOLD)),
        "window_bits": Leaf(_window_bits, const(window_bits)),
    }


def compression_from(value: Mapping[str, Any]) -> Compression:
    return Compression(bool(value["enabled"]), int(value["threshold"]), int(value["window_bits"]))
