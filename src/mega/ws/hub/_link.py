"""The bridge side of a hub link: connect, REGISTER (version fallback), heartbeat, resync, reconnect
with backoff; inbound BROADCAST/DIRECT/DISCONNECT go to a `LinkHandler`.

The first attempt runs in the background (`start` returns at once); a failure is a warning and the
link keeps reconnecting with mega's retry helper (exponential backoff, jitter). A 1008 refusal (bad
token, frame before REGISTER) is never retried. After each `register_ok` the link resyncs: a JOIN per
channel as `bridge:<id>#<channel>`, then one per session the handler reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from mega.resilience import FailedAttempt, retry
from mega.ws.hub._bridge_settings import BridgeSettings
from mega.ws.hub._compression import client_extensions
from mega.ws.hub._protocol import (
    CLOSE_AUTH,
    MAX_FRAME_BYTES,
    VERSIONS,
    FrameError,
    Type,
    decode,
    encode,
    highest_common,
)
from mega.ws.hub._settings import Compression

__all__ = ["HubLink", "LinkFailed", "LinkHandler", "LinkRefused"]

log = logging.getLogger("mega.ws.hub")


class LinkFailed(Exception):
    """One connection attempt failed (retryable)."""


class LinkRefused(Exception):
    """The hub refused this bridge for good (1008): never retried."""


class _Unsupported(LinkFailed):
    def __init__(self, supported: Any) -> None:
        super().__init__("hub.unsupported_version")
        self.supported = supported


class LinkHandler(Protocol):
    """What the link calls for messages from the hub, and reads to resync."""

    def on_broadcast(self, payload: Mapping[str, Any]) -> None: ...

    def on_direct(self, payload: Mapping[str, Any]) -> None: ...

    def on_disconnect(self, payload: Mapping[str, Any]) -> None: ...

    def resync_joins(self) -> Iterable[dict[str, Any]]:
        """JOIN payloads of every open local session (after the channel subscriptions)."""
        ...


class HubLink:
    """One app's link to the hub. `send` queues (only while registered) and never blocks."""

    def __init__(self, settings: BridgeSettings, handler: LinkHandler, *, instance_id: str,
                 compression: Compression | None = None, subscriptions: Iterable[str] = (),
                 versions: tuple[int, ...] = VERSIONS) -> None:
        self.settings = settings
        self.handler = handler
        self.instance_id = instance_id
        self.compression = compression or Compression()
        self.subscriptions = tuple(dict.fromkeys([*settings.channels, *subscriptions]))
        self.versions = versions
        self.version = max(versions)
        self.registered = False
        self.heartbeat = 25.0
        self.refused: str | None = None  # the reason of a 1008 refusal: the link stopped for good
        self.registrations = 0  # register_ok count (the first, then each reconnect)
        self.attempts = 0  # connection attempts made
        self.last_close: int | None = None  # the close code of the last registered connection
        self.on_registered: list[Callable[[], None]] = []  # after each register_ok (first, reconnects)
        self.on_gave_up: list[Callable[[], None]] = []  # retries exhausted, or refused for good
        self._ws: ClientConnection | None = None
        self._outbox: asyncio.Queue[str] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._roster: asyncio.Future[list[dict[str, Any]]] | None = None

    @property
    def open(self) -> bool:
        return self._ws is not None

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        """Begin connecting in the background; returns at once."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"hub-link:{self.name}")

    @property
    def name(self) -> str:
        return self.settings.bridge_id

    async def stop(self) -> None:
        """End the link (idempotent): a pending backoff ends, the socket closes normally."""
        self._stopping = True
        self.registered = False
        task, self._task = self._task, None
        ws = self._ws
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(1001, "bridge stopping"), 2)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        first = True
        while not self._stopping:
            try:
                if first:
                    await self._attempt()
                else:
                    done: bool = await retry(self._attempt, retries=self.settings.retry.retries,
                                             min_timeout=self.settings.retry.min_timeout,
                                             max_timeout=self.settings.retry.max_timeout, retry_on=LinkFailed,
                                             on_failed_attempt=self._failed)
                    if not done:
                        raise LinkFailed("not registered")
            except LinkRefused as exc:
                self.refused = str(exc)
                log.error("hub link %s refused by %s (%s): not retrying; check MEGA_WSHUB_TOKEN",
                          self.name, self.settings.url, exc)
                self._gave_up()
                return
            except LinkFailed as exc:
                if first:
                    log.warning("hub link %s: %s unreachable (%s); reconnecting in the background",
                                self.name, self.settings.url, exc)
                    first = False
                    continue
                log.error("hub link %s gave up after %d retries (%s)", self.name,
                          self.settings.retry.retries, exc)
                self._gave_up()
                return
            first = False
            code = await self._serve()
            if code == CLOSE_AUTH:
                self._gave_up()
                return
            if not self._stopping:
                log.warning("hub link %s lost (close %s); reconnecting", self.name, code)

    def _gave_up(self) -> None:
        for callback in self.on_gave_up:
            try:
                callback()
            except Exception:
                log.exception("hub link %s: on_gave_up callback failed", self.name)

    def _failed(self, attempt: FailedAttempt) -> None:
        log.info("hub link %s: attempt %d failed (%s); next in %.1fs", self.name, attempt.attempt,
                 attempt.error, attempt.delay or 0)

    # -- connecting ----------------------------------------------------------------------------

    async def _attempt(self) -> bool:
        """Connect and REGISTER; one immediate retry at the highest common version if refused."""
        try:
            await self._connect(self.version)
            return True
        except _Unsupported as exc:
            common = highest_common(self.versions, exc.supported)
            if common is None or common == self.version:
                raise LinkRefused(f"no common protocol version (hub speaks {exc.supported})") from exc
            log.warning("hub link %s: hub does not speak v%d; using v%d", self.name, self.version, common)
            self.version = common
            await self._connect(common)
            return True

    async def _connect(self, version: int) -> None:
        self.attempts += 1
        headers = {"Authorization": f"Bearer {self.settings.token}"}
        timeout = self.settings.connect_timeout
        try:
            ws = await connect(self.settings.url, additional_headers=headers, open_timeout=timeout,
                               max_size=MAX_FRAME_BYTES, ping_interval=None, compression=None,
                               extensions=client_extensions(self.compression))
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            raise LinkFailed(f"{type(exc).__name__}: {exc}") from exc
        try:
            register: dict[str, Any] = {"bridge_id": self.name}
            if version >= 2:
                register.update(protocol_version=version, instance_id=self.instance_id, capabilities=[])
            await ws.send(encode(Type.REGISTER, register))
            type_, payload = decode(await asyncio.wait_for(ws.recv(), timeout))
        except ConnectionClosed as exc:
            await ws.close()
            code = exc.rcvd.code if exc.rcvd else None
            reason = exc.rcvd.reason if exc.rcvd else ""
            if code == CLOSE_AUTH:
                raise LinkRefused(reason or "closed with 1008") from exc
            raise LinkFailed(f"closed with {code} {reason}".strip()) from exc
        except (TimeoutError, FrameError, OSError) as exc:
            await ws.close()
            raise LinkFailed(f"no register_ok: {exc or type(exc).__name__}") from exc
        if type_ == Type.REGISTER_ERROR:
            await ws.close()
            if payload.get("code") == "hub.unsupported_version":
                raise _Unsupported(payload.get("supported"))
            raise LinkFailed(f"{payload.get('code')}: {payload.get('message')}")
        if type_ != Type.REGISTER_OK:
            await ws.close()
            raise LinkFailed(f"expected register_ok, got {type_!r}")
        heartbeat = payload.get("heartbeat")
        if isinstance(heartbeat, int | float) and heartbeat > 0:
            self.heartbeat = float(heartbeat)
        self._ws = ws
        self._outbox = asyncio.Queue()
        self.registered = True
        self.registrations += 1
        log.info("hub link %s registered with %s (v%d)", self.name, self.settings.url, version)
        self._resync()
        for callback in self.on_registered:
            try:
                callback()
            except Exception:
                log.exception("hub link %s: on_registered callback failed", self.name)

    def _resync(self) -> None:
        """The hub forgot this link's sessions when it dropped: JOIN the channels, then every session."""
        user = f"bridge:{self.name}"
        for channel in self.subscriptions:
            self.send(Type.JOIN, {"session_id": f"{user}#{channel}", "user_id": user, "channels": [channel]})
        for join in self.handler.resync_joins():
            self.send(Type.JOIN, join)

    # -- the connection ------------------------------------------------------------------------

    async def _serve(self) -> int | None:
        ws = self._ws
        assert ws is not None
        writer = asyncio.ensure_future(self._write(ws))
        beat = asyncio.ensure_future(self._beat())
        code: int | None = None
        try:
            async for data in ws:
                self._receive(data)
        except ConnectionClosed:
            pass
        finally:
            self.registered = False
            self._ws = None
            writer.cancel()
            beat.cancel()
            await asyncio.gather(writer, beat, return_exceptions=True)
            if ws.close_code is not None:
                code = ws.close_code
            self.last_close = code
            if self._roster is not None and not self._roster.done():
                self._roster.set_exception(LinkFailed("link closed"))
        if code == CLOSE_AUTH:
            self.refused = ws.close_reason or "closed with 1008"
            log.error("hub link %s closed by the hub with 1008 (%s): not reconnecting", self.name,
                      self.refused)
        return code

    async def _write(self, ws: ClientConnection) -> None:
        while True:
            text = await self._outbox.get()
            await ws.send(text)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            self.send(Type.HEARTBEAT, {})

    def _receive(self, data: str | bytes) -> None:
        try:
            type_, payload = decode(data)
        except FrameError as exc:
            log.warning("hub link %s: bad frame from the hub: %s", self.name, exc)
            return
        try:
            if type_ == Type.BROADCAST:
                self.handler.on_broadcast(payload)
            elif type_ == Type.DIRECT:
                self.handler.on_direct(payload)
            elif type_ == Type.DISCONNECT:
                self.handler.on_disconnect(payload)
            elif type_ == Type.ROSTER_OK:
                if self._roster is not None and not self._roster.done():
                    self._roster.set_result(list(payload.get("sessions") or []))
            elif type_ == Type.ERROR:
                log.warning("hub link %s: the hub answered %s: %s", self.name, payload.get("code"),
                            payload.get("message"))
            # JOIN, LEAVE, BULK_LEAVE, METADATA, HEARTBEAT: the hub's presence is not needed here
        except Exception:
            log.exception("hub link %s: handling %s failed", self.name, type_)

    # -- sending -------------------------------------------------------------------------------

    def send(self, type_: str, payload: dict[str, Any]) -> bool:
        """Queue a frame; False (dropped) while not registered: the next resync catches up."""
        if not self.registered:
            return False
        self._outbox.put_nowait(encode(type_, payload))
        return True

    async def roster(self, channel: str | None = None, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The hub's sessions (of `channel`): for tests and operators."""
        loop = asyncio.get_running_loop()
        self._roster = loop.create_future()
        if not self.send(Type.ROSTER, {"channel": channel} if channel else {}):
            raise LinkFailed("the link is not registered")
        return await asyncio.wait_for(self._roster, timeout)

    async def wait_registered(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.registered and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return self.registered
