"""ASP on WebSockets: on a namespace `asp.websocket.namespaces` lists, every text frame either way is
`E:` + base64url (no padding) of

    timestamp (8 bytes, big-endian milliseconds) | nonce (12) | AES-256-GCM ciphertext | tag (16)

with keys HKDF(secret, "mega-asp/1 ws request|response") and associated data
"mega-asp/1 ws <direction>\\n<namespace>\\n<timestamp>". A client frame is checked in this order:

    signal    starts with "E:"                              else asp.signal
    decode    base64url, long enough                        else asp.decrypt_failed
    drift     timestamp within `asp.drift` of the server    else asp.drift
    decrypt   opens under a request key                     else asp.decrypt_failed
    replay    the nonce was not used before                 else asp.replay

A refusal closes the socket with 1008 and the code as reason. Channels see plain envelopes.
"""

from __future__ import annotations

import binascii
import logging
import os
import struct
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson

from mega.asp._replay import ReplayCache
from mega.asp._wire import NONCE_SIZE, TAG_SIZE, Keys, b64
from mega.errors import MegaError
from mega.http._wire import request_id
from mega.security import rejections

__all__ = ["PREFIX", "WsAsp", "WsKeys", "ws_decrypt", "ws_encrypt"]

PREFIX = "E:"
_STAMP = struct.Struct(">Q")
_HEAD = _STAMP.size + NONCE_SIZE
_MIN = _HEAD + TAG_SIZE
log = logging.getLogger("mega.asp")

_REASONS = {
    "asp.signal": (400, "a frame on this namespace must be ASP-encrypted (E:...)"),
    "asp.decrypt_failed": (400, "the frame could not be decrypted"),
    "asp.drift": (401, "the frame's timestamp is too far from the server clock"),
    "asp.replay": (401, "this frame was already received (its nonce was used)"),
}


def _error(code: str) -> MegaError:
    status, message = _REASONS[code]
    return MegaError(code, message, status=status, hint="encrypt each frame once with mega.asp.ws_encrypt "
                     "or the browser client's AspSocket, with a current secret and clock")


def _aad(direction: str, ns: str, stamp: int) -> bytes:
    return f"mega-asp/1 ws {direction}\n{ns}\n{stamp}".encode()


def _unb64(text: str) -> bytes | None:
    raw = text.encode("latin-1", "replace")
    if not raw.isascii() or len(raw) % 4 == 1:
        return None
    try:
        decoded = binascii.a2b_base64(raw.translate(_FROM_URL) + b"=" * (-len(raw) % 4), strict_mode=True)
    except (binascii.Error, ValueError):
        return None
    return decoded if b64(decoded).encode("ascii") == raw else None


_FROM_URL = bytes.maketrans(b"-_+/", b"+/!!")


class WsKeys:
    """Both directions' keys for one list of secrets (derived once)."""

    __slots__ = ("request", "response")

    def __init__(self, secrets: Sequence[str]) -> None:
        self.request = Keys(tuple(secrets), "request", "ws")
        self.response = Keys(tuple(secrets), "response", "ws")

    def keys(self, direction: str) -> Keys:
        return self.request if direction == "request" else self.response

    def seal(self, text: str | bytes, *, ns: str, direction: str, timestamp: int | None = None,
             nonce: bytes | None = None) -> str:
        stamp = int(time.time() * 1000) if timestamp is None else timestamp
        raw = text.encode("utf-8") if isinstance(text, str) else text
        used, ciphertext, tag = self.keys(direction).seal(raw, _aad(direction, ns, stamp),
                                                          nonce or os.urandom(NONCE_SIZE))
        return PREFIX + b64(_STAMP.pack(stamp) + used + ciphertext + tag)

    def parse(self, frame: str) -> tuple[int, bytes, bytes, bytes]:
        """(timestamp, nonce, ciphertext, tag) or MegaError asp.signal / asp.decrypt_failed."""
        if not frame.startswith(PREFIX):
            raise _error("asp.signal")
        raw = _unb64(frame[len(PREFIX):])
        if raw is None or len(raw) < _MIN:
            raise _error("asp.decrypt_failed")
        return _STAMP.unpack_from(raw)[0], raw[_STAMP.size:_HEAD], raw[_HEAD:-TAG_SIZE], raw[-TAG_SIZE:]

    def open(self, frame: str, *, ns: str, direction: str,
             drift_ms: int | None = None) -> tuple[bytes, bytes]:
        """(plaintext, nonce) of a frame, or MegaError with the refusal's code (replay not checked)."""
        stamp, nonce, ciphertext, tag = self.parse(frame)
        if drift_ms is not None and abs(time.time() * 1000 - stamp) > drift_ms:
            raise _error("asp.drift")
        plain = self.keys(direction).open(nonce, ciphertext, tag, _aad(direction, ns, stamp))
        if plain is None:
            raise _error("asp.decrypt_failed")
        return plain, nonce


