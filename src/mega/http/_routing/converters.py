"""Path parameter converters: `{id:int}`, `{key:uuid}`, `{rest:path}`, `{name}` (str)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from mega.errors import MegaError

_Miss = object()
"""Returned by a converter when a segment does not match (cheaper than raising)."""


def _to_str(segment: str) -> Any:
    return segment if segment else _Miss


_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1


def _to_int(segment: str) -> Any:
    # isdigit() also accepts non-ASCII digits; isascii() keeps the URL space to 0-9. Only signed
    # 64-bit values match: what every database and the JSON encoder take.
    try:
        if segment.isdigit() and segment.isascii():
            value = int(segment)
            return value if value <= _INT_MAX else _Miss
        if segment[:1] == "-" and segment[1:].isdigit() and segment.isascii():
            value = int(segment)
            return value if value >= _INT_MIN else _Miss
    except ValueError:  # int() refuses 4,300+ digits
        pass
    return _Miss


def _to_uuid(segment: str) -> Any:
    if len(segment) != 36 and len(segment) != 32:
        return _Miss
    try:
        return uuid.UUID(segment)
    except ValueError:
        return _Miss


CONVERTERS: dict[str, Callable[[str], Any]] = {
    "str": _to_str,
    "int": _to_int,
    "uuid": _to_uuid,
    "path": _to_str,
}

# When two parameter children compete at one position, the narrower converter is tried first.
PRIORITY = {"int": 0, "uuid": 1, "str": 2}

MISS = _Miss


def converter(name: str, *, route: str) -> Callable[[str], Any]:
    try:
        return CONVERTERS[name]
    except KeyError:
        raise MegaError(
            "route.invalid_path",
            f"unknown converter '{name}' in route '{route}'",
            hint=f"use one of: {', '.join(sorted(CONVERTERS))}",
        ) from None
