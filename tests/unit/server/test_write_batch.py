"""OrderedTransport over real sockets on both loops: a held response goes out at the next loop turn, and
nothing written, closed or aborted after it changes what the peer receives, or in which order."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mega.server._write_batch import OrderedTransport, batch_for

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Awaitable[None]], None]:
    def runner(coro: Awaitable[None]) -> None:
        with asyncio.Runner(loop_factory=LOOPS[request.param]) as r:
            r.run(coro)  # type: ignore[arg-type]
    return runner


class _Accept(asyncio.Protocol):
    def __init__(self, made: asyncio.Future[asyncio.Transport]) -> None:
        self.made = made

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.made.set_result(transport)  # type: ignore[arg-type]


async def _server_side(ssl_ctx: ssl.SSLContext | None = None) -> tuple[asyncio.Server, int,
                                                                        asyncio.Future[asyncio.Transport]]:
    loop = asyncio.get_running_loop()
    made: asyncio.Future[asyncio.Transport] = loop.create_future()
    server = await loop.create_server(lambda: _Accept(made), "127.0.0.1", 0, ssl=ssl_ctx)
    return server, server.sockets[0].getsockname()[1], made


async def _read_all(sock: socket.socket) -> bytes:
    loop = asyncio.get_running_loop()
    got = b""
    while chunk := await loop.sock_recv(sock, 65536):
        got += chunk
    return got


def _raw_client(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def _connection() -> AsyncIterator[tuple[socket.socket, OrderedTransport]]:
    """A raw client socket and the server side's transport, wrapped; both closed at the end."""
    server, port, made = await _server_side()
    sock = _raw_client(port)
    try:
        yield sock, OrderedTransport(await made, batch_for(asyncio.get_running_loop()))
    finally:
        sock.close()
        server.close()


def test_a_held_response_waits_for_the_next_turn_and_keeps_its_place(run: Callable[..., None]) -> None:
    async def main() -> None:
        async with _connection() as (sock, ordered):
            ordered.write_later(b"one ")
            ordered.write_later(b"two ")
            with pytest.raises(BlockingIOError):  # held: nothing on the wire within this turn
                sock.recv(100)
            await asyncio.sleep(0)
            await asyncio.sleep(0.05)
            assert sock.recv(100) == b"one two "
            ordered.write_later(b"three ")
            ordered.write(b"four ")  # a plain write never overtakes what is held
            ordered.write_later(b"five")
            ordered.close()  # nor does a close
            assert await _read_all(sock) == b"three four five"
    run(main())


def test_abort_drops_what_is_held(run: Callable[..., None]) -> None:
    async def main() -> None:
        async with _connection() as (sock, ordered):
            ordered.write_later(b"never")
            ordered.abort()
            with contextlib.suppress(ConnectionResetError):  # an abort may reset: the held bytes never arrive
                assert await _read_all(sock) == b""
    run(main())


def test_write_eof_and_buffer_size_write_what_is_held_first(run: Callable[..., None]) -> None:
    async def main() -> None:
        async with _connection() as (sock, ordered):
            ordered.write_later(b"held")
            assert ordered.get_write_buffer_size() == 0  # sent: nothing left to count
            ordered.write_eof()
            assert await _read_all(sock) == b"held"
            ordered.close()
    run(main())


def test_responses_held_on_many_connections_all_arrive(run: Callable[..., None]) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Accept(pending.pop(0)), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        pending: list[asyncio.Future[asyncio.Transport]] = [loop.create_future() for _ in range(20)]
        futures = list(pending)
        socks = [_raw_client(port) for _ in range(20)]
        transports = [OrderedTransport(await f, batch_for(loop)) for f in futures]
        for i, t in enumerate(transports):
            t.write_later(b"response %d" % i)
        for t in transports:
            t.close()
        bodies = sorted([await _read_all(s) for s in socks])
        assert bodies == sorted(b"response %d" % i for i in range(20))
        for s in socks:
            s.close()
        server.close()
    run(main())


def _tls_contexts(tmp: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .sign(key, hashes.SHA256()))
    (tmp / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                    serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
    (tmp / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(tmp / "cert.pem", tmp / "key.pem")
    client_ctx = ssl.create_default_context(cafile=str(tmp / "cert.pem"))
    client_ctx.check_hostname = False
    return server_ctx, client_ctx


def test_over_tls_a_response_is_written_through_the_transport(run: Callable[..., None],
                                                               tmp_path: Path) -> None:
    # The socket carries TLS records: the plaintext must never be written to it directly.
    server_ctx, client_ctx = _tls_contexts(tmp_path)

    async def main() -> None:
        server, port, made = await _server_side(server_ctx)
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_ctx)
        ordered = OrderedTransport(await made, batch_for(asyncio.get_running_loop()))
        ordered.write_later(b"private")
        ordered.write_later(b" reply")
        assert await asyncio.wait_for(reader.readexactly(13), 5) == b"private reply"
        ordered.close()
        writer.close()
        server.close()
    run(main())
