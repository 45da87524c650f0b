"""Who the client is: the peer address, or X-Forwarded-For when the peer is a proxy we trust.

`server.trusted_proxies` in mega_config.py lists the proxies' addresses or networks:

    "server": {"trusted_proxies": ["10.0.0.0/8", "127.0.0.1"]}

With the list empty (the default) X-Forwarded-For is never believed: anyone can send it, and
believing it would let every client pick its own rate-limit bucket. With it set, the header is read
from the right (the entry the nearest proxy added) past every trusted address; the first untrusted
one is the client. A chain of only trusted addresses gives its leftmost. Behind a proxy that is not
listed, every client shares the proxy's address, so one rate-limit bucket: list it.

Each hop is parsed as an address (`ipaddress`), never used as written: a port is dropped (`1.2.3.4:5`,
`[2001:db8::1]:5`, `[2001:db8::1]`), IPv6 is written canonically (`2001:DB8:0::1` is `2001:db8::1`,
an IPv4-mapped `::ffff:1.2.3.4` is `1.2.3.4`), so one client cannot be several rate-limit buckets by
spelling its address differently. A hop that is not an address (`evil`, `1.2.3.4 x`, `unknown`)
where the client should be gives the peer (the proxy) instead: garbage never becomes a key or a log
line.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

from mega._digits import ascii_digits
from mega.errors import MegaError

__all__ = ["TrustedProxies"]

_XFF = b"x-forwarded-for"
_XFP = b"x-forwarded-proto"
_CACHE_MAX = 10_000  # a bound: X-Forwarded-For values are client-chosen
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """The configured proxies, and `client_ip(scope)` for a request."""

    __slots__ = ("_hops", "_known", "networks")

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
        self._hops: dict[str, str | None] = {}  # hop as written -> canonical address, or None

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
            if len(self._known) < _CACHE_MAX:
                self._known[address] = known
        return known

    def _address(self, hop: str) -> str | None:
        """The canonical address of one X-Forwarded-For entry, None when it is not one."""
        try:
            return self._hops[hop]
        except KeyError:
            pass
        address = canonical_ip(hop)
        if len(self._hops) < _CACHE_MAX:
            self._hops[hop] = address
        return address

    def client_ip(self, scope: dict[str, Any]) -> str | None:
        peer = scope.get("client")
        address: str | None = peer[0] if peer else None
        if not self.networks or address is None or not self.trusts(address):
            return address
        forwarded: list[str] = []
        for name, value in scope["headers"]:
            if name == _XFF:
                forwarded.extend(p.strip() for p in value.decode("latin-1").split(","))
        client = address
        for hop in reversed(forwarded):
            if not hop:
                continue
            parsed = self._address(hop)
            if parsed is None:  # garbage where the client should be: the peer is all we know
                return address
            client = parsed
            if not self.trusts(parsed):
                return parsed
        return client  # a chain of only trusted addresses: its leftmost

    def scheme(self, scope: dict[str, Any]) -> str:
        """"https" or "http" as the client used it: the server's own scheme, or X-Forwarded-Proto
        (the nearest proxy's entry) when the peer is a trusted proxy."""
        own: str = scope.get("scheme") or "http"
        peer = scope.get("client")
        if not self.networks or not peer or not self.trusts(peer[0]):
            return own
        proto = None
        for name, value in scope["headers"]:
            if name == _XFP:
                proto = value
        if proto is None:
            return own
        nearest = proto.decode("latin-1").rsplit(",", 1)[-1].strip().lower()
        return nearest if nearest in ("http", "https") else own


class Buckets:
    """The rate-limit key of a client address: an IPv4 address as it is, an IPv6 one as its network
    of `prefix` bits (`2001:db8:1:2::/64`), since one host is given a whole /64 to pick from."""

    __slots__ = ("_seen", "prefix")

    def __init__(self, prefix: int = 64) -> None:
        self.prefix = prefix
        self._seen: dict[str, str] = {}

    def of(self, address: str) -> str:
        if ":" not in address or self.prefix == 128:  # IPv4 (canonical: never a colon), or per address
            return address
        key = self._seen.get(address)
        if key is None:
            try:
                ip = ipaddress.IPv6Address(address)
            except ValueError:
                key = address
            else:  # a peer on a dual-stack socket may be IPv4-mapped: that is one IPv4 client
                key = str(ip.ipv4_mapped) if ip.ipv4_mapped is not None else \
                    str(ipaddress.IPv6Network((ip, self.prefix), strict=False))
            if len(self._seen) >= _CACHE_MAX:
                self._seen.clear()
            self._seen[address] = key
        return key


def canonical_ip(text: str) -> str | None:
    """`text` as a canonical IP address without a port (`[v6]:port`, `v4:port`), None when it is not
    one. An IPv4-mapped IPv6 address is given as the IPv4 one."""
    text = text.strip()
    if text.startswith("["):  # [v6] or [v6]:port
        end = text.find("]")
        if end < 0 or (end + 1 < len(text) and not _is_port(text[end + 1:])):
            return None
        text = text[1:end]
    elif text.count(":") == 1:  # v4:port (a bare v6 has two colons at least)
        text, _, port = text.partition(":")
        if not _is_port(":" + port):
            return None
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id is not None:  # fe80::1%eth0: a link-local zone means nothing past this host
            return None
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
    return str(ip)


def _is_port(text: str) -> bool:
    return len(text) > 1 and text[0] == ":" and ascii_digits(text[1:]) and \
        len(text) <= 6 and int(text[1:]) <= 65535


_current = TrustedProxies()


def configure(proxies: TrustedProxies) -> None:
    """Set the process-wide proxies (`server.trusted_proxies`; the boot's apps stage calls this)."""
    global _current
    _current = proxies


def client_ip(scope: dict[str, Any]) -> str | None:
    """The client's address for this request, by the process-wide trusted proxies."""
    proxies = _current
    if not proxies.networks:  # the default: the peer is the client (one call per request, not two)
        peer = scope.get("client")
        return peer[0] if peer else None
    return proxies.client_ip(scope)


def request_scheme(scope: dict[str, Any]) -> str:
    """The scheme the client used for this request, by the process-wide trusted proxies."""
    return _current.scheme(scope)
