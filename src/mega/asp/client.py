"""`mega.asp.Client`: the Python side of ASP, for tests, scripts and services calling an ASP app.

    asp = Client(os.environ["ASP_MASTER_SECRET"], http)     # an httpx.AsyncClient (mega's test client is one)
    r = await asp.post("/api/pay", json={"amount": 5})      # encrypted out, decrypted back
    r.json()                                                # {"ok": true, "data": ...}

`seal` and `open` are the same steps for any other transport. On a WebSocket namespace ASP covers:

    await ws.send(asp.ws_encrypt({"type": "chat.send", "payload": {...}}, ns="/ws/chat"))
    frame = asp.ws_decrypt(await ws.recv(), ns="/ws/chat")      # {"type": ..., "payload": ...}
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from mega.asp._wire import (
    NONCE,
    NONCE_SIZE,
    SIGNAL,
    TAG,
    TAG_SIZE,
    TIMESTAMP,
    VERSION,
    Keys,
    b64,
    request_aad,
    response_aad,
    unb64,
)
from mega.asp._ws import WsKeys
from mega.errors import MegaError

if TYPE_CHECKING:
    import httpx

__all__ = ["Client", "Sealed"]


@dataclass(frozen=True)
class Sealed:
    """An encrypted request: send `body` with `headers`; keep `nonce` to open the response."""

    headers: dict[str, str]
    body: bytes
    nonce: str


class Client:
    """Encrypts requests and decrypts responses with the app's ASP secret (or list: the first
    encrypts, any decrypts, as on the server)."""

    def __init__(self, secret: str | list[str] | tuple[str, ...],
                 http: httpx.AsyncClient | None = None) -> None:
        secrets = [secret] if isinstance(secret, str) else list(secret)
        self._request_keys = Keys(secrets, "request")
        self._response_keys = Keys(secrets, "response")
        self._ws = WsKeys(secrets)
        self.http = http

    def ws_encrypt(self, message: Any, *, ns: str, timestamp: int | None = None,
                   nonce: bytes | None = None) -> str:
        """An `E:` frame of `message` (JSON-encoded unless str/bytes) for the channel at `ns`."""
        text = message if isinstance(message, str | bytes) else orjson.dumps(message)
        return self._ws.seal(text, ns=ns, direction="request", timestamp=timestamp, nonce=nonce)

    def ws_decrypt(self, frame: str | bytes, *, ns: str) -> Any:
        """The JSON value of a server frame from the channel at `ns` (MegaError asp.signal or
        asp.decrypt_failed when it is not an `E:` frame or does not open)."""
        text = frame.decode("utf-8") if isinstance(frame, bytes) else frame
        plain, _ = self._ws.open(text, ns=ns, direction="response")
        return orjson.loads(plain)

    def seal(self, method: str, path: str, body: bytes = b"", *, query: str = "",
             timestamp: int | None = None, nonce: bytes | None = None) -> Sealed:
        """Encrypt `body` for `METHOD path?query`. `path` is percent-decoded; `query` is sent as is.
        `timestamp` (ms since the epoch) and `nonce` default to now and 12 random bytes."""
        stamp = str(int(time.time() * 1000) if timestamp is None else timestamp)
        aad = request_aad(method.upper(), path, query, stamp)
        used, ciphertext, tag = self._request_keys.seal(body, aad, nonce)
        nonce_text = b64(used)
        headers = {SIGNAL.decode(): VERSION.decode(), TIMESTAMP.decode(): stamp, NONCE.decode(): nonce_text,
                   TAG.decode(): b64(tag)}
        return Sealed(headers, ciphertext, nonce_text)

    def open(self, status: int, headers: Mapping[str, str], body: bytes, request_nonce: str) -> bytes:
        """The plaintext of an encrypted response (400 `asp.bad_response` when it does not open)."""
        nonce = unb64(headers.get(NONCE.decode(), ""), NONCE_SIZE)
        tag = unb64(headers.get(TAG.decode(), ""), TAG_SIZE)
        plaintext = None if nonce is None or tag is None else \
            self._response_keys.open(nonce, body, tag, response_aad(status, request_nonce))
        if plaintext is None:
            raise MegaError("asp.bad_response", f"the encrypted {status} response could not be decrypted",
                            status=502, hint="the client and the server need a secret in common")
        return plaintext

    @staticmethod
    def is_encrypted(headers: Mapping[str, str]) -> bool:
        return headers.get(SIGNAL.decode()) == VERSION.decode()

    async def request(self, method: str, url: str, *, json: Any = None, content: bytes | None = None,
                      headers: Mapping[str, str] | None = None, params: Any = None) -> httpx.Response:
        """Send through `self.http`; the response returned carries the decrypted body (a refusal sent
        in plain, before the server could decrypt, comes back as it is)."""
        import httpx

        http = self.http
        if http is None:
            raise MegaError("asp.no_http", "Client(secret, http) needs an httpx.AsyncClient to send requests",
                            status=500, hint="or use seal() and open() with your own transport")
        extra = dict(headers or {})
        if json is not None:
            content = orjson.dumps(json)
            extra.setdefault("content-type", "application/json")
        probe = http.build_request(method, url, params=params)
        query = probe.url.query.decode("ascii")
        sealed = self.seal(method, probe.url.path, content or b"", query=query)
        request = http.build_request(method, probe.url, headers={**extra, **sealed.headers},
                                     content=sealed.body)
        response = await http.send(request)
        body = await response.aread()
        if not self.is_encrypted(response.headers):
            return response
        plain = self.open(response.status_code, response.headers, body, sealed.nonce)
        kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=kept, content=plain, request=request)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", url, **kwargs)

    async def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", url, **kwargs)

    async def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", url, **kwargs)

    async def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", url, **kwargs)
