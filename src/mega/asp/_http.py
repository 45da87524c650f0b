"""ASP on HTTP: which routes it covers (decided at compile time) and the steps the compiled endpoint of
a covered route runs (mega.http._pipeline).

Every other route is compiled without them and pays nothing. Per request a covered endpoint checks, in
this order (cheapest and unauthenticated first), before anything else of the route runs:

    signal     x-mega-asp: 1                                     else 400 asp.signal
    timestamp  x-mega-asp-ts within `drift` of the server clock  else 401 asp.drift
    decrypt    nonce, tag and body open under a request key      else 400 asp.decrypt_failed
    replay     the nonce was not used before (replay cache)      else 401 asp.replay

then hands the plaintext to the rest of the route (the guard, validation, middleware, handler: it is
the request's body) and encrypts whatever it sends back (GCM keeps lengths, so the route's
Content-Length and header block stay as they are: three headers are added). Refusals before
decryption are sent in plain (the client may not hold the key); from a decrypted request on, every
response is encrypted, errors included.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag

from mega.asp._replay import CacheReplay, MemoryReplay, ReplayCache
from mega.asp._settings import AspSettings
from mega.asp._wire import (
    NONCE,
    NONCE_SIZE,
    SIGNAL,
    TAG,
    TAG_SIZE,
    TIMESTAMP,
    VERSION,
    Keys,
    b64_bytes,
    request_aad,
    response_aad,
    unb64,
)
from mega.errors import MegaError
from mega.http._wire import CL, CT, RAW_HEADERS, request_id

if TYPE_CHECKING:
    from mega.asp._ws import WsAsp, WsKeys
    from mega.cache.contract import Cache
    from mega.http._pipeline import Endpoint
    from mega.http.router import RouteDef

__all__ = ["SCRIPT_PATH", "AspError", "HttpAsp"]

SCRIPT_PATH = "/_mega/asp.js"
_TS_DIGITS = 16  # milliseconds since 1970 fit in 13 digits until the year 2286
_JS = b"text/javascript; charset=utf-8"

log = logging.getLogger("mega.asp")

# code -> (status, message, hint)
_REFUSALS: dict[str, tuple[int, str, str]] = {
    "asp.signal": (400, "this path takes ASP-encrypted requests only (header x-mega-asp: 1)",
                   "send it through mega.asp.Client or the browser client /_mega/asp.js"),
    "asp.drift": (401, "the request's x-mega-asp-ts timestamp is missing or too far from the server clock",
                  "send the current time in milliseconds; check the client's clock"),
    "asp.decrypt_failed": (400, "the request body could not be decrypted",
                           "encrypt with the current secret; the nonce, tag and body must be unchanged"),
    "asp.replay": (401, "this request was already received (its nonce was used)",
                   "send each request once; a retry needs a new nonce and timestamp"),
}


class AspError(MegaError):
    """An ASP refusal: `code` is one of asp.signal, asp.drift, asp.decrypt_failed, asp.replay."""

    def __init__(self, code: str) -> None:
        status, message, hint = _REFUSALS[code]
        super().__init__(code, message, hint=hint, status=status)


def covers(patterns: tuple[str, ...], route_path: str) -> bool:
    """Whether a route (its path as declared) is one of `patterns`: exact, or under a '/*' prefix."""
    for pattern in patterns:
        if pattern.endswith("/*"):
            stem = pattern[:-2]
            if route_path == stem or route_path.startswith(stem + "/"):
                return True
        elif route_path == pattern:
            return True
    return False


class HttpAsp:
    """One app's ASP: its keys (derived here, once), replay cache and covered paths."""

    def __init__(self, settings: AspSettings, *, cache: Callable[[str], Cache] | None = None,
                 app_name: str = "") -> None:
        self.settings = settings
        self.app_name = app_name
        self.request_keys = Keys(settings.secrets, "request")
        self.response_keys = Keys(settings.secrets, "response")
        self.drift_ms = int(settings.drift * 1000)
        self.replay: ReplayCache
        if settings.replay_cache is not None:
            if cache is None:
                raise MegaError("asp.no_cache", f"asp.replay_cache {settings.replay_cache!r} needs the "
                                "app's caches", status=500, hint="boot the project (mega start)")
            self.replay = CacheReplay(cache(settings.replay_cache), settings.drift)
        else:
            self.replay = MemoryReplay(settings.drift)
        # The memory cache answers without awaiting: the pipeline calls it directly (None: await `replay`).
        self.first_use_now = self.replay.use if isinstance(self.replay, MemoryReplay) else None
        self._openers = self.request_keys.ciphers
        self._sealer = self.response_keys.ciphers[0]
        self.used: set[str] = set()
        self._ws_keys: WsKeys | None = None

    def covers(self, route: RouteDef) -> bool:
        hit = [p for p in self.settings.paths if covers((p,), route.path)]
        self.used.update(hit)
        return bool(hit)

    def websocket(self, path: str, span_hooks: Any = ()) -> WsAsp | None:
        """The ASP of the channel mounted at `path` when `asp.websocket.namespaces` covers it, else None."""
        hit = [p for p in self.settings.ws_namespaces if covers((p,), path)]
        if not hit:
            return None
        self.used.update(hit)
        from mega.asp._ws import WsAsp, WsKeys

        if self._ws_keys is None:
            self._ws_keys = WsKeys(self.settings.secrets)
        return WsAsp(self._ws_keys, ns=path, drift=self.settings.drift, replay=self.replay, app=self.app_name,
                     span_hooks=span_hooks)

    def warn_unused(self) -> None:
        """A listed path that covers no route is most likely a typo: say so at boot."""
        for pattern in self.settings.paths:
            if pattern not in self.used:
                log.warning("app '%s': asp.paths entry %r covers no route (routes are matched as "
                            "declared, e.g. '/users/{id}')", self.app_name, pattern)
        for pattern in self.settings.ws_namespaces:
            if pattern not in self.used:  # a typo here leaves the channel's frames in clear
                log.warning("app '%s': asp.websocket.namespaces entry %r covers no channel: its frames are "
                            "not encrypted (channel paths are matched as mounted with router.ws, e.g. "
                            "'/ws/chat', or a prefix '/ws/*')", self.app_name, pattern)

    def extra_endpoints(self, constant: list[tuple[bytes, bytes]]) -> dict[tuple[str, str], Endpoint]:
        """The browser client, served at SCRIPT_PATH while ASP is on."""
        script = resources.files("mega.asp").joinpath("asp.js").read_bytes()
        headers = [(CT, _JS), (CL, b"%d" % len(script)), (b"cache-control", b"no-cache"), *constant]

        async def asp_script(scope: dict[str, Any], receive: Any, send: Any, params: Any) -> None:
            head = [*headers, (b"x-request-id", request_id(scope["headers"]))]
            await send({"type": "http.response.start", "status": 200, "headers": head})
            await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else script})

        return {("GET", SCRIPT_PATH): asp_script}

    def check(self, scope: dict[str, Any]) -> tuple[bytes | None, bytes | None, bytes | None, str]:
        """Signal and timestamp (AspError asp.signal / asp.drift); then (nonce, tag, nonce as sent, timestamp)
        for `open` (nonce and tag None when malformed: decryption fails, after the body was read)."""
        signal = stamp = nonce_text = tag_text = None  # a repeated header keeps its last value
        for name, value in scope["headers"]:
            if name.startswith(SIGNAL):
                if name == SIGNAL:
                    signal = value
                elif name == TIMESTAMP:
                    stamp = value
                elif name == NONCE:
                    nonce_text = value
                elif name == TAG:
                    tag_text = value
        if signal is None or not hmac.compare_digest(signal, VERSION):
            raise AspError("asp.signal")
        if stamp is None or not (stamp.isdigit() and len(stamp) <= _TS_DIGITS) or \
                abs(time.time() * 1000 - int(stamp)) > self.drift_ms:
            raise AspError("asp.drift")
        nonce = unb64(nonce_text, NONCE_SIZE) if nonce_text is not None else None
        tag = unb64(tag_text, TAG_SIZE) if tag_text is not None else None
        return nonce, tag, nonce_text, stamp.decode("ascii")

    def open(self, scope: dict[str, Any], head: tuple[bytes | None, bytes | None, bytes | None, str],
             ciphertext: bytes) -> bytes:
        """The request body's plaintext (AspError asp.decrypt_failed when it does not authenticate)."""
        nonce, tag, _, stamp = head
        if nonce is None or tag is None:
            raise AspError("asp.decrypt_failed")
        query = scope.get("query_string", b"")
        aad = request_aad(scope["method"], scope["path"], query.decode("latin-1") if query else "", stamp)
        sealed = ciphertext + tag
        for cipher in self._openers:  # Keys.open, inlined: this runs on every request of a covered route
            try:
                return cipher.decrypt(nonce, sealed, aad)
            except InvalidTag:
                continue
        raise AspError("asp.decrypt_failed")

    def seal(self, body: bytes, status: int, request_nonce: bytes) -> tuple[bytes, bytes]:
        """(ciphertext, the three response headers as a raw block) of a response of `status` (Keys.seal and
        response_aad, inlined)."""
        nonce = os.urandom(NONCE_SIZE)
        sealed = self._sealer.encrypt(nonce, body, b"mega-asp/1 response\n%d\n%s" % (status, request_nonce))
        block = b"x-mega-asp: 1\r\nx-mega-asp-nonce: %s\r\nx-mega-asp-tag: %s\r\n" % (
            b64_bytes(nonce), b64_bytes(sealed[-TAG_SIZE:]))
        return sealed[:-TAG_SIZE], block

    @staticmethod
    def replayed() -> AspError:
        return AspError("asp.replay")

    def sealing(self, send: Any, request_nonce: bytes) -> _SealingSend:
        """A `send` that encrypts one response, whatever way it is sent (the less common paths)."""
        return _SealingSend(send, self.response_keys, request_nonce)


