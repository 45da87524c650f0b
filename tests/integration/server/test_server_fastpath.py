"""The raw-header-block fast path and uvicorn behaviour kept intact, against a real server."""

from __future__ import annotations

import asyncio
import email.utils
import re
import time

import pytest
from server_wire import at_eof, connect, get, read_response, request

pytestmark = pytest.mark.integration

RAW_HEAD = re.compile(
    rb"HTTP/1\.1 200 OK\r\n"
    rb"date: (?P<date>[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT)\r\n"
    rb"server: uvicorn\r\n"
    rb"content-type: application/json\r\n"
    rb"content-length: (?P<length>\d+)\r\n"
    rb"x-request-id: r-1\r\n"
    rb"(?P<close>connection: close\r\n)?"
    rb"\r\n"
)


async def test_raw_block_response_is_byte_correct(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    writer.write(get("/hello?a=1"))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    match = RAW_HEAD.fullmatch(head)
    assert match, head
    assert match["close"] is None
    sent_at = email.utils.parsedate_to_datetime(match["date"].decode()).timestamp()
    assert abs(sent_at - time.time()) < 3
    body = await asyncio.wait_for(reader.readexactly(int(match["length"])), 5)
    assert body == b'{"ok":true,"data":{"path":"/hello","query":"a=1","headers":1,"body":0,"raw":true}}'
    writer.close()


async def test_keep_alive_serves_three_requests_on_one_connection(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    for i in range(3):
        writer.write(get(f"/n{i}", "Content-Length: 3", method="POST") + b"abc")
        response = await read_response(reader)
        assert response.status == 200
        assert response.header("connection") is None
        assert response.json() == {
            "ok": True,
            "data": {"path": f"/n{i}", "query": "", "headers": 2, "body": 3, "raw": True},
        }
    assert not await at_eof(reader, 0.2)
    writer.close()


async def test_head_request_gets_no_body(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    writer.write(get("/", method="HEAD"))
    response = await read_response(reader, head_only=True)
    assert RAW_HEAD.fullmatch(response.head)
    assert int(response.header("content-length") or 0) > 0
    # The next response starts right after the head: no body bytes were sent for HEAD.
    writer.write(get("/after"))
    after = await read_response(reader)
    assert after.status == 200
    assert after.json() == {
        "ok": True,
        "data": {"path": "/after", "query": "", "headers": 1, "body": 0, "raw": True},
    }
    writer.close()


async def test_pipelined_requests_are_answered_in_order(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    writer.write(
        get("/p1")
        + get("/p2", method="HEAD")
        + get("/plain")
        + get("/p3", "Content-Length: 2", method="POST")
        + b"hi"
        + get("/p4", "Connection: close")
    )
    first = await read_response(reader)
    head = await read_response(reader, head_only=True)
    plain = await read_response(reader)
    third = await read_response(reader)
    last = await read_response(reader)
    assert [first.json(), plain.json(), third.json(), last.json()] == [
        {"ok": True, "data": {"path": p, "query": "", "headers": n, "body": b, "raw": True}}
        for p, n, b in (("/p1", 1, 0), ("/plain", 1, 0), ("/p3", 2, 2), ("/p4", 2, 0))
    ]
    assert head.status == 200 and head.body == b""
    assert last.header("connection") == "close"
    assert await at_eof(reader)
    writer.close()


async def test_plain_headers_response_still_works(strict_port: int) -> None:
    response, closed = await request(strict_port, get("/plain"))
    assert response.status == 200
    assert response.headers[2:] == [
        ("content-type", "application/json"),
        ("content-length", str(len(response.body))),
        ("x-request-id", "r-1"),
    ]
    assert response.json() == {
        "ok": True,
        "data": {"path": "/plain", "query": "", "headers": 1, "body": 0, "raw": True},
    }
    assert not closed


async def test_chunked_streaming_response_still_works(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    for _ in range(2):  # and the connection stays usable afterwards
        writer.write(get("/stream"))
        response = await read_response(reader)
        assert response.status == 200
        assert response.header("transfer-encoding") == "chunked"
        assert response.body == b"one,two,three"
    writer.close()


async def test_large_raw_body_is_sent_whole(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    for _ in range(2):
        writer.write(get("/big"))
        response = await read_response(reader)
        assert response.status == 200
        assert response.body == b"x" * 200_000
    writer.close()


async def test_http10_and_connection_close_get_connection_close(strict_port: int) -> None:
    for raw in (get("/old", version="1.0"), get("/bye", "Connection: close")):
        reader, writer = await connect(strict_port)
        writer.write(raw)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        match = RAW_HEAD.fullmatch(head)
        assert match and match["close"], head
        assert len(await reader.readexactly(int(match["length"]))) == int(match["length"])
        assert await at_eof(reader)
        writer.close()


async def test_expect_100_continue(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    writer.write(get("/upload", "Content-Length: 5", "Expect: 100-continue", method="POST"))
    assert await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5) == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"hello")
    response = await read_response(reader)
    assert response.json() == {
        "ok": True,
        "data": {"path": "/upload", "query": "", "headers": 3, "body": 5, "raw": True},
    }
    writer.close()


async def test_app_exception_gets_500(strict_port: int) -> None:
    response, closed = await request(strict_port, get("/boom"))
    assert response.status == 500
    assert response.body == b"Internal Server Error"
    assert closed


async def test_websocket_upgrade_still_works_and_escapes_the_head_timeout(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    writer.write(
        get(
            "/ws",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version: 13",
        )
    )
    response = await read_response(reader, head_only=True)
    assert response.status == 101
    assert response.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    # Longer than header_timeout (1 s): the upgraded connection is no longer the head sweep's business.
    await asyncio.sleep(1.6)
    payload = b"hi"
    mask = b"\x01\x02\x03\x04"
    writer.write(
        b"\x81" + bytes([0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    )
    frame = await asyncio.wait_for(reader.readexactly(2 + len(b"echo:hi")), 5)
    assert frame == b"\x81\x07echo:hi"
    writer.close()


# -- handler tasks and their context; keep-alive by the sweep ------------------------------------------------


async def test_a_handler_never_sees_a_context_variable_set_by_an_earlier_request(strict_port: int) -> None:
    # Each handler runs in its own copy of the connection's context, whether or not it suspends.
    reader, writer = await connect(strict_port)
    for path in ("/ctx-a", "/ctx-await-b", "/ctx-c", "/ctx-await-d"):
        writer.write(get(path))
        response = await read_response(reader)
        assert response.status == 200
        assert response.body == f"unset {path}".encode()
    writer.close()


async def test_a_handler_runs_in_a_task_from_its_first_line(strict_port: int) -> None:
    # asyncio.timeout() and asyncio.current_task() before any await: both need the handler to be a task.
    reader, writer = await connect(strict_port)
    for _ in range(3):
        writer.write(get("/task"))
        response = await read_response(reader)
        assert (response.status, response.body) == (200, b"task")
    writer.close()


async def test_a_timeout_entered_before_the_first_await_fires_and_the_connection_goes_on(
    strict_port: int,
) -> None:
    reader, writer = await connect(strict_port)
    for _ in range(3):
        writer.write(get("/timeout-fires"))
        response = await read_response(reader)
        assert (response.status, response.body) == (200, b"timed out 0")
        writer.write(get("/task"))
        assert (await read_response(reader)).body == b"task"
    writer.close()


async def test_pipelined_requests_that_suspend_are_answered_in_order(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    paths = ["/ctx-await-1", "/ctx-2", "/ctx-await-3", "/n4"]
    writer.write(b"".join(get(p) for p in paths))
    bodies = [(await read_response(reader)).body for _ in paths]
    assert bodies[:3] == [b"unset /ctx-await-1", b"unset /ctx-2", b"unset /ctx-await-3"]
    assert b'"path":"/n4"' in bodies[3]
    writer.close()


async def test_a_handler_failing_after_it_suspended_gets_the_500_and_the_close(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    writer.write(get("/boom-after-await"))
    response = await read_response(reader)
    assert response.status == 500
    assert response.header("connection") == "close"
    assert await at_eof(reader)
    writer.close()


async def test_an_idle_keep_alive_connection_is_closed_after_the_timeout(keep_alive_port: int) -> None:
    # keep_alive_timeout 1 s; the sweep runs every 0.25 s then, so the close comes within [1.0, 1.5] s
    # after the response (plus scheduling slack).
    reader, writer = await connect(keep_alive_port)
    writer.write(get("/one"))
    assert (await read_response(reader)).status == 200
    answered = time.monotonic()
    assert not await at_eof(reader, 0.8)
    assert await at_eof(reader, 2.0)
    assert 0.95 <= time.monotonic() - answered <= 2.2
    writer.close()


async def test_a_busy_keep_alive_connection_outlives_the_timeout(keep_alive_port: int) -> None:
    # A request every 0.4 s for 2.4 s: each response restarts the 1 s wait, so the connection stays.
    reader, writer = await connect(keep_alive_port)
    for i in range(6):
        writer.write(get(f"/busy{i}"))
        assert (await read_response(reader)).status == 200
        assert not await at_eof(reader, 0.4)
    writer.close()


async def test_a_head_in_progress_is_timed_by_the_head_clock_not_the_keep_alive_one(
    keep_alive_port: int,
) -> None:
    # Bytes of a next head arrive 0.5 s after the response, the rest 1.2 s later: past the 1 s keep-alive
    # wait, within the 30 s head timeout, so the request is answered.
    reader, writer = await connect(keep_alive_port)
    writer.write(get("/first"))
    assert (await read_response(reader)).status == 200
    await asyncio.sleep(0.5)
    raw = get("/second")
    writer.write(raw[:10])
    await asyncio.sleep(1.2)
    writer.write(raw[10:])
    response = await read_response(reader)
    assert response.status == 200
    assert b'"path":"/second"' in response.body
    writer.close()
