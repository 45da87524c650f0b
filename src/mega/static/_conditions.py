"""The request headers a static file answers to (RFC 9110): validators, byte ranges, Accept-Encoding."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Final

__all__ = ["UNSATISFIABLE", "byte_range", "choose_coding", "if_range_holds", "modified_since", "none_match"]

UNSATISFIABLE: Final = (-1, -1)


def none_match(header: bytes, etag: bytes) -> bool:
    """If-None-Match holds a tag equal to `etag` under the weak comparison (or is "*")."""
    if header.strip() == b"*":
        return True
    for tag in header.split(b","):
        tag = tag.strip()
        if tag[:2] == b"W/":
            tag = tag[2:]
        if tag == etag:
            return True
    return False


def _date(header: bytes) -> float | None:
    try:
        return parsedate_to_datetime(header.decode("latin-1")).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def modified_since(header: bytes, mtime: int) -> bool:
    """False when If-Modified-Since is a valid date at or after the file's Last-Modified."""
    when = _date(header)
    return when is None or mtime > when


def if_range_holds(header: bytes, etag: bytes, mtime: int) -> bool:
    """If-Range: a strong ETag equal to the current one, or exactly the current Last-Modified date."""
    value = header.strip()
    if value[:1] == b'"' or value[:2] == b"W/":
        return value == etag  # a weak tag never matches (strong comparison)
    return _date(value) == float(mtime)


def byte_range(header: bytes, size: int) -> tuple[int, int] | None:
    """One `bytes=` range as (first, last) inclusive; None when the header is to be ignored (malformed,
    another unit, several ranges: the whole file is sent); UNSATISFIABLE when it selects no byte."""
    unit, _, spec = header.partition(b"=")
    if unit.strip().lower() != b"bytes" or b"," in spec:
        return None
    first, dash, last = spec.strip().partition(b"-")
    if not dash or not (first.isdigit() or first == b"") or not (last.isdigit() or last == b""):
        return None
    if first == b"":
        if last == b"":
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return (max(0, size - suffix), size - 1)
    start = int(first)
    if last and int(last) < start:
        return None  # invalid: ignored
    if start >= size:
        return UNSATISFIABLE
    return (start, min(int(last), size - 1) if last else size - 1)


def choose_coding(header: bytes, offered: tuple[bytes, ...]) -> int:
    """Index in `offered` (the server's order of preference) of the coding to send, or -1 for none.
    A coding with q=0 is refused, `*` covers codings not named, the highest q wins."""
    weights: dict[bytes, float] = {}
    for item in header.lower().split(b","):
        name, _, params = item.partition(b";")
        name = name.strip()
        q = 1.0
        params = params.strip()
        if params[:2] == b"q=":
            try:
                q = float(params[2:])
            except ValueError:
                q = 0.0
        weights[name] = q
    star = weights.get(b"*", 0.0)
    best, best_q = -1, 0.0
    for i, coding in enumerate(offered):
        q = weights.get(coding, star)
        if q > best_q:
            best, best_q = i, q
    return best
