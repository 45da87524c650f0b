"""`safe_next`: a `next` URL is followed only when it is a path on this site.

Refused: anything not starting with one `/` (`//evil.com`, `https://evil.com`, `javascript:`), a
backslash anywhere (`/\\evil.com`: browsers read it as `//`), control characters (tab, CR, LF, NUL:
browsers drop them, so `/\\t/evil.com` becomes `//evil.com`), and the same after percent-decoding,
layer by layer (`%2f%2fevil.com`, `/%5cevil.com`, `/%252f%252fevil.com`).
"""

from __future__ import annotations

from typing import overload
from urllib.parse import unquote, urlsplit

__all__ = ["MAX_NEXT", "safe_next"]

MAX_NEXT = 2048
_LAYERS = 4  # percent-encoding layers looked through; a value still encoded after that is refused


def _plain_ok(path: str) -> bool:
    if not path.startswith("/") or path.startswith("//") or "\\" in path:
        return False
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in path):
        return False
    try:
        parts = urlsplit(path)
    except ValueError:
        return False
    return not parts.scheme and not parts.netloc


@overload
def safe_next(value: object, default: str) -> str: ...
@overload
def safe_next(value: object, default: None = None) -> str | None: ...


def safe_next(value: object, default: str | None = None) -> str | None:
    """`value` when it is a relative path on this site ("/orders?page=2"), else `default`.

        target = safe_next(req.query.get("next"), "/")
    """
    if not isinstance(value, str) or not value or len(value) > MAX_NEXT:
        return default
    probe = value
    for _ in range(_LAYERS + 1):  # the last round only checks the fully decoded value
        if not _plain_ok(probe):
            return default
        try:
            decoded = unquote(probe, errors="strict") if "%" in probe else probe
        except UnicodeDecodeError:
            return default
        if decoded == probe:
            return value
        probe = decoded
    return default
