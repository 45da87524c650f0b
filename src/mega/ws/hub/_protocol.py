"""The hub wire protocol, shared by the `mega ws-hub` server and the bridge link.

Every frame is one WebSocket text message holding a JSON object `{"type": str, "payload": object}`.
See docs/reference/hub-protocol.md for each message, its fields and direction.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

__all__ = [
    "CLOSE_AUTH",
    "CLOSE_DRAIN",
    "CLOSE_REPLACED",
    "CLOSE_SILENT",
    "CLOSE_TOO_BIG",
    "MAX_FRAME_BYTES",
    "VERSIONS",
    "FrameError",
    "Type",
    "decode",
    "encode",
    "highest_common",
]

# Versions this build speaks, oldest first. v1: REGISTER {bridge_id}; v2 adds `instance_id` (the same
# instance replaces its old link) and `capabilities`.
VERSIONS: Final = (1, 2)
MAX_FRAME_BYTES: Final = 1024 * 1024

CLOSE_AUTH: Final = 1008  # bad token, frame before REGISTER: "do not come back"
CLOSE_TOO_BIG: Final = 1009
CLOSE_DRAIN: Final = 4503  # hub shutting down (and DISCONNECT requeue to clients): reconnect now
CLOSE_REPLACED: Final = 4409  # this bridge id is now held by a newer link of the same instance
CLOSE_SILENT: Final = 4408  # no frame for two heartbeats


class Type:
    """Message types. Upper case travel both ways (or bridge -> hub); lower case are the hub's replies."""

    REGISTER: Final = "REGISTER"
    JOIN: Final = "JOIN"
    LEAVE: Final = "LEAVE"
    BULK_LEAVE: Final = "BULK_LEAVE"
    METADATA: Final = "METADATA"
    BROADCAST: Final = "BROADCAST"
    DIRECT: Final = "DIRECT"
    DISCONNECT: Final = "DISCONNECT"
    HEARTBEAT: Final = "HEARTBEAT"
    ROSTER: Final = "ROSTER"
    REGISTER_OK: Final = "register_ok"
    REGISTER_ERROR: Final = "register_error"
    ROSTER_OK: Final = "roster"
    ERROR: Final = "error"


class FrameError(Exception):
    """A frame that is not `{"type": str, "payload": object}`: `code` is `hub.invalid_frame`."""

    code = "hub.invalid_frame"


def encode(type_: str, payload: dict[str, Any] | None = None) -> str:
    return orjson.dumps({"type": type_, "payload": payload or {}}).decode()


def decode(data: str | bytes) -> tuple[str, dict[str, Any]]:
    """(type, payload) of a frame, or FrameError saying what is wrong with it."""
    try:
        frame = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise FrameError(f"the frame is not JSON: {exc}") from exc
    if not isinstance(frame, dict) or not isinstance(frame.get("type"), str) or not frame["type"]:
        raise FrameError('a frame is an object {"type": "...", "payload": {...}}')
    payload = frame.get("payload")
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise FrameError(f"the payload of {frame['type'][:50]!r} must be an object")
    return frame["type"], payload


def highest_common(ours: tuple[int, ...], theirs: Any) -> int | None:
    """The highest version both sides speak, or None."""
    if not isinstance(theirs, list):
        return None
    common = set(ours) & {v for v in theirs if isinstance(v, int) and not isinstance(v, bool)}
    return max(common) if common else None
