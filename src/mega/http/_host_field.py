"""The `Host` header field's value: what a well-formed one is, and the name it gives.

RFC 9112 §3.2: a request with two Host fields, or one whose value is not `name[:port]`, is refused
with 400. `a@evil.com`, `evil.com x` and `evil.com, 127.0.0.1` (two fields joined) are not names.
"""

from __future__ import annotations

import re

__all__ = ["HOST_VALUE", "host_name"]

# name[:port]: a registered name (letters, digits, "-", "_", "."), or an IPv6 literal in brackets.
HOST_VALUE = re.compile(rb"(?:[a-z0-9_.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?", re.IGNORECASE)


def host_name(value: bytes) -> bytes:
    """The lowercased name of a well-formed Host value: an IPv6 literal keeps its brackets
    ([::1]:3000), any other name drops its port and a trailing dot (the same name in DNS)."""
    name = value.lower()
    if name.startswith(b"["):
        return name.split(b"]", 1)[0] + b"]"
    return name.rsplit(b":", 1)[0].rstrip(b".")
