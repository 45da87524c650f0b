"""A second instance for the Redis roster test: joins one session, keeps it fresh, waits to be killed.

Usage: python -m tests.integration.ws._roster_member <redis url> <app> <session id> <ttl>
"""

from __future__ import annotations

import asyncio
import sys

import redis.asyncio as aioredis

from mega.ws.presence import Presence
from mega.ws.presence._redis_roster import RedisRoster
from tests.unit.ws._presence_helpers import open_socket


async def main(url: str, app: str, session_id: str, ttl: float) -> None:
    client = aioredis.from_url(url)
    presence = Presence(app)
    presence.use_roster(RedisRoster(client, app_name=app, ttl=ttl, prefix="t:"))
    await presence.start()
    sock, _ = open_socket(presence)
    await presence.join(sock, user_id="ghost", session_id=session_id, channels=["lobby"])
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