def _secrets(secret: str | Sequence[str]) -> tuple[str, ...]:
    return (secret,) if isinstance(secret, str) else tuple(secret)


def ws_encrypt(secret: str | Sequence[str], message: Any, *, ns: str, sender: str = "client",
               timestamp: int | None = None, nonce: bytes | None = None) -> str:
    """One `E:` frame of `message` (a dict is JSON-encoded; str/bytes are sent as they are) for the
    namespace `ns`, from `sender` "client" (to the server) or "server" (to a client)."""
    text = message if isinstance(message, str | bytes) else orjson.dumps(message)
    return WsKeys(_secrets(secret)).seal(text, ns=ns, direction=_direction(sender), timestamp=timestamp,
                                         nonce=nonce)


def ws_decrypt(secret: str | Sequence[str], frame: str, *, ns: str, sender: str = "server") -> Any:
    """The JSON value of an `E:` frame `sender` ("server" or "client") sent on `ns`; MegaError
    asp.signal / asp.decrypt_failed when it is not one, or does not open."""
    plain, _ = WsKeys(_secrets(secret)).open(frame, ns=ns, direction=_direction(sender))
    return orjson.loads(plain)


def _direction(sender: str) -> str:
    if sender not in ("client", "server"):
        raise MegaError("asp.invalid_sender", f"sender must be 'client' or 'server', got {sender!r}",
                        status=500, hint="'client' for frames to the server, 'server' for frames to a client")
    return "request" if sender == "client" else "response"


class WsAsp:
    """One namespace's ASP: wraps a connection's ASGI receive and send (built once per route)."""

    def __init__(self, keys: WsKeys, *, ns: str, drift: float, replay: ReplayCache, app: str = "",
                 span_hooks: Sequence[Callable[[str, str, str], None]] = ()) -> None:
        self.keys = keys
        self.ns = ns
        self.drift_ms = int(drift * 1000)
        self.replay = replay
        self.app = app
        self.span_hooks = tuple(span_hooks)

    def wrap(self, scope: dict[str, Any], receive: Any, send: Any) -> tuple[Any, Any]:
        keys, ns, drift_ms, replay = self.keys, self.ns, self.drift_ms, self.replay

        async def sealing_send(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.send" and message.get("text") is not None:
                message = {"type": "websocket.send", "text": keys.seal(message["text"], ns=ns,
                                                                         direction="response")}
            await send(message)

        async def opening_receive() -> dict[str, Any]:
            message: dict[str, Any] = await receive()
            if message["type"] != "websocket.receive" or message.get("text") is None:
                return message  # a binary frame is refused by the channel itself (1003)
            try:
                plain, nonce = keys.open(message["text"], ns=ns, direction="request", drift_ms=drift_ms)
                if not await replay.first_use(nonce):
                    raise _error("asp.replay")
            except MegaError as exc:
                await self._refuse(scope, send, exc)
                return {"type": "websocket.disconnect", "code": 1008}
            return {"type": "websocket.receive", "text": plain.decode("utf-8", "replace")}

        return opening_receive, sealing_send

    async def _refuse(self, scope: dict[str, Any], send: Callable[[dict[str, Any]], Awaitable[None]],
                      exc: MegaError) -> None:
        if rejections.LISTENERS:
            rejections.report(exc, {**scope, "method": "GET"}, request_id(scope["headers"]))
        for hook in self.span_hooks:
            try:
                hook(self.app, self.ns, exc.code)
            except Exception:
                log.exception("ws rejection hook failed")
        try:
            await send({"type": "websocket.close", "code": 1008, "reason": exc.code})
        except Exception as err:  # the client is already gone
            log.debug("close 1008 not sent: %s", err)
