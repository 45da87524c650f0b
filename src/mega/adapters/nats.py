"""NATS connection adapter (`services.buses.<alias> = {"driver": "nats", ...}`), over nats-py.

Options: `url` (one URL or several, comma-separated) or `servers` (a list) or `host`/`port` (4222);
`user`, `password`, `token`, `name`; and `options`, a dict handed to `nats.connect()` as is, applied
first so `servers` and the credentials above always win. mega's defaults (applied before `options`):
reconnect forever (`max_reconnect_attempts=-1`), since a server process should outlive a NATS restart,
and readiness reports the outage meanwhile.

Connection events are logged (`mega.bus.nats`): disconnected and errors as warnings, reconnected with
the server. Every nats-py exception becomes a mega error in `translate` and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import nats.errors as nerr
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from mega._suggest import close_match
from mega.adapters.base import Adapter, redact_url
from mega.bus._errors import BusError, no_responders, request_timeout, unavailable

log = logging.getLogger("mega.bus.nats")

DEFAULT_PORT = 4222
_KEYS = ("driver", "url", "servers", "host", "port", "user", "password", "token", "name", "options")
_CALLBACKS = ("error_cb", "disconnected_cb", "reconnected_cb", "closed_cb")
_DEFAULTS: dict[str, Any] = {"max_reconnect_attempts": -1}

MsgCallback = Callable[[Msg], Awaitable[None]]


def translate(exc: BaseException, *, subject: str, op: str, timeout: float | None = None) -> BaseException:
    """The one place nats-py's exceptions become mega errors."""
    if isinstance(exc, BusError):
        return exc
    if isinstance(exc, nerr.NoRespondersError):
        return no_responders(subject)
    if op == "request" and isinstance(exc, TimeoutError) and timeout is not None:
        return request_timeout(subject, timeout)  # nats.errors.TimeoutError is an asyncio.TimeoutError
    if isinstance(exc, nerr.MaxPayloadError):
        return BusError("bus.payload_too_large", f"{op}(\"{subject}\"): the message is larger than the "
                        "server's max_payload", details={"subject": subject}, status=500,
                        hint="send a reference (an id, a URL) instead of the data, or raise max_payload")
    if isinstance(exc, nerr.BadSubjectError | nerr.BadHeaderError):
        return BusError("bus.invalid_subject", f"{op}(\"{subject}\"): {type(exc).__name__}",
                        details={"subject": subject}, status=500)
    if isinstance(exc, nerr.OutboundBufferLimitError):
        return unavailable(f"{op}(\"{subject}\"): NATS is unreachable and the reconnect buffer is full",
                           subject=subject, cause=exc)
    if isinstance(exc, nerr.ConnectionClosedError | nerr.ConnectionDrainingError):
        return unavailable(f"{op}(\"{subject}\"): the NATS connection is closed", subject=subject, cause=exc)
    return unavailable(f"{op}(\"{subject}\") failed: {type(exc).__name__}: {exc}", subject=subject,
                       cause=exc)


def _config_error(alias: str, message: str, **details: Any) -> BusError:
    return BusError("bus.invalid_config", f"services.buses.{alias}: {message}",
                    details={"alias": alias, **details}, status=500,
                    hint="see docs/reference/bus.md, 'Connecting to NATS'")


def _servers(alias: str, options: Mapping[str, Any]) -> list[str]:
    url, servers, host = options.get("url"), options.get("servers"), options.get("host")
    if sum(x is not None for x in (url, servers, host)) > 1:
        raise _config_error(alias, "give one of url, servers or host/port, not several")
    if url is not None:
        if not isinstance(url, str) or not url.strip():
            raise _config_error(alias, "url must be a non-empty string")
        return [u.strip() for u in url.split(",") if u.strip()]
    if servers is not None:
        listed = [servers] if isinstance(servers, str) else servers
        if not isinstance(listed, list | tuple) or not listed or not all(
                isinstance(s, str) and s for s in listed):
            raise _config_error(alias, "servers must be a URL or a non-empty list of URLs")
        return list(listed)
    port = options.get("port", DEFAULT_PORT)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise _config_error(alias, f"port must be an integer 1-65535, got {port!r}")
    return [f"nats://{host or '127.0.0.1'}:{port}"]


