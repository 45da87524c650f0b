"""The error path cannot fail: every request gets an envelope (never the server's bare text/plain
500) and an access line, whatever the handler returned or raised."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from mega import Envelope, NotFoundError
from mega.observe.access import AccessLog
from mega.testing import make_client, running
from tests.conftest import asgi_client, build_app

SIMPLE = Path(__file__).resolve().parents[3] / "samples" / "simple"


class Opaque:
    """A value no JSON encoder knows."""


def lines(access: AccessLog) -> list[dict[str, Any]]:
    access.flush()
    stream = access.stream
    assert isinstance(stream, io.StringIO)
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def access_log() -> AccessLog:
    return AccessLog(io.StringIO(), fmt="json")


def assert_envelope(body: bytes) -> dict[str, Any]:
    data = orjson.loads(body)
    assert data["ok"] is False and set(data["error"]) == {"code", "message", "details"}
    return data["error"]  # type: ignore[no-any-return]


@pytest.fixture
def simple_on_path() -> Iterator[None]:
    sys.path.insert(0, str(SIMPLE))
    yield
    sys.path.remove(str(SIMPLE))


async def test_a_huge_id_on_the_simple_sample_is_a_404_envelope(simple_on_path: None) -> None:
    async with running(SIMPLE) as rt, make_client(rt) as http:
        r = await http.get("/todos/99999999999999999999999")
    assert r.status_code == 404 and r.headers["content-type"] == "application/json"
    assert assert_envelope(r.content)["code"] == "route.not_found"


async def test_an_error_whose_details_cannot_be_encoded_gets_the_fixed_envelope(caplog: Any) -> None:
    access = access_log()

    async def handler() -> None:
        raise NotFoundError("thing.not_found", "no thing", details={"id": 10**30, "what": Opaque()})

    with caplog.at_level(logging.ERROR, logger="mega"):
        async with asgi_client(build_app(lambda r: r.get("/t", handler), access_log=access)) as http:
            r = await http.get("/t", headers={"x-request-id": "rid-77"})
    assert (r.status_code, r.headers["content-type"]) == (500, "application/json")
    assert r.json() == {"ok": False, "error": {"code": "internal", "message": "Internal server error",
                                               "details": {"request_id": "rid-77"}}}
    assert any("thing.not_found" in rec.getMessage() and rec.request_id == "rid-77" for rec in caplog.records)
    assert [(x["path"], x["status"], x["request_id"]) for x in lines(access)] == [("/t", 500, "rid-77")]


@pytest.mark.parametrize("env", ["development", "test", "production"])
async def test_a_result_json_cannot_encode_is_response_not_serializable(env: str, caplog: Any) -> None:
    def declare(r: Any) -> None:
        r.get("/obj/{id:int}", lambda: {"item": Opaque()})
        r.get("/big", lambda: [2**64])
        r.get("/env", lambda: Envelope.ok({"x": Opaque()}))

    access = access_log()
    with caplog.at_level(logging.ERROR, logger="mega"):
        async with asgi_client(build_app(declare, env=env, access_log=access)) as http:
            obj = await http.get("/obj/3")
            big = await http.get("/big")
            env_result = await http.get("/env")
    for r in (obj, big, env_result):
        assert (r.status_code, r.headers["content-type"]) == (500, "application/json")
        error = assert_envelope(r.content)
        assert error["code"] == "response.not_serializable"
        if env == "development":
            assert error["details"]["route"] in ("GET /obj/{id:int}", "GET /big", "GET /env")
        else:  # the generic envelope: nothing about the handler's types
            assert error == {"code": "response.not_serializable", "message": "Internal server error",
                             "details": {"request_id": r.headers["x-request-id"]}}
    logged = [rec.getMessage() for rec in caplog.records if "response.not_serializable" in rec.getMessage()]
    assert any("GET /obj/{id:int}" in m and "Opaque" in m for m in logged)
    assert any("GET /big" in m and "64-bit" in m for m in logged)
    assert [x["status"] for x in lines(access)] == [500, 500, 500]


async def test_a_failing_route_lookup_is_a_500_envelope_with_an_access_line(caplog: Any) -> None:
    access = access_log()
    app = build_app(lambda r: r.get("/items/{id:int}", lambda: 1), access_log=access)

    def broken(path: str) -> None:
        raise RuntimeError("converter bug")

    # stands for a bug in a converter, on both ways to the trie (the app's own lookup and the dispatcher's)
    app._dynamic = broken  # type: ignore[assignment]
    app.table.match = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR, logger="mega"):
        async with asgi_client(app) as http:
            r = await http.get("/items/1", headers={"x-request-id": "rid-9"})
    assert r.status_code == 500 and "converter bug" not in r.text
    assert assert_envelope(r.content)["details"] == {"request_id": "rid-9"}
    assert any(rec.request_id == "rid-9" and rec.exc_info for rec in caplog.records)
    assert [(x["status"], x["request_id"]) for x in lines(access)] == [(500, "rid-9")]


async def test_a_response_that_fails_while_streaming_still_writes_its_access_line(caplog: Any) -> None:
    from mega import StreamResponse

    def chunks() -> Iterator[bytes]:
        yield b"first"
        raise RuntimeError("stream broke")

    access = access_log()
    app = build_app(lambda r: r.get("/s", lambda: StreamResponse(chunks())), access_log=access)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/s", "headers": [(b"x-request-id", b"rid-s")],
             "query_string": b""}
    with caplog.at_level(logging.ERROR, logger="mega"), pytest.raises(RuntimeError, match="stream broke"):
        await app(scope, receive, send)
    assert sent[0]["status"] == 200  # the head was out: the server can only drop the connection
    assert [(x["status"], x["request_id"]) for x in lines(access)] == [(200, "rid-s")]
