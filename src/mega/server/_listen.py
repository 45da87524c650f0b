"""The listening socket of `mega start`."""

from __future__ import annotations

import errno
import socket

from mega.errors import MegaError

__all__ = ["bind_socket"]


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket; a port in use fails here, never falls back to another port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise MegaError("server.port_in_use", f"port {port} on {host} is already in use",
                            hint="stop the other server, or choose another port with --port or PORT",
                            details={"host": host, "port": port}) from exc
        raise MegaError("server.bind_failed", f"cannot listen on {host}:{port}: {exc.strerror}",
                        details={"host": host, "port": port}) from exc
    sock.listen(2048)
    sock.setblocking(False)
    return sock
