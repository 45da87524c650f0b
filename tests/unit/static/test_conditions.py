"""The header rules of static files, value by value (the integration tests send them for real)."""

from __future__ import annotations

import pytest

from mega.static._conditions import (
    UNSATISFIABLE,
    byte_range,
    choose_coding,
    if_range_holds,
    modified_since,
    none_match,
)
from mega.static._files import hashed_name, media_type

ETAG = b'"10-abc"'


@pytest.mark.parametrize(("header", "size", "expected"), [
    (b"bytes=0-0", 10, (0, 0)),
    (b"bytes=0-", 10, (0, 9)),
    (b"bytes=5-100", 10, (5, 9)),
    (b"bytes=-3", 10, (7, 9)),
    (b"bytes=-30", 10, (0, 9)),
    (b"BYTES = 2-3", 10, (2, 3)),
    (b"bytes=10-", 10, UNSATISFIABLE),
    (b"bytes=10-20", 10, UNSATISFIABLE),
    (b"bytes=-0", 10, UNSATISFIABLE),
    (b"bytes=0-", 0, UNSATISFIABLE),
    (b"bytes=-5", 0, UNSATISFIABLE),
    (b"bytes=3-2", 10, None),
    (b"bytes=0-1,3-4", 10, None),
    (b"bytes=-", 10, None),
    (b"bytes=a-b", 10, None),
    (b"bytes=+1-2", 10, None),
    (b"pages=0-1", 10, None),
    (b"bytes", 10, None),
])
def test_byte_range(header: bytes, size: int, expected: object) -> None:
    assert byte_range(header, size) == expected


@pytest.mark.parametrize(("header", "offered", "expected"), [
    (b"gzip, deflate, br", (b"br", b"gzip"), 0),
    (b"gzip", (b"br", b"gzip"), 1),
    (b"br;q=0, gzip", (b"br", b"gzip"), 1),
    (b"br;q=0.2, gzip;q=0.8", (b"br", b"gzip"), 1),
    (b"BR", (b"br", b"gzip"), 0),
    (b"*", (b"br", b"gzip"), 0),
    (b"*;q=0, gzip", (b"br", b"gzip"), 1),
    (b"gzip;q=0", (b"gzip",), -1),
    (b"identity", (b"br", b"gzip"), -1),
    (b"", (b"br",), -1),
    (b"br;q=bogus", (b"br",), -1),
])
def test_choose_coding(header: bytes, offered: tuple[bytes, ...], expected: int) -> None:
    assert choose_coding(header, offered) == expected


def test_validators() -> None:
    assert none_match(ETAG, ETAG) and none_match(b'W/"10-abc"', ETAG) and none_match(b" * ", ETAG)
    assert none_match(b'"x", "10-abc"', ETAG) and not none_match(b'"10-abd"', ETAG)
    assert if_range_holds(ETAG, ETAG, 0) and not if_range_holds(b'W/"10-abc"', ETAG, 0)
    assert if_range_holds(b"Thu, 01 Jan 1970 00:01:40 GMT", ETAG, 100)
    assert not if_range_holds(b"Thu, 01 Jan 1970 00:01:41 GMT", ETAG, 100)
    assert not if_range_holds(b"nonsense", ETAG, 100)
    assert not modified_since(b"Thu, 01 Jan 1970 00:01:40 GMT", 100)
    assert modified_since(b"Thu, 01 Jan 1970 00:01:39 GMT", 100)
    assert modified_since(b"not a date", 100)


def test_media_types_and_hashed_names() -> None:
    assert media_type("a.css") == b"text/css; charset=utf-8"
    assert media_type("a.svg") == b"image/svg+xml; charset=utf-8"
    assert media_type("a.woff2") == b"font/woff2"
    assert media_type("a.css.gz") == b"application/gzip"
    assert media_type("README") == b"application/octet-stream"
    assert hashed_name("css/app.css", "0123456789") == "css/app.0123456789.css"
    assert hashed_name("js/vendor.min.js", "0123456789") == "js/vendor.min.0123456789.js"
    assert hashed_name("LICENSE", "0123456789") == "LICENSE.0123456789"
