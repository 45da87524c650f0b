"""safe_next: a `next` is followed only when it is a path on this site, whatever its encoding."""

from __future__ import annotations

import pytest

from mega.auth import safe_next

SAFE = ["/", "/orders", "/orders?page=2&sort=-date", "/a/b/../c", "/search?q=%2F%2Fnot-a-host",
        "/caf%C3%A9", "/x#top", "/:colon", "/a//b"]

OPEN_REDIRECTS = [
    "//evil.com", "///evil.com", "////evil.com", "//evil.com/path", "/\\evil.com", "\\\\evil.com",
    "/\\/evil.com", "\\/evil.com", "https://evil.com", "http:/evil.com", "javascript:alert(1)",
    "data:text/html,x", "evil.com", "evil.com/x", "./x", "",
    # encoded variants
    "%2f%2fevil.com", "%2F%2Fevil.com", "/%2fevil.com", "/%2Fevil.com", "/%5cevil.com", "/%5Cevil.com",
    "%5c%5cevil.com", "/%252f%252fevil.com", "/%25252f%25252fevil.com", "%68ttps://evil.com",
    # control characters: browsers drop tabs and newlines, so "/\t/evil.com" is "//evil.com"
    "/\t/evil.com", "/\n/evil.com", "/\r\n/evil.com", "/%09/evil.com", "/%0a/evil.com", "/%0d%0a/evil.com",
    "/\x00/evil.com", "/%00", "/\x7f",
    # not text
    "/%ff%fe", None, 5, b"/orders", ["/orders"],
]


@pytest.mark.parametrize("value", SAFE)
def test_paths_on_this_site_are_kept_as_written(value: str) -> None:
    assert safe_next(value) == value
    assert safe_next(value, "/") == value


@pytest.mark.parametrize("value", OPEN_REDIRECTS)
def test_every_open_redirect_form_is_refused(value: object) -> None:
    assert safe_next(value) is None
    assert safe_next(value, "/home") == "/home"


def test_a_next_too_long_is_refused() -> None:
    assert safe_next("/" + "a" * 2047) is not None
    assert safe_next("/" + "a" * 2048) is None


def test_encoding_deeper_than_four_layers_is_refused() -> None:
    assert safe_next("/%2525252541") is None  # still encoded after four decodings
    assert safe_next("/%25252541") == "/%25252541"  # "/A" after four: kept as written
