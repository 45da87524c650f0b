"""The JSON envelope: `{"ok": true, "data": ...}` and `{"ok": false, "error": {...}}`."""

from __future__ import annotations

import dataclasses
import decimal
from typing import Any

import orjson

from mega.errors import MegaError

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    """Types orjson does not know: pydantic models, sets, decimals, objects with `to_dict`."""
    dump = getattr(value, "model_dump", None)
    if dump is not None:
        return dump(mode="json")
    if isinstance(value, set | frozenset):
        return list(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    to_dict = getattr(value, "to_dict", None)
    if to_dict is not None:
        return to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def dumps(value: Any) -> bytes:
    # Options cost on every call: try without, retry with them (non-str keys, numpy) on failure.
    try:
        return orjson.dumps(value, _default)
    except TypeError:
        return orjson.dumps(value, _default, _OPTIONS)


def ok_body(data: Any) -> bytes:
    """`{"ok":true,"data":...}` built around the encoded data (cheaper than a wrapping dict)."""
    try:
        return b'{"ok":true,"data":' + orjson.dumps(data, _default) + b"}"
    except TypeError:
        return b'{"ok":true,"data":' + orjson.dumps(data, _default, _OPTIONS) + b"}"


def error_body(error: MegaError) -> bytes:
    return orjson.dumps({"ok": False, "error": error.to_dict()}, default=_default, option=_OPTIONS)


class Envelope:
    """An explicit envelope: returned from a handler, it is sent as is, never wrapped again."""

    __slots__ = ("body", "status")

    def __init__(self, body: dict[str, Any], status: int = 200) -> None:
        if not isinstance(body, dict) or "ok" not in body:
            raise MegaError("envelope.invalid", "Envelope needs a dict with an 'ok' key",
                            hint="use Envelope.ok(data) or Envelope.error(code, message)")
        self.body = body
        self.status = status

    @classmethod
    def ok(cls, data: Any = None, status: int = 200) -> Envelope:
        return cls({"ok": True, "data": data}, status)

    @classmethod
    def error(cls, code: str, message: str, details: Any = None, status: int = 400) -> Envelope:
        return cls({"ok": False, "error": {"code": code, "message": message,
                                            "details": {} if details is None else details}}, status)

    def encode(self) -> bytes:
        return dumps(self.body)
