"""One `on()` registration: how each message reaches the handler, how a request is answered, how it ends.

Every driver hands messages to `Subscription.deliver` one at a time, in arrival order, and the rules
below are the same whatever the transport:

- the payload is decoded once; an undecodable message is logged with its subject and dropped (the
  subscription lives on);
- the handler is called as `handler(payload)` or `handler(payload, msg)` (chosen once from its
  signature), sync or async;
- a failing handler is logged with the subject and the next message is delivered as usual;
- if the message is a request, the handler's return value is the answer; if it raises, the requester
  gets an error reply (its MegaError, else `bus.handler_failed`);
- `concurrency=1` (default) runs one handler call at a time, in order; `concurrency=N` overlaps up to
  N calls (delivery waits while N are running).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mega._signature import positional
from mega.bus._errors import ERROR_HEADER, BusError, error_reply
from mega.bus.codec import CodecError, decode, encode

if TYPE_CHECKING:
    from mega.bus.contract import Bus

log = logging.getLogger("mega.bus")

Handler = Callable[..., Any]
"""`handler(payload)` or `handler(payload, msg)`, sync or async; for a request, its return value answers."""

_ERROR_HEADERS = {ERROR_HEADER: "1"}


@dataclass(frozen=True, slots=True)
class Message:
    """What a two-argument handler receives next to the payload."""

    event: str  # the subject as the app names it, without the bus prefix ("order.created")
    subject: str  # the subject on the wire ("web.order.created")
    reply: str | None  # where the answer goes when this is a request, else None
    headers: Mapping[str, str] | None
    data: bytes  # the raw payload


def _pass_message(handler: Handler) -> bool:
    """True for `(payload, msg)` handlers; refuses signatures that fit neither form."""
    shape = positional(handler)
    if shape is None:  # some builtins: assume (payload)
        return False
    takes = 2 if shape.star else shape.count  # (*args) takes both
    # A required keyword-only parameter can never be filled.
    if takes == 0 or shape.required > 2 or shape.keyword_required is not None:
        raise BusError("bus.invalid_handler", f"bus handler {_name(handler)} must take (payload) or "
                       f"(payload, msg), it takes {inspect.signature(handler)}",
                       details={"handler": _name(handler)}, status=500)
    return takes >= 2


def _name(handler: Handler) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


class Subscription:
    """Returned by `await bus.on(...)`; `await sub()` (or `await sub.unsubscribe()`) ends it."""

    def __init__(self, bus: Bus, event: str, subject: str, handler: Handler, queue: str | None,
                 concurrency: int) -> None:
        if not callable(handler):
            raise BusError("bus.invalid_handler", f"bus handler for {event!r} must be callable, got "
                           f"{type(handler).__name__}", details={"event": event}, status=500)
        self.bus = bus
        self.event = event
        self.subject = subject
        self.handler = handler
        self.queue = queue
        self.concurrency = concurrency
        self.pass_message = _pass_message(handler)
        self._is_async = inspect.iscoroutinefunction(handler)  # skips isawaitable() per message
        self.active = True
        self.handle: Any = None  # the driver's own subscription object
        self._running: asyncio.Task[Any] | None = None  # the task inside the handler (concurrency 1)
        self._slots = asyncio.Semaphore(concurrency) if concurrency > 1 else None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- delivery (called by the driver) ---------------------------------------------------

    async def deliver(self, subject: str, reply: str | None, data: bytes,
                      headers: Mapping[str, str] | None) -> None:
        if not self.active:  # unsubscribed: what was already queued is dropped
            return
        bus = self.bus
        bus.received += 1
        try:
            payload = decode(data)
        except CodecError as exc:
            bus.decode_errors += 1
            log.error("bus: dropped an undecodable message on %s: %s", subject, exc.message,
                      extra={"subject": subject})
            return
        if self._slots is None:
            self._running = asyncio.current_task()
            try:
                await self._call(payload, subject, reply, headers, data)
            finally:
                self._running = None
            return
        await self._slots.acquire()
        if not self.active:
            self._slots.release()
            return
        task = asyncio.get_running_loop().create_task(self._call(payload, subject, reply, headers, data))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        assert self._slots is not None
        self._slots.release()

    async def _call(self, payload: Any, subject: str, reply: str | None,
                    headers: Mapping[str, str] | None, data: bytes) -> None:
        tracer = self.bus.tracer
        if tracer is None:
            await self._handle(payload, subject, reply, headers, data)
        else:  # tracing on: the handler runs in a span that continues the sender's trace
            await tracer.consume(subject, headers, self._handle(payload, subject, reply, headers, data))

    async def _handle(self, payload: Any, subject: str, reply: str | None,
                      headers: Mapping[str, str] | None, data: bytes) -> None:
        answer_headers = None
        try:
            if self.pass_message:
                event = subject[len(self.bus.prefix):]
                result = self.handler(payload, Message(event, subject, reply, headers, data))
            else:
                result = self.handler(payload)
            if self._is_async or inspect.isawaitable(result):
                result = await result
            if not reply:
                return
            body = encode(result)
        except Exception as exc:
            self._failed(exc, subject)
            if not reply:
                return
            body, answer_headers = error_reply(exc, subject), _ERROR_HEADERS
        try:
            await self.bus._publish(reply, body, None, answer_headers)
        except Exception as exc:  # the requester will time out; say why here
            self.bus.reply_errors += 1
            log.warning("bus: could not answer a request on %s: %s", subject, exc,
                        extra={"subject": subject})

    def _failed(self, exc: Exception, subject: str) -> None:
        self.bus.handler_errors += 1
        if isinstance(exc, CodecError):
            log.error("bus: handler %s for %s returned a value that is not JSON: %s",
                      _name(self.handler), subject, exc.message, extra={"subject": subject})
        else:
            log.error("bus: handler %s for %s failed: %s: %s", _name(self.handler), subject,
                      type(exc).__name__, exc, exc_info=exc, extra={"subject": subject})

    # -- end ---------------------------------------------------------------------------------

    async def unsubscribe(self) -> None:
        """Stop delivery. A handler call in progress finishes (awaited, unless it is the caller);
        messages received but not yet handled are dropped. Calling it again does nothing."""
        if not self.active:
            return
        self.active = False
        self.bus._forget(self)
        me = asyncio.current_task()
        inside = me is not None and (me is self._running or me in self._tasks)
        await self.bus._unsubscribe(self, wait=not inside)

    async def __call__(self) -> None:
        await self.unsubscribe()

    async def wait_idle(self) -> None:
        """Wait for overlapping handler calls (concurrency > 1) still running, except the caller."""
        me = asyncio.current_task()
        pending = [t for t in self._tasks if t is not me]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def __repr__(self) -> str:
        queue = f" queue={self.queue!r}" if self.queue else ""
        state = "" if self.active else " (ended)"
        return f"<Subscription {self.subject!r}{queue} -> {_name(self.handler)}{state}>"