class _SealingSend:
    """Collects the route's response and sends it encrypted, bound to the request's nonce."""

    __slots__ = ("_chunks", "_keys", "_nonce", "_send", "_start")

    def __init__(self, send: Any, keys: Keys, request_nonce: bytes) -> None:
        self._send = send
        self._keys = keys
        self._nonce = request_nonce
        self._start: dict[str, Any] | None = None
        self._chunks: list[bytes] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self._start = message
            return
        if kind != "http.response.body" or self._start is None:
            await self._send(message)
            return
        self._chunks.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        start, body = self._start, b"".join(self._chunks)
        status = int(start["status"])
        nonce, ciphertext, tag = self._keys.seal(body, response_aad(status, self._nonce))
        # GCM keeps the length: the Content-Length the route computed still holds.
        nonce_value, tag_value = b64_bytes(nonce), b64_bytes(tag)
        if RAW_HEADERS in start:  # mega's server: one pre-built header block, extended by three lines
            start = {**start, RAW_HEADERS: start[RAW_HEADERS] + b"x-mega-asp: 1\r\nx-mega-asp-nonce: "
                     + nonce_value + b"\r\nx-mega-asp-tag: " + tag_value + b"\r\n"}
        else:
            start = {**start, "headers": [*start["headers"], (SIGNAL, VERSION), (NONCE, nonce_value),
                                          (TAG, tag_value)]}
        await self._send(start)
        await self._send({"type": "http.response.body", "body": ciphertext})
