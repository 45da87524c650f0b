"""The one wire codec for the bus (and anything else that puts JSON on NATS): orjson.

- encode: None becomes `null`; anything the HTTP envelope can encode (pydantic models, dataclasses,
  sets, decimals, numpy) can be sent. A value it cannot encode fails the sender at once.
- decode: an empty payload is None (a bare publish from another client); invalid JSON raises
  `CodecError`, so a poison message is detected, never silently turned into something else.
"""

from __future__ import annotations

from typing import Any

import orjson

from mega.errors import MegaError
from mega.http.envelope import dumps


class CodecError(MegaError):
    status = 500
    default_code = "bus.decode_failed"


def encode(value: Any) -> bytes:
    try:
        return dumps(value)
    except TypeError as exc:
        raise CodecError("bus.encode_failed", f"cannot encode the payload as JSON: {exc}",
                         details={"type": type(value).__name__},
                         hint="send JSON-compatible values (dict, list, str, numbers, bool, None, "
                              "pydantic models, dataclasses)", cause=exc) from exc


def decode(data: bytes) -> Any:
    if not data:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise CodecError("bus.decode_failed", f"payload is not valid JSON ({len(data)} bytes): {exc}",
                         details={"size": len(data)}, status=502, cause=exc) from exc
