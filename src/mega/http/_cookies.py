"""Reading the Cookie header the forgiving way: one bad pair is skipped, the others are kept.

`http.cookies.SimpleCookie` stops at the first pair it cannot parse (`a=b c`, `prefs={"a":1}`, a
stray quote or backslash, non-ASCII) and so drops every cookie after it, the session and the CSRF
secret included: any script or sibling site that sets one odd cookie logs the user out. Browsers
send what they were given, so this parser takes each `name=value` pair on its own (RFC 6265 §5.4
layout, §4.1.1 names): a pair whose name is not a token is skipped; a value is kept as sent
(surrounding blanks and one pair of double quotes removed, with their escapes); non-ASCII bytes read
as UTF-8 when they are. A name sent twice keeps its last value (as SimpleCookie did).
"""

from __future__ import annotations

import re
from http.cookies import _unquote  # the stdlib's decoding of a quoted value

__all__ = ["parse_cookies"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token: what a cookie name may be


def parse_cookies(headers: list[bytes]) -> dict[str, str]:
    """The cookies of the request's `Cookie` header values (HTTP/2 may send several)."""
    out: dict[str, str] = {}
    for header in headers:
        for pair in header.split(b";"):
            name_b, eq, value_b = pair.partition(b"=")
            if not eq:
                continue  # "flag" with no "=": nothing to name it by
            name = name_b.strip().decode("latin-1")
            if not _TOKEN.fullmatch(name):
                continue
            value_b = value_b.strip()
            if len(value_b) >= 2 and value_b[0] == value_b[-1] == 0x22:  # '"...": RFC 6265 allows quotes
                value = _unquote(value_b.decode("latin-1"))
            elif value_b.isascii():
                value = value_b.decode("ascii")
            else:
                try:
                    value = value_b.decode("utf-8")
                except UnicodeDecodeError:
                    value = value_b.decode("latin-1")
            out[name] = value
    return out
