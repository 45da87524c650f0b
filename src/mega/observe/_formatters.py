"""The two log line formats: JSON (one object per line, for machines) and pretty (for developers)."""

from __future__ import annotations

import logging
from typing import Any

import orjson

from mega.observe import _colour as c
from mega.observe._time import PerSecond, local_hms, utc_seconds

__all__ = ["JsonFormatter", "PrettyFormatter", "extra_fields"]

# Attributes every LogRecord has; anything else on a record came from `extra=`.
# uvicorn adds `color_message` (its own coloured copy of msg) to its records: not a field.
_RECORD_KEYS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message", "asctime", "taskName", "request_id", "color_message",
}  # fmt: skip
_PLAIN_SIZE = len(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
# Keys the JSON line owns; an extra field with one of these names is written as `extra_<name>`.
_CORE_KEYS = frozenset({"ts", "level", "logger", "msg", "request_id", "exc", "stack"})
_OPTIONS = orjson.OPT_NON_STR_KEYS

_LEVEL_NAMES = {
    logging.DEBUG: "debug", logging.INFO: "info", logging.WARNING: "warning",
    logging.ERROR: "error", logging.CRITICAL: "critical",
}  # fmt: skip
_LEVEL_COLOURS = {
    logging.DEBUG: c.DIM, logging.INFO: c.GREEN, logging.WARNING: c.YELLOW,
    logging.ERROR: c.RED, logging.CRITICAL: c.BOLD_RED,
}  # fmt: skip


def level_name(record: logging.LogRecord) -> str:
    return _LEVEL_NAMES.get(record.levelno) or record.levelname.lower()


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields passed with `extra={...}`, in the order they were given."""
    fields = record.__dict__
    if len(fields) <= _PLAIN_SIZE + ("request_id" in fields):
        return {}  # most lines: no attribute beyond a plain record's (and request_id), so skip the scan
    return {k: v for k, v in fields.items() if k not in _RECORD_KEYS}


def _repr_default(value: Any) -> str:
    return repr(value)


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "msg", "request_id"?, ...extra, "exc"?}` on one line, via orjson."""

    def __init__(self) -> None:
        super().__init__()
        self._seconds = PerSecond(utc_seconds)

    def format(self, record: logging.LogRecord) -> str:
        created = record.created
        line: dict[str, Any] = {
            "ts": f"{self._seconds(int(created))}.{int(record.msecs):03d}Z",
            "level": level_name(record),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = record.__dict__.get("request_id")
        if rid is not None:
            line["request_id"] = rid
        for key, value in extra_fields(record).items():
            line[f"extra_{key}" if key in _CORE_KEYS else key] = value
        if record.exc_info and not record.exc_text:  # cached on the record for other handlers, as stdlib
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # An unknown type in an extra field must not lose the line: it is written as its repr.
        return orjson.dumps(line, default=_repr_default, option=_OPTIONS).decode()


class PrettyFormatter(logging.Formatter):
    """`12:34:56.789 INFO  mega.app.blog  message  request_id=… key=value`, coloured on a TTY."""

    def __init__(self, *, colour: bool = False) -> None:
        super().__init__()
        self._colour = colour
        self._seconds = PerSecond(local_hms)

    def format(self, record: logging.LogRecord) -> str:
        stamp = f"{self._seconds(int(record.created))}.{int(record.msecs):03d}"
        level = level_name(record).upper()
        pairs = []
        rid = record.__dict__.get("request_id")
        if rid is not None:
            pairs.append(f"request_id={rid}")
        pairs.extend(f"{k}={_pretty_value(v)}" for k, v in extra_fields(record).items())
        tail = "  " + " ".join(pairs) if pairs else ""
        if self._colour:
            colour = _LEVEL_COLOURS.get(record.levelno, "")
            text = (f"{c.DIM}{stamp}{c.RESET} {colour}{level:<8}{c.RESET} {c.DIM}{record.name}{c.RESET}  "
                    f"{record.getMessage()}{c.DIM}{tail}{c.RESET}")
        else:
            text = f"{stamp} {level:<8} {record.name}  {record.getMessage()}{tail}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            text += "\n" + record.exc_text
        if record.stack_info:
            text += "\n" + self.formatStack(record.stack_info)
        return text


def _pretty_value(value: Any) -> str:
    """Plain text when unambiguous; quoted when it has spaces, '=' or control characters."""
    text = value if isinstance(value, str) else str(value)
    if text and text.isprintable() and " " not in text and "=" not in text:
        return text
    return repr(text)
