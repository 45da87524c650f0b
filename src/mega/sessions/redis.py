"""`redis` session store: one key per session with a PX expiry, on a cache alias's client."""

from __future__ import annotations

import asyncio
from typing import Any

from redis.exceptions import RedisError

from mega.sessions.store import SessionStore, check_id, decode, encode

__all__ = ["RedisSessionStore"]

_FAILURES = (RedisError, OSError, asyncio.TimeoutError)


class RedisSessionStore(SessionStore):
    driver = "redis"

    def __init__(self, client: Any, *, ttl: float, prefix: str = "mega:sess:") -> None:
        super().__init__(ttl=ttl)
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
            data = decode(raw)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    async def save(self, sid: str, data: dict[str, Any], ttl: float | None = None) -> None:
        key, body = self._key(sid), encode(data)
        self.saves += 1
        try:
            await self.client.set(key, body, px=max(1, int((ttl or self.ttl) * 1000)))
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
        key = self._key(sid)
        try:
            return bool(await self.client.pexpire(key, max(1, int((ttl or self.ttl) * 1000))))
        except _FAILURES as exc:
            raise self._unavailable(exc) from exc

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "prefix": self.prefix}
