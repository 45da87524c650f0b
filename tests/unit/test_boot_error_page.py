"""The 503 page `mega start --watch` serves while the project cannot boot."""

from __future__ import annotations

import socket
import threading

import pytest

from mega.cli._boot_error_page import _ErrorHandler, _Server


@pytest.mark.parametrize("length", ["²", "9" * 5000, "abc"])
def test_a_content_length_it_cannot_read_still_gets_the_503(length: str) -> None:
    class Handler(_ErrorHandler):
        payload = b'{"ok":false}'

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        with socket.create_connection(server.server_address[:2], timeout=5) as conn:
            conn.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n".encode())
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        assert answer.startswith(b"HTTP/1.0 503") and answer.endswith(b'{"ok":false}'), answer
    finally:
        server.shutdown()
        server.server_close()
