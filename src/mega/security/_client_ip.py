"""Who the client is: the peer address, or X-Forwarded-For when the peer is a proxy we trust.

`server.trusted_proxies` in mega_config.py lists the proxies' addresses or networks:

    "server": {"trusted_proxies": ["10.0.0.0/8", "127.0.0.1"]}

With the list empty (the default) X-Forwarded-For is never believed: anyone can send it, and
believing it would let every client pick its own rate-limit bucket. With it set, the header is read
from the right (the entry the nearest proxy added) past every trusted address; the first untrusted
one is the client. A chain of only trusted addresses gives its leftmost. Behind a proxy that is not
listed, every client shares the proxy's address, so one rate-limit bucket: list it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from mega.errors import MegaError

__all__ = ["TrustedProxies"]

_XFF = b"x-forwarded-for"
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The configured proxies, and `client_ip(scope)` for a request."""

    __slots__ = ("_known", "networks")

    def __init__(self, entries: Sequence[str] = ()) -> None:
        networks: list[Network] = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(str(entry).strip(), strict=False))
            except ValueError as exc:
                raise MegaError("server.invalid_trusted_proxy", f"mega_config.py: server.trusted_proxies: "
                                f"{entry!r} is not an IP address or network", status=500,
                                details={"entry": repr(entry)},
                                hint="e.g. ['10.0.0.0/8', '127.0.0.1', '::1']") from exc
        self.networks = tuple(networks)
        self._known: dict[str, bool] = {}  # address -> trusted, so each peer is parsed once

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str) -> bool:
        known = self._known.get(address)
        if known is None:
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                known = False
            else:
                known = any(ip in net for net in self.networks)
            if len(self._known) < 10_000:  # a bound: X-Forwarded-For values are client-chosen
                self._known[address] = known
        return known

    def client_ip(self, scope: dict[str, Any]) -> str | None:
        peer = scope.get("client")
        address = peer[0] if peer else None
        if not self.networks or address is None or not self.trusts(address):
            return address
        forwarded: list[str] = []
        for name, value in scope["headers"]:
            if name == _XFF:
                forwarded.extend(p.strip() for p in value.decode("latin-1").split(","))
        for hop in reversed(forwarded):
            if hop and not self.trusts(hop):
                return hop
        return next((hop for hop in forwarded if hop), address)


_current = TrustedProxies()


def configure(proxies: TrustedProxies) -> None:
    """Set the process-wide proxies (`server.trusted_proxies`; the boot's apps stage calls this)."""
    global _current
    _current = proxies


def client_ip(scope: dict[str, Any]) -> str | None:
    """The client's address for this request, by the process-wide trusted proxies."""
    return _current.client_ip(scope)
