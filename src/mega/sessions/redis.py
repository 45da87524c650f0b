"""`redis` session store: one key per session (`<prefix><sid>`) holding the JSON data, with a PX
expiry that Redis enforces; the client (redis-py asyncio) belongs to the caller, usually a cache
alias's connection, so this store neither opens nor closes it."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from redis.exceptions import RedisError

from mega.errors import MegaError
from mega.sessions.store import SessionStore, check_id, encode

__all__ = ["RedisSessionStore"]

log = logging.getLogger("mega.sessions")

_FAILURES = (RedisError, OSError, TimeoutError)  # TimeoutError is asyncio's too, on 3.11+


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisSessionStore(SessionStore):
    driver = "redis"

    def __init__(self, client: Any, *, ttl: float, prefix: str = "mega:sess:") -> None:
        super().__init__(ttl=ttl)
        if not isinstance(prefix, str) or not prefix:
            raise MegaError("session.invalid_config", f"RedisSessionStore: prefix must be a non-empty "
                            f"string, got {prefix!r}", status=500, hint="e.g. 'mega:sess:'")
        self.client = client
        self.prefix = prefix

    def _key(self, sid: str) -> str:
        return self.prefix + check_id(sid)

    async def load(self, sid: str) -> dict[str, Any] | None:
        key = self._key(sid)
        self.loads += 1
        try:
            raw = await self.client.get(key)
        except _FAILURES as exc:
            raise self._unavailable(exc) from exc
        if raw is None:
            return None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            # written by something else under our prefix; not ours to delete
            log.warning("redis session key %s%s... does not hold a JSON object: treated as missing",
                        self.prefix, sid[:8])
            return None
        self.hits += 1
        return data

    async def save(self, sid: str, data: dict[str, Any], ttl: float | None = None) -> None:
        key, body, ms = self._key(sid), encode(data), _ms(self._ttl(ttl))
        self.saves += 1
        try:
            await self.client.set(key, body, px=ms)
        except _FAILURES as exc:
            raise self._unavailable(exc) from exc

    async def destroy(self, sid: str) -> None:
        key = self._key(sid)
        self.destroys += 1
        try:
            await self.client.delete(key)
        except _FAILURES as exc:
            raise self._unavailable(exc) from exc

    async def touch(self, sid: str, ttl: float | None = None) -> bool:
        key, ms = self._key(sid), _ms(self._ttl(ttl))
        self.touches += 1
        try:
            return bool(await self.client.pexpire(key, ms))
        except _FAILURES as exc:
            raise self._unavailable(exc) from exc

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "prefix": self.prefix}
