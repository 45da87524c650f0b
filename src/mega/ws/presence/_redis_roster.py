"""The Redis roster: members per channel in one Redis HASH per channel, shared by every instance.

Key `<cache prefix>ws:roster:<app>:<channel>`; field: the session id; value: JSON `{user_id,
metadata?, expires_at}` (epoch seconds). Each add is HSET + PEXPIRE (2 * ttl, so a key whose members all
went stale still vanishes) in one pipeline. Every ttl / 3 an instance rewrites all its local members
in one pipeline (one PEXPIRE per channel; no round trip when it has none). Readers drop members whose
`expires_at` has passed: a member of a killed instance is gone from `list()` within ttl.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from mega.http.envelope import dumps
from mega.ws.presence._seam import ChannelRoster, Member, PresenceSink

__all__ = ["RedisRoster"]

log = logging.getLogger("mega.ws.roster")


def _first_error(results: list[Any]) -> None:
    for result in results:
        if isinstance(result, BaseException):
            raise result


class RedisRoster(ChannelRoster):
    def __init__(self, client: Any, *, app_name: str, ttl: float, prefix: str = "",
                 clock: Callable[[], float] = time.time, timers: bool = True) -> None:
        self.client = client
        self.app_name = app_name
        self.ttl = float(ttl)
        self.base = f"{prefix}ws:roster:{app_name}:"
        self.clock = clock
        self.timers = timers
        self._sink: PresenceSink | None = None
        self._timer: asyncio.Task[None] | None = None

    def key(self, channel: str) -> str:
        return self.base + channel

    def _value(self, member: Member, expires_at: float) -> bytes:
        body: dict[str, Any] = {"user_id": member.user_id, "expires_at": expires_at}
        if member.metadata is not None:
            body["metadata"] = dict(member.metadata)
        return dumps(body)

    async def start(self, sink: PresenceSink) -> None:
        self._sink = sink
        if self.timers and self._timer is None:
            self._timer = asyncio.get_running_loop().create_task(self._beat())

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                await self.refresh()
            except Exception as exc:
                log.warning("app %s: roster refresh failed: %s", self.app_name, exc)

    async def refresh(self) -> None:
        """Rewrite every local member with a new expiry (one pipeline)."""
        if self._sink is None:
            return
        sessions = self._sink.local_sessions()
        if not sessions:
            return
        expires_at = self.clock() + self.ttl
        pipe = self.client.pipeline(transaction=False)
        touched: set[str] = set()
        for session in sessions:
            member = session.member()
            for channel in session.channels:
                if not isinstance(channel, str) or not isinstance(session.session_id, str):
                    continue
                pipe.hset(self.key(channel), session.session_id, self._value(member, expires_at))
                if channel not in touched:
                    touched.add(channel)
                    pipe.pexpire(self.key(channel), int(self.ttl * 2000))
        if touched:
            _first_error(await pipe.execute(raise_on_error=False))

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
            self._timer = None
        sessions = self._sink.local_sessions() if self._sink is not None else []
        pairs = [(c, s.session_id) for s in sessions for c in s.channels]
        if not pairs:
            return
        pipe = self.client.pipeline(transaction=False)
        for channel, session_id in pairs:
            pipe.hdel(self.key(channel), session_id)
        try:
            _first_error(await pipe.execute(raise_on_error=False))
        except Exception as exc:
            log.warning("app %s: roster graceful remove failed (stale until TTL): %s", self.app_name, exc)

    async def add(self, channel: str, member: Member) -> None:
        if not isinstance(channel, str) or not isinstance(member.session_id, str):
            return
        key = self.key(channel)
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, member.session_id, self._value(member, self.clock() + self.ttl))
        pipe.pexpire(key, int(self.ttl * 2000))
        _first_error(await pipe.execute(raise_on_error=False))

    async def remove(self, channel: str, session_id: str) -> None:
        if isinstance(channel, str) and isinstance(session_id, str):
            await self.client.hdel(self.key(channel), session_id)

    async def members(self, channel: str) -> list[Member]:
        raw = await self.client.hgetall(self.key(channel))
        now = self.clock()
        out = []
        for field, value in raw.items():
            try:
                body = json.loads(value)
                if float(body["expires_at"]) <= now:
                    continue
                session_id = field.decode() if isinstance(field, bytes) else str(field)
                out.append(Member(session_id, str(body["user_id"]), body.get("metadata"), (channel,)))
            except (ValueError, KeyError, TypeError):
                continue
        return out
