"""The keys of one `logger.sinks` entry, checked by the config schema and by `configure_logging` alike."""

from __future__ import annotations

import os
from typing import Any

from mega._suggest import close_match
from mega.config import _checks as c

__all__ = ["SINK_KEYS", "SINK_TYPES", "TELEGRAM_API", "sink"]

TELEGRAM_API = "https://api.telegram.org"
_LEVELS = c.choice("debug", "info", "warning", "error", "critical")
_FORMAT = c.choice("json", "pretty")
_DURATION = c.duration()
_COMMON: dict[str, tuple[c.Check, Any]] = {"level": (_LEVELS, None), "format": (_FORMAT, None)}


def _chat_id(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return c.string(value)


def _path(value: Any) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    return c.string(value)


# Per sink type: key -> (check, default). A default of None means "unset" (inherit or off).
SINK_KEYS: dict[str, dict[str, tuple[c.Check, Any]]] = {
    "console": {**_COMMON, "stream": (c.choice("stderr", "stdout"), "stderr")},
    "file": {
        **_COMMON,
        "path": (_path, None),
        "max_bytes": (c.integer(1024), None),  # size-based rotation
        "rotate_every": (_DURATION, None),  # time-based rotation, seconds
        "backups": (c.integer(0, 10_000), 5),
    },
    "telegram": {
        "level": (_LEVELS, "error"),
        "token": (c.string, None),  # else MEGA_TELEGRAM_TOKEN
        "chat_id": (_chat_id, None),  # else MEGA_TELEGRAM_CHAT_ID
        "api_url": (c.string, TELEGRAM_API),
        "title": (c.string, None),
        "batch_size": (c.integer(1, 100), 20),
        "flush_interval": (_DURATION, 2.0),
        "min_interval": (c.duration(zero_ok=True), 3.0),
        "queue_size": (c.integer(1, 1_000_000), 1000),
        "timeout": (_DURATION, 10.0),
    },
}
SINK_TYPES = tuple(SINK_KEYS)
_EXAMPLE = "{'type': 'console'}, {'type': 'file', 'path': 'var/log/app.log', 'max_bytes': 10_000_000}"


def sink(value: Any) -> dict[str, Any]:
    """One sink as a dict with every key of its type (defaults filled in); raises `c.Invalid`."""
    if not isinstance(value, dict):
        raise c.Invalid(
            c.INVALID_TYPE,
            f"must be a dict such as {{'type': 'console'}}, got {value!r} ({type(value).__name__})",
            hint=f"e.g. {_EXAMPLE}",
        )
    kind = value.get("type")
    keys = SINK_KEYS.get(kind) if isinstance(kind, str) else None
    if keys is None:
        raise c.Invalid(
            c.INVALID_VALUE,
            f"must be one of {', '.join(SINK_TYPES)}, got {kind!r}",
            hint=f"sink types: {', '.join(SINK_TYPES)}; e.g. {_EXAMPLE}",
            subkey=".type",
        )
    out: dict[str, Any] = {"type": kind}
    for key in value:
        if key != "type" and key not in keys:
            guess = close_match(key, keys)
            raise c.Invalid(
                "config.unknown_key",
                f"is not a key of a {kind} sink",
                hint=(f"did you mean {guess!r}? " if guess else "") + f"{kind} sinks take: {', '.join(keys)}",
                subkey=f".{key}",
            )
    for key, (check, default) in keys.items():
        raw = value.get(key)
        if raw is None:
            out[key] = default
            continue
        try:
            out[key] = check(raw)
        except c.Invalid as exc:
            exc.subkey = f".{key}{exc.subkey}"
            raise
    if kind == "file":
        _check_file(out)
    return out


def _check_file(out: dict[str, Any]) -> None:
    if out["path"] is None:
        raise c.Invalid(
            c.INVALID_VALUE,
            "is required for a file sink",
            subkey=".path",
            hint="e.g. {'type': 'file', 'path': 'var/log/app.log'}",
        )
    if out["max_bytes"] is not None and out["rotate_every"] is not None:
        raise c.Invalid(
            c.INVALID_VALUE,
            "cannot be set with max_bytes: rotate by size or by time",
            subkey=".rotate_every",
            hint="keep one of max_bytes (size) or rotate_every (seconds)",
        )