class NatsAdapter(Adapter):
    """One nats-py connection, shared by every app bus that names this alias."""

    family = "bus"
    driver = "nats"

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        super().__init__(alias, options)
        unknown = [k for k in options if k not in _KEYS]
        if unknown:
            near = close_match(unknown[0], _KEYS)
            raise _config_error(alias, f"unknown option {unknown[0]!r}"
                                + (f" (did you mean {near!r}?)" if near else ""),
                                known=list(_KEYS[1:]))
        passthrough = options.get("options") or {}
        if not isinstance(passthrough, dict):
            raise _config_error(alias, f"options must be a dict, got {type(passthrough).__name__}")
        self.servers = _servers(alias, options)
        # Order matters: defaults, then the passthrough, then what the entry names explicitly.
        kwargs: dict[str, Any] = {**_DEFAULTS, **passthrough, "servers": self.servers}
        for key in ("user", "password", "token", "name"):
            if options.get(key) is not None:
                kwargs[key] = options[key]
        self._user_callbacks = {k: kwargs.pop(k) for k in _CALLBACKS if k in kwargs}
        kwargs.update(error_cb=self._on_error, disconnected_cb=self._on_disconnected,
                      reconnected_cb=self._on_reconnected, closed_cb=self._on_closed)
        self._kwargs = kwargs
        self._closing = False
        self._last_error: BaseException | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._first_connect: asyncio.Task[None] | None = None
        self._first_failures = 0
        self.disconnects = 0
        self.dropped = 0  # messages nats-py dropped for slow subscriptions
        # Called after each reconnect (mega.ws.presence's cluster asks for roster snapshots then).
        self.on_reconnected: list[Callable[[], Awaitable[None]]] = []

    # -- lifecycle -------------------------------------------------------------------------

    async def _connect(self) -> Client:
        nc = Client()
        self._closing = False
        self._last_error = None
        # With reconnects unlimited nats-py would retry the first connect forever. Boot should fail
        # fast instead: stop after one failed attempt per server (see _on_error), or after the time
        # one pass may take.
        bound = float(self._kwargs.get("connect_timeout", 2)) * len(self.servers) + 1.0
        self._first_connect = asyncio.get_running_loop().create_task(nc.connect(**self._kwargs))
        self._first_failures = 0
        try:
            await asyncio.wait_for(self._first_connect, bound)
        except (Exception, asyncio.CancelledError) as exc:
            self._closing = True
            await nc.close()
            last = self._last_error
            gave_up = isinstance(exc, TimeoutError) or (
                isinstance(exc, asyncio.CancelledError) and self._first_failures >= len(self.servers))
            if gave_up and last is not None:
                raise ConnectionError(f"{type(last).__name__}: {last or 'no answer'}") from last
            raise
        finally:
            self._first_connect = None
        return nc

    async def _disconnect(self, native: Any) -> None:
        nc: Client = native
        self._closing = True
        if nc.is_closed:
            return
        try:
            if nc.is_connected:
                await nc.drain()  # lets subscriptions finish what they received, flushes publishes
        except (nerr.Error, OSError, TimeoutError) as exc:
            log.warning("bus '%s': drain failed (%s), closing", self.alias, exc)
        finally:
            if not nc.is_closed:
                await nc.close()

    def client(self, subject: str = "") -> Client:
        """The live nats-py client, or `bus.unavailable` (never `adapter.not_connected` mid-request)."""
        nc: Client | None = self._native
        if nc is None or nc.is_closed:
            raise unavailable(f"bus '{self.alias}' is not connected", subject=subject or None)
        return nc

    # -- messaging (bytes in, bytes out; the bus layer owns the codec) ----------------------

    async def publish(self, subject: str, data: bytes, *, reply: str | None = None,
                      headers: Mapping[str, str] | None = None) -> None:
        nc = self.client(subject)
        self.calls += 1
        try:
            await nc.publish(subject, data, reply or "", dict(headers) if headers else None)
        except Exception as exc:
            self.errors += 1
            raise translate(exc, subject=subject, op="publish") from exc

    async def request(self, subject: str, data: bytes, *, timeout: float,
                      headers: Mapping[str, str] | None = None) -> Msg:
        nc = self.client(subject)
        self.calls += 1
        try:
            return await nc.request(subject, data, timeout, headers=dict(headers) if headers else None)
        except Exception as exc:
            self.errors += 1
            raise translate(exc, subject=subject, op="request", timeout=timeout) from exc

    async def subscribe(self, subject: str, cb: MsgCallback, *, queue: str | None = None) -> Subscription:
        """Subscribe, then flush: when this returns the server routes the subject to us."""
        nc = self.client(subject)
        self.calls += 1
        try:
            sub = await nc.subscribe(subject, queue=queue or "", cb=cb)
            if nc.is_connected:  # while reconnecting, nats-py sends it on reconnect
                await nc.flush()
        except Exception as exc:
            self.errors += 1
            raise translate(exc, subject=subject, op="subscribe") from exc
        return sub

    async def unsubscribe(self, sub: Subscription, *, wait: bool = True) -> None:
        """Remove interest. `wait`: return after the callback in progress (if any) finished.

        Without `wait` (called from inside that callback) the work moves to a task: nats-py's own
        unsubscribe would cancel the running callback, and draining from inside it would wait on itself.
        """
        nc: Client | None = self._native
        if nc is None or nc.is_closed or nc.is_draining:
            return
        if wait:
            await self._end(nc, sub)
            return
        task = asyncio.get_running_loop().create_task(self._end(nc, sub))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _end(self, nc: Client, sub: Subscription) -> None:
        try:
            if nc.is_connected:
                await sub.drain()  # type: ignore[no-untyped-call]
            else:
                await sub.unsubscribe()
        except (nerr.Error, OSError, TimeoutError) as exc:
            log.debug("bus '%s': unsubscribe %s: %s", self.alias, sub.subject, exc)
            with contextlib.suppress(nerr.Error, OSError):
                await sub.unsubscribe()

    async def flush(self, timeout: float = 10.0) -> None:
        nc = self.client()
        try:
            await nc.flush(timeout)  # type: ignore[arg-type]
        except Exception as exc:
            raise translate(exc, subject="", op="flush") from exc

    # -- connection events -----------------------------------------------------------------

    async def _on_error(self, exc: Exception) -> None:
        if isinstance(exc, nerr.SlowConsumerError):  # one call per dropped message: count, log sparingly
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 10_000 == 0:
                log.warning("bus '%s': slow consumer on %s, dropping messages (%d so far)", self.alias,
                            exc.subject, self.dropped, extra={"alias": self.alias, "subject": exc.subject})
            return
        self._last_error = exc
        first = self._first_connect
        if first is not None:
            self._first_failures += 1
            if self._first_failures >= len(self.servers):
                first.cancel()  # every server refused once: fail boot now rather than retry
            return
        if not self._closing:
            log.warning("bus '%s': NATS error: %s: %s", self.alias, type(exc).__name__, exc,
                        extra={"alias": self.alias})
        await self._chain("error_cb", exc)

    async def _on_disconnected(self) -> None:
        if not self._closing:
            self.disconnects += 1
            log.warning("bus '%s': disconnected from NATS (%s), reconnecting", self.alias, self.target(),
                        extra={"alias": self.alias})
        await self._chain("disconnected_cb")

    async def _on_reconnected(self) -> None:
        log.warning("bus '%s': reconnected to NATS %s", self.alias, self._server() or self.target(),
                    extra={"alias": self.alias})
        for listener in list(self.on_reconnected):
            try:
                await listener()
            except Exception:
                log.exception("bus '%s': a reconnect listener failed", self.alias)
        await self._chain("reconnected_cb")

    async def _on_closed(self) -> None:
        if not self._closing:
            log.error("bus '%s': NATS connection closed for good (%s)", self.alias, self._last_error,
                      extra={"alias": self.alias})
        await self._chain("closed_cb")

    async def _chain(self, name: str, *args: Any) -> None:
        user = self._user_callbacks.get(name)
        if user is not None:
            try:
                await user(*args)
            except Exception:
                log.exception("bus '%s': your %s failed", self.alias, name)

    # -- observability ---------------------------------------------------------------------

    def target(self) -> str:
        return ",".join(redact_url(s) for s in self.servers)

    def _server(self) -> str | None:
        nc: Client | None = self._native
        url = nc.connected_url if nc is not None else None
        return redact_url(url.geturl()) if url is not None else None

    def state(self) -> str:
        nc: Client | None = self._native
        if nc is None or nc.is_closed:
            return "closed"
        if nc.is_connected:
            return "connected"
        if nc.is_reconnecting:
            return "reconnecting"
        if nc.is_draining:
            return "draining"
        return "connecting"

    def stats(self) -> dict[str, Any]:
        out = super().stats()
        nc: Client | None = self._native
        counts = nc.stats if nc is not None else {}
        out.update(server=self._server(), state=self.state(), disconnects=self.disconnects,
                   slow_consumer_drops=self.dropped,
                   reconnects=counts.get("reconnects", 0), in_msgs=counts.get("in_msgs", 0),
                   out_msgs=counts.get("out_msgs", 0), in_bytes=counts.get("in_bytes", 0),
                   out_bytes=counts.get("out_bytes", 0))
        return out

    async def health(self) -> dict[str, Any]:
        """Ready while connected and the server answers a ping; the state and server otherwise."""
        state = self.state()
        if state != "connected":
            return {"ok": False, "reason": f"nats {state}", "state": state, "target": self.target()}
        nc = self.client()
        try:
            rtt = await nc.rtt(2)
        except (nerr.Error, TimeoutError) as exc:
            return {"ok": False, "reason": f"nats ping failed: {type(exc).__name__}", "state": state}
        return {"ok": True, "state": state, "server": self._server(), "rtt_ms": round(rtt * 1000, 3)}
