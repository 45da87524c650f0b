"""Request-head limits of mega's uvicorn protocol, against a real server over raw sockets."""

from __future__ import annotations

import asyncio

import pytest
from server_wire import STRICT, at_eof, connect, get, read_response, request, trickle

pytestmark = pytest.mark.integration

LIMIT = int(STRICT["max_header_bytes"])
MAX_HEADERS = int(STRICT["max_headers"])


def head_of_size(size: int) -> bytes:
    """A GET head of exactly `size` bytes as sent (the unit max_header_bytes counts)."""
    bare = get("/", "X-Pad: ")
    head: bytes = get("/", "X-Pad: " + "p" * (size - len(bare)))
    assert len(head) == size
    return head


def error_of(body: object) -> dict[str, object]:
    assert isinstance(body, dict) and body["ok"] is False
    error = body["error"]
    assert isinstance(error, dict)
    return error


# -- slow heads -------------------------------------------------------------------------------------------


async def test_slow_head_is_disconnected_while_others_are_served(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    slow = asyncio.create_task(trickle(reader, writer, [b"GET / HTTP/1.1\r\n", b"X-Slow: 1\r\n"], 0.2))
    # Meanwhile, a normal request on another connection is answered at once.
    await asyncio.sleep(0.5)
    fast_reader, fast_writer = await connect(strict_port)
    fast_writer.write(get("/fast"))
    assert (await read_response(fast_reader)).status == 200
    fast_writer.close()
    assert not slow.done()

    outcome = await slow
    assert outcome.response is not None
    assert outcome.response.status == 408
    assert outcome.response.header("connection") == "close"
    assert error_of(outcome.response.json())["code"] == "http.request_timeout"
    # Deadline 1 s after the connection opened; the sweep runs every 0.5 s here.
    assert 0.9 <= outcome.closed_after <= 2.2, outcome
    assert outcome.lines_sent >= 5


async def test_silent_connection_is_closed(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    started = asyncio.get_running_loop().time()
    response = await read_response(reader)
    assert response.status == 408
    assert await at_eof(reader)
    assert 0.9 <= asyncio.get_running_loop().time() - started <= 2.2
    writer.close()


async def test_slow_second_head_times_out_from_its_first_byte(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    writer.write(get("/first"))
    assert (await read_response(reader)).status == 200
    # Idle time between requests belongs to uvicorn's keep-alive timeout (5 s), not to the head deadline.
    await asyncio.sleep(1.2)
    outcome = await trickle(reader, writer, [b"GET /second HTTP/1.1\r\n", b"X-Slow: 1\r\n"], 0.2)
    assert outcome.response is not None and outcome.response.status == 408
    assert 0.9 <= outcome.closed_after <= 2.2, outcome


async def test_bare_crlfs_after_a_response_do_not_hold_the_connection(strict_port: int) -> None:
    # llhttp skips CRLFs between messages: they cancel uvicorn's keep-alive timer without starting a head.
    reader, writer = await connect(strict_port)
    writer.write(get("/first"))
    assert (await read_response(reader)).status == 200
    outcome = await trickle(reader, writer, [b"\r\n"], 0.2)
    # Closed quietly: no request was started, so no 408 either (a client would read it as the answer to
    # its next request).
    assert outcome.response is None
    assert outcome.closed_after <= 3.0, outcome


# -- oversized heads --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "code", "limit"), [
    (["X-Big: " + "a" * 1_000_000], "http.headers_too_large", 65536),  # one megabyte header
    ([f"X-H{i}: v" for i in range(2000)], "http.too_many_headers", 100),  # two thousand headers
], ids=["one-megabyte-header", "two-thousand-headers"])
async def test_an_oversized_head_gets_431_and_close(default_port: int, headers: list[str], code: str,
                                                     limit: int) -> None:
    response, closed = await request(default_port, get("/", *headers))
    assert response.status == 431
    assert response.header("connection") == "close"
    assert response.header("content-type") == "application/json"
    error = error_of(response.json())
    assert error["code"] == code
    assert error["details"] == {"limit": limit}
    assert closed


async def test_one_megabyte_header_on_a_kept_alive_connection_gets_431(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    writer.write(get("/first"))
    assert (await read_response(reader)).status == 200
    writer.write(get("/second", "X-Big: " + "a" * 1_000_000))
    await writer.drain()
    response = await read_response(reader)
    assert response.status == 431
    assert error_of(response.json())["code"] == "http.headers_too_large"
    assert await at_eof(reader)
    writer.close()


async def test_head_exactly_at_the_byte_limit_passes(strict_port: int) -> None:
    response, closed = await request(strict_port, head_of_size(LIMIT))
    assert response.status == 200
    assert not closed
    response, closed = await request(strict_port, head_of_size(LIMIT + 1))
    assert response.status == 431
    assert error_of(response.json())["details"] == {"limit": LIMIT}
    assert closed


@pytest.mark.parametrize(("size", "status"), [(LIMIT, 200), (LIMIT + 1, 431)])
async def test_byte_limit_holds_for_a_head_split_over_reads(strict_port: int, size: int, status: int) -> None:
    head = head_of_size(size)
    reader, writer = await connect(strict_port)
    for part in (head[:3000], head[3000:6000], head[6000:]):
        writer.write(part)
        await writer.drain()
        await asyncio.sleep(0.05)
    response = await read_response(reader)
    assert response.status == status
    writer.close()


async def test_header_count_exactly_at_the_limit_passes(strict_port: int) -> None:
    at_limit = get("/", *(f"X-H{i}: v" for i in range(MAX_HEADERS - 1)))  # + Host
    response, closed = await request(strict_port, at_limit)
    assert response.status == 200
    assert response.json() == {
        "ok": True,
        "data": {"path": "/", "query": "", "headers": MAX_HEADERS, "body": 0, "raw": True},
    }
    assert not closed
    response, closed = await request(strict_port, get("/", *(f"X-H{i}: v" for i in range(MAX_HEADERS))))
    assert response.status == 431
    assert error_of(response.json())["code"] == "http.too_many_headers"
    assert closed


# -- length framing and malformed requests ----------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        ("Content-Length: 5", "Transfer-Encoding: chunked"),
        ("Transfer-Encoding: chunked", "Content-Length: 5"),
        ("Content-Length: 5", "Content-Length: 6"),
    ],
    ids=["cl-then-te", "te-then-cl", "two-content-lengths"],
)
async def test_conflicting_lengths_get_400_and_close(strict_port: int, headers: tuple[str, str]) -> None:
    response, closed = await request(strict_port, get("/", *headers, method="POST") + b"0\r\n\r\n")
    assert response.status == 400
    assert response.header("connection") == "close"
    assert error_of(response.json())["code"] == "http.conflicting_length"
    assert closed


