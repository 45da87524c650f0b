"""Writing responses to the ASGI server: the header byte constants, request ids, and the one
`send_json` / `send_empty` every part of mega uses (the pipeline inlines `send_json` on its hot path).

On mega's own server (`RAW_HEADERS` in the scope's extensions) the headers go as one pre-validated
byte block instead of a list of pairs.
"""

from __future__ import annotations

import itertools
import os
import re
from typing import Any

from mega.errors import MegaError
from mega.http._public_error import error_body

Headers = list[tuple[bytes, bytes]]

RAW_HEADERS = "mega.raw_headers"
# On granian's RSGI interface: the request's exchange (mega.server._rsgi), which is also its `send`;
# `exchange.json(...)` answers a JSON body in one call when `send` is that very object.
RSGI = "mega.rsgi"
CT = b"content-type"
CL = b"content-length"
RID = b"x-request-id"
JSON = b"application/json"
JSON_HEAD = b"content-type: application/json\r\ncontent-length: %d\r\nx-request-id: %s\r\n"

# Request ids: a random per-process prefix plus a counter (far cheaper than uuid4: ADR 0001).
_rid_prefix = os.urandom(5).hex().encode() + b"-"
_rid_counter = itertools.count(1)


def _reseed_request_ids() -> None:
    global _rid_prefix, _rid_counter
    _rid_prefix = os.urandom(5).hex().encode() + b"-"
    _rid_counter = itertools.count(1)


os.register_at_fork(after_in_child=_reseed_request_ids)

_RID_OK = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
_RID_BAD_CHARS = re.compile(rb"[^A-Za-z0-9._:\-]")


def request_id(headers: list[tuple[bytes, bytes]]) -> bytes:
    """The client's X-Request-Id when usable (sanitised, capped at 128 bytes), else a new one."""
    for name, value in headers:
        if name == RID:
            if _RID_OK.fullmatch(value):
                return value
            cleaned = _RID_BAD_CHARS.sub(b"", value)[:128]
            if cleaned:
                return cleaned
            break
    return _rid_prefix + b"%x" % next(_rid_counter)


def header_block(headers: Headers) -> bytes:
    """Headers as the raw block mega's server writes as is."""
    return b"".join(n + b": " + v + b"\r\n" for n, v in headers)


def merge_secure_headers(custom: Headers, secure: Headers) -> Headers:
    """The app's own headers, then the secure ones it did not set itself (its own win)."""
    own = {n for n, _ in custom}
    return [*custom, *((n, v) for n, v in secure if n not in own)]


async def send_json(scope: dict[str, Any], send: Any, status: int, body: bytes, rid: bytes,
                    extra: Headers | None, constant: tuple[Headers, bytes]) -> None:
    """Send a JSON body after the constant headers (`constant`: the pairs and the same as a block)."""
    ext = scope.get("extensions")
    if ext is not None and RAW_HEADERS in ext:
        head = JSON_HEAD % (len(body), rid) + constant[1]
        if extra:
            head += header_block(extra)
        await send({"type": "http.response.start", "status": status, "headers": (), RAW_HEADERS: head})
    elif ext is not None and ext.get(RSGI) is send:
        send.json(status, body, rid, constant, extra)
        return
    else:
        headers = [(CT, JSON), (CL, b"%d" % len(body)), (RID, rid), *constant[0]]
        if extra:
            headers.extend(extra)
        await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(scope: dict[str, Any], send: Any, err: MegaError, extra: Headers | None,
                     constant: tuple[Headers, bytes], *, development: bool = False,
                     rid: bytes | None = None) -> int:
    """An error envelope for a request no route handled (404, 405, a refused preflight); returns the
    status sent. `development`: show what only a developer may see (mega.http._public_error)."""
    if rid is None:
        rid = request_id(scope["headers"])
    status, body = error_body(err, rid, development=development)
    await send_json(scope, send, status, body, rid, extra, constant)
    return status


async def send_empty(scope: dict[str, Any], send: Any, status: int, extra: Headers,
                     constant: Headers, rid: bytes | None = None) -> None:
    headers = [(CL, b"0"), (RID, rid if rid is not None else request_id(scope["headers"])), *constant, *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
