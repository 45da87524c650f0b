"""204 and 304 answers carry no body and no Content-Length, whatever the handler returned (RFC 9110)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from mega.http.router import Router


async def returns_data(req: Any) -> dict[str, bool]:
    return {"deleted": True}


async def sets_status(req: Any, reply: Any) -> None:
    reply.status(204)


async def not_modified(req: Any, reply: Any) -> str:
    reply.status(304).header("etag", '"v1"')
    return "ignored"


@pytest.mark.parametrize(("path", "status"), [("/status-option", 204), ("/reply-status", 204),
                                              ("/not-modified", 304)])
async def test_a_bodiless_status_sends_no_body(make_client: Callable[..., httpx.AsyncClient], path: str,
                                               status: int) -> None:
    def declare(router: Router) -> None:
        router.delete("/status-option", returns_data, status=204)
        router.delete("/reply-status", sets_status)
        router.get("/not-modified", not_modified)

    async with make_client(declare) as client:
        response = await client.request("GET" if path == "/not-modified" else "DELETE", path)
    assert response.status_code == status
    assert response.content == b""
    assert "content-length" not in response.headers and "content-type" not in response.headers
    assert response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"  # the app's constant headers stay
    if status == 304:
        assert response.headers["etag"] == '"v1"'
