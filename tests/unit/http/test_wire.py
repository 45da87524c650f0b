"""Writing responses: the raw header block on mega's server and the header list elsewhere agree."""

from __future__ import annotations

from typing import Any

from mega.http._wire import RAW_HEADERS, header_block, merge_secure_headers, send_json


async def _sent(raw: bool) -> list[dict[str, Any]]:
    scope: dict[str, Any] = {"extensions": {RAW_HEADERS: {}}} if raw else {}
    constant = [(b"x-frame-options", b"DENY")]
    out: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        out.append(message)

    await send_json(scope, send, 201, b'{"ok":true}', b"rid-1", [(b"x-extra", b"1")],
                    (constant, header_block(constant)))
    return out


def _parse(block: bytes) -> list[tuple[bytes, bytes]]:
    lines = [line for line in block.split(b"\r\n") if line]
    return [tuple(line.split(b": ", 1)) for line in lines]  # type: ignore[misc]


async def test_the_raw_block_carries_exactly_the_headers_of_the_list_form() -> None:
    raw_start, raw_body = await _sent(raw=True)
    plain_start, plain_body = await _sent(raw=False)
    assert raw_start["headers"] == ()
    assert _parse(raw_start[RAW_HEADERS]) == plain_start["headers"] == [
        (b"content-type", b"application/json"), (b"content-length", b"11"), (b"x-request-id", b"rid-1"),
        (b"x-frame-options", b"DENY"), (b"x-extra", b"1")]
    assert raw_start["status"] == plain_start["status"] == 201
    assert raw_body == plain_body == {"type": "http.response.body", "body": b'{"ok":true}'}


def test_the_apps_own_headers_win_over_the_secure_defaults() -> None:
    merged = merge_secure_headers([(b"x-frame-options", b"SAMEORIGIN")],
                                  [(b"x-frame-options", b"DENY"), (b"x-content-type-options", b"nosniff")])
    assert merged == [(b"x-frame-options", b"SAMEORIGIN"), (b"x-content-type-options", b"nosniff")]