async def test_malformed_request_gets_400_and_close(strict_port: int) -> None:
    response, closed = await request(strict_port, b"GET / HTTP/1.1\r\nBad Header\r\n\r\n")
    assert response.status == 400
    assert error_of(response.json())["code"] == "http.bad_request"
    assert closed


# -- bytes as received: exact counts when a read is fed in pieces ------------------------------------------


def padded_head(size: int, path: str = "/") -> bytes:
    """A GET head of exactly `size` bytes whose padding is spaces before one value character."""
    bare = get(path, "X-Pad:  v")
    head: bytes = get(path, "X-Pad: " + " " * (size - len(bare) + 1) + "v")
    assert len(head) == size
    return head


@pytest.mark.parametrize(("size", "status"), [(LIMIT, 200), (LIMIT + 1, 431)])
async def test_whitespace_padded_head_is_counted_exactly(strict_port: int, size: int, status: int) -> None:
    response, _ = await request(strict_port, padded_head(size))
    assert response.status == status


@pytest.mark.parametrize(("size", "status"), [(LIMIT, 200), (LIMIT + 1, 431)])
async def test_exact_count_when_the_blank_line_straddles_two_reads(strict_port: int, size: int,
                                                                   status: int) -> None:
    head = padded_head(size)
    reader, writer = await connect(strict_port)
    try:
        writer.write(head[:-3])  # "...v\r" then "\n\r\n" + a body in the next read
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.write(head[-3:])
        await writer.drain()
        response = await read_response(reader)
        assert response.status == status
    finally:
        writer.close()


async def test_many_pipelined_requests_in_one_large_read_are_all_answered(strict_port: int) -> None:
    reader, writer = await connect(strict_port)
    try:
        count = 2000  # ~40 KB in one write: far more than the 8 KiB head limit, every head small
        writer.write(b"".join(get(f"/p{i}") for i in range(count)))
        await writer.drain()
        for i in range(count):
            response = await read_response(reader)
            assert response.status == 200, (i, response)
            assert response.json()["data"]["path"] == f"/p{i}"  # type: ignore[index]
    finally:
        writer.close()


@pytest.mark.parametrize("body", [
    b"b" * 50_000,  # no blank line in the body: the next head shares a piece with the body's tail
    b"\r\n\r\n" * 12_500,  # blank lines everywhere: more pieces than are split
], ids=["plain-body", "blank-lines-body"])
@pytest.mark.parametrize("split", [None, 10_000], ids=["one-write", "body-spans-reads"])
async def test_a_head_pipelined_after_a_large_body_is_counted_alone(strict_port: int, body: bytes,
                                                                   split: int | None) -> None:
    # body-spans-reads: the body begins in one read and ends in the next, together with the next head;
    # that read is split where the body ends (known from its Content-Length), not only at blank lines.
    reader, writer = await connect(strict_port)
    try:
        put = get("/put", f"Content-Length: {len(body)}", method="PUT")
        if split is not None:
            writer.write(put + body[:split])
            await writer.drain()
            await asyncio.sleep(0.05)
            put, body_rest = b"", body[split:]
        else:
            body_rest = body
        writer.write(put + body_rest + padded_head(LIMIT, "/next"))
        await writer.drain()
        first = await read_response(reader)
        assert first.status == 200 and first.json()["data"]["body"] == len(body)  # type: ignore[index]
        second = await read_response(reader)
        assert second.status == 200 and second.json()["data"]["path"] == "/next"  # type: ignore[index]
    finally:
        writer.close()


async def test_a_large_chunked_upload_with_trailers_within_the_limit_passes(strict_port: int) -> None:
    chunks = b"".join(b"%x\r\n%s\r\n" % (5000, b"c" * 5000) for _ in range(40))
    trailers = b"".join(b"X-T%d: %s\r\n" % (i, b"t" * 100) for i in range(20))
    raw = get("/up", "Transfer-Encoding: chunked", method="POST") + chunks + b"0\r\n" + trailers + b"\r\n"
    response, closed = await request(strict_port, raw)
    assert response.status == 200
    assert response.json()["data"] == {  # trailer fields are dropped, never counted as headers
        "path": "/up", "query": "", "headers": 2, "body": 200_000, "raw": True,
    }
    assert not closed
