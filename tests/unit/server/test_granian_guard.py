"""mega's guard in front of the app on granian (`enforce_limits`): what hyper does not enforce."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from mega.errors import MegaError
from mega.server._granian import enforce_limits

TIMEOUT = 0.2


def scope(*headers: tuple[bytes, bytes]) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": "/", "client": ("127.0.0.1", 1),
            "headers": list(headers)}


class Sent(list):
    async def __call__(self, message: dict[str, Any]) -> None:
        self.append(message)


async def test_a_body_that_stops_arriving_is_a_408() -> None:
    async def stalled() -> dict[str, Any]:
        await asyncio.sleep(10)
        return {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()

    guarded = enforce_limits(app, max_headers=10, body_timeout=TIMEOUT)
    with pytest.raises(MegaError) as caught:
        await guarded(scope((b"host", b"a")), stalled, Sent())
    assert caught.value.code == "http.body_timeout" and caught.value.status == 408
    assert (b"connection", b"close") in (caught.value.headers or [])


async def test_waiting_for_the_disconnect_after_the_body_is_not_timed() -> None:
    messages = [{"type": "http.request", "body": b"x", "more_body": False}]

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await asyncio.sleep(TIMEOUT * 2)  # a stream waiting for the client to go
        return {"type": "http.disconnect"}

    got = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        got.append(await receive())
        got.append(await receive())

    await enforce_limits(app, max_headers=10, body_timeout=TIMEOUT)(scope((b"host", b"a")), receive, Sent())
    assert [m["type"] for m in got] == ["http.request", "http.disconnect"]


@pytest.mark.parametrize(("headers", "status", "code"), [
    ([(b"x-h", b"v")] * 11, 431, "http.too_many_headers"),
    ([(b"host", b"a"), (b"host", b"b")], 400, "host.invalid"),
    ([(b"host", b"a@evil.com")], 400, "host.invalid"),
])
async def test_refusals_carry_the_envelope_and_close(headers: list[tuple[bytes, bytes]], status: int,
                                                     code: str) -> None:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raise AssertionError("the app must not run")

    sent = Sent()
    await enforce_limits(app, max_headers=10, body_timeout=TIMEOUT)(scope(*headers), None, sent)
    assert sent[0]["status"] == status and (b"connection", b"close") in sent[0]["headers"]
    assert orjson.loads(sent[1]["body"])["error"]["code"] == code
