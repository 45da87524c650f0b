"""`Bus`: the messaging API every driver offers (`ctx.bus`, `app.bus`), with one meaning everywhere.

    await bus.emit("order.created", {"id": 7})            # fire and forget
    off = await bus.on("order.*", handler)                 # every subscriber gets a copy
    await bus.on("mail.send", worker, queue="mailers")     # one member of the group gets each message
    total = await bus.request("price.quote", {"sku": 1})   # the responder's return value
    await off()                                            # unsubscribe
    await bus("events").emit("audit", {...})               # the same app over services.buses.events

The public half lives here (names and prefix, codec, requests, counters, closing) so the drivers only
move bytes: `_publish`, `_subscribe`, `_unsubscribe`, `_request`. Whatever the driver:

- `emit` returns once the message is handed to the transport; handlers run later, elsewhere.
- `await bus.on(...)` returns once the subscription is live: anything published after that, by anyone,
  reaches it. It returns a `Subscription`; `await sub()` ends it.
- `request` with nobody subscribed fails at once with `bus.no_responders` (503); with no answer in
  `timeout` seconds (default 30) with `bus.request_timeout` (504). If several subscribers answer,
  the first answer wins; a wildcard listener answers too (with its return value, None → null), so
  keep one responder (or one queue group) per request subject.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from mega.bus._errors import ERROR_HEADER, BusError, raise_error_reply, unavailable
from mega.bus._subjects import normalise_prefix, wire_subject
from mega.bus.codec import decode, encode
from mega.bus.subscription import Handler, Subscription

DEFAULT_REQUEST_TIMEOUT = 30.0

Reply = tuple[bytes, Mapping[str, str] | None]


def check_timeout(timeout: object, what: str = "timeout") -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise BusError("bus.invalid_timeout", f"{what} must be a positive number of seconds, got {timeout!r}",
                       details={"timeout": repr(timeout)}, status=500)
    return float(timeout)


class Bus(ABC):
    """The bus of one app: its prefix, its subscriptions, its counters, over one driver."""

    driver: ClassVar[str] = ""

    def __init__(self, *, prefix: str = "", request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
                 name: str = "bus") -> None:
        self.prefix = normalise_prefix(prefix)
        self.request_timeout = check_timeout(request_timeout, "request_timeout")
        self.name = name
        self.closed = False
        self._subs: dict[Subscription, None] = {}  # insertion-ordered set
        self._by_alias: Any = None  # set by the BusManager: alias -> this app's bus over it
        # Set when tracing is on (mega.observe.tracing): trace headers out, consumer spans in.
        self.tracer: Any = None
        # Set when metrics are on: observe(seconds, "ok" | "timeout" | "no_responders" | "error").
        self.observe: Callable[[float, str], None] | None = None
        # Counters (plain ints: they cost nothing on the hot path).
        self.published = 0
        self.received = 0
        self.requests = 0
        self.timeouts = 0
        self.no_responders = 0
        self.handler_errors = 0
        self.decode_errors = 0
        self.reply_errors = 0
        self.dropped = 0

    # -- public API --------------------------------------------------------------------------

    def __call__(self, alias: str | None = None) -> Bus:
        """This app's bus over the connection `services.buses.<alias>` (`ctx.bus('events')`), with
        the app's prefix and request timeout; no alias = this bus. Built once per alias."""
        if alias is None:
            return self
        if self._by_alias is None:
            raise BusError("bus.unknown_alias", f"the bus of {self.name} was not built by a project "
                           f"boot, so it has no services.buses to pick {alias!r} from",
                           details={"alias": alias}, status=500,
                           hint="use ctx.bus / get_app(name).bus after mega boots the project")
        bus: Bus = self._by_alias(alias)
        return bus

    async def emit(self, event: str, payload: Any = None) -> None:
        """Publish `payload` (JSON-encoded) on `prefix + event`."""
        subject = wire_subject(self.prefix, event)
        data = encode(payload)
        self._check_open(subject)
        await self._publish(subject, data, None, self.tracer.outgoing() if self.tracer is not None else None)
        self.published += 1

    async def emit_raw(self, event: str, data: bytes) -> None:
        """Publish bytes as they are (already-encoded JSON, or to test how subscribers take garbage)."""
        subject = wire_subject(self.prefix, event)
        self._check_open(subject)
        await self._publish(subject, bytes(data), None,
                            self.tracer.outgoing() if self.tracer is not None else None)
        self.published += 1

    async def on(self, event: str, handler: Handler, queue: str | None = None, *,
                 concurrency: int = 1) -> Subscription:
        """Subscribe `handler` to `event` (wildcards allowed); live when this returns."""
        subject = wire_subject(self.prefix, event, True)
        if queue is not None and (not isinstance(queue, str) or not queue or any(c.isspace() for c in queue)):
            raise BusError("bus.invalid_subject", f"queue group name must be a non-empty string without "
                           f"whitespace, got {queue!r}", details={"queue": repr(queue)}, status=500)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise BusError("bus.invalid_handler", f"concurrency must be an integer >= 1, got {concurrency!r}",
                           details={"concurrency": repr(concurrency)}, status=500)
        self._check_open(subject)
        sub = Subscription(self, event, subject, handler, queue, concurrency)
        await self._subscribe(sub)
        self._subs[sub] = None
        return sub

    async def request(self, event: str, payload: Any = None, timeout: float | None = None) -> Any:
        """Send `payload` to one responder of `prefix + event` and return what its handler returned."""
        subject = wire_subject(self.prefix, event)
        wait = self.request_timeout if timeout is None else check_timeout(timeout)
        data = encode(payload)
        self._check_open(subject)
        self.requests += 1
        observe = self.observe
        started = time.perf_counter() if observe is not None else 0.0
        try:
            if self.tracer is None:
                body, headers = await self._request(subject, data, wait)
            else:
                body, headers = await self._request(subject, data, wait, self.tracer.outgoing())
        except BusError as exc:
            if exc.code == "bus.request_timeout":
                self.timeouts += 1
            elif exc.code == "bus.no_responders":
                self.no_responders += 1
            if observe is not None:
                observe(time.perf_counter() - started, exc.code.partition(".")[2].removeprefix("request_"))
            raise
        if observe is not None:
            observe(time.perf_counter() - started, "ok")
        if headers is not None and ERROR_HEADER in headers:
            raise_error_reply(body, subject)
        return decode(body)

    async def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "driver": self.driver,
            "name": self.name,
            "prefix": self.prefix,
            "closed": self.closed,
            "subscriptions": len(self._subs),
            "published": self.published,
            "received": self.received,
            "requests": self.requests,
            "timeouts": self.timeouts,
            "no_responders": self.no_responders,
            "handler_errors": self.handler_errors,
            "decode_errors": self.decode_errors,
            "reply_errors": self.reply_errors,
            "dropped": self.dropped,
            "errors": self.handler_errors + self.decode_errors + self.reply_errors + self.dropped,
        }
        out.update(self._driver_stats())
        return out

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subs)

    async def close(self) -> None:
        """End every subscription (in-flight handlers finish first) and refuse further use."""
        if self.closed:
            return
        self.closed = True
        subs = list(self._subs)
        for sub in subs:
            await sub.unsubscribe()
        for sub in subs:
            await sub.wait_idle()

    # -- driver primitives -------------------------------------------------------------------

    @abstractmethod
    async def _publish(self, subject: str, data: bytes, reply: str | None,
                       headers: Mapping[str, str] | None) -> None:
        """Hand one message to the transport."""

    @abstractmethod
    async def _subscribe(self, sub: Subscription) -> None:
        """Start feeding `sub.deliver`, one message at a time, in order; set `sub.handle`.
        Return only once a message published by anyone afterwards will reach it."""

    @abstractmethod
    async def _unsubscribe(self, sub: Subscription, *, wait: bool) -> None:
        """Stop feeding `sub`; with `wait`, return after its handler call in progress finished."""

    @abstractmethod
    async def _request(self, subject: str, data: bytes, timeout: float,
                       headers: Mapping[str, str] | None = None) -> Reply:
        """Publish with a reply subject (and `headers`: trace context, when tracing is on); return the
        first reply (body, headers), or raise `bus.no_responders` / `bus.request_timeout`."""

    def _driver_stats(self) -> dict[str, Any]:
        return {}

    # -- helpers -----------------------------------------------------------------------------

    def _check_open(self, subject: str) -> None:
        if self.closed:
            raise unavailable(f"the bus of {self.name} is closed (shut down)", subject=subject)

    def _forget(self, sub: Subscription) -> None:
        self._subs.pop(sub, None)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} prefix={self.prefix!r} subs={len(self._subs)}>"
