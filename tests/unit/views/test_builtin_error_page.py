"""The built-in error page: small, self-contained, and every value escaped."""

from __future__ import annotations

from mega.views._error_pages import builtin_page

HOSTILE = "<script>alert(1)</script>"


def test_every_value_is_escaped() -> None:
    page = builtin_page(404, {"code": f"x.{HOSTILE}", "message": HOSTILE, "details": {"q": HOSTILE}},
                        f"rid{HOSTILE}").decode()
    assert HOSTILE not in page and page.count("&lt;script&gt;") == 4


def test_it_names_the_status_and_needs_nothing_else() -> None:
    page = builtin_page(429, {"code": "rate_limit.exceeded", "message": "too many requests",
                              "details": {"retry_after": 30}}, "rid-1").decode()
    assert page.startswith("<!doctype html>") and "<title>429 Too Many Requests</title>" in page
    assert "too many requests" in page and "rate_limit.exceeded" in page and "retry_after" in page
    assert "request id rid-1" in page
    assert "http" not in page.replace("http-equiv", "")  # no external assets


def test_the_request_id_is_not_shown_twice_and_an_unknown_status_still_has_a_title() -> None:
    page = builtin_page(599, {"code": "internal", "message": "", "details": {"request_id": "rid-2"}},
                        "rid-2").decode()
    assert "<h1>599 Error</h1><p>Error</p>" in page and "<pre>" not in page and page.count("rid-2") == 1
