"""`redis` lock: one atomic script per operation on a redis-py asyncio client (Redis >= 5).

Keys, for lock key K under prefix P (the hash tag keeps both in one Redis Cluster slot):
`P{K}` holds `<random>:<token>` with a PX ttl while held; `P{K}:fence` holds the last token issued
for K (kept a day after its last use). A release publishes on the channel `P{K}`, so waiters wake at
once; they also poll (at the holder's remaining ttl, at most every `poll` s, with jitter) in case a
notification is lost. Within one instance, waiters for a key queue in arrival order and only the
first of them talks to Redis.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import secrets
from typing import Any

from redis.exceptions import RedisError

from mega.lock._fence import LOW_BITS
from mega.lock._notify import Notifier
from mega.lock.contract import Held, Lock, LockError, log

__all__ = ["RedisLock"]

FENCE_TTL_MS = 86_400_000
DEFAULT_POLL = 0.5

# KEYS[1] lock key, KEYS[2] fence key; ARGV[1] holder id, ARGV[2] ttl ms
# -> {1, token} when taken, {0, pttl of the current holder} when held (-1: a key without expiry).
# The token is the fence counter + 1; when there is no counter (first use of the key, its day is
# over, or Redis lost its data) it restarts at the Redis clock: ms << LOW_BITS (docs/adr/0004).
# Two commands in the common case; a failed attempt writes nothing.
ACQUIRE = f"""
if not redis.call('set', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {{0, redis.call('pttl', KEYS[1])}}
end
local token = redis.call('incr', KEYS[2])
if token == 1 then
  local now = redis.call('time')
  token = (tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)) * {2**LOW_BITS}
  redis.call('set', KEYS[2], string.format('%.0f', token), 'PX', {FENCE_TTL_MS})
end
return {{1, token}}
"""

# KEYS[1] lock key; ARGV[1] the holder's value -> 1 released (and waiters told), 0 not the holder
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  redis.call('publish', KEYS[1], '')
  return 1
end
return 0
"""

# KEYS[1] lock key; ARGV[1] the holder's value, ARGV[2] ttl ms -> 1 extended, 0 not the holder
EXTEND = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('pexpire', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

# KEYS[1] lock key; ARGV[1] holder id ending in ':' -> 1 when a cancelled acquire had taken the key
ABANDON = """
local value = redis.call('get', KEYS[1])
if value and string.sub(value, 1, string.len(ARGV[1])) == ARGV[1] then
  redis.call('del', KEYS[1])
  redis.call('publish', KEYS[1], '')
  return 1
end
return 0
"""


class _Gate:
    """Waiters of one key in this instance, in arrival order (asyncio.Lock is FIFO).

    Only the waiter at the head talks to Redis, so when that fails for an outage, every waiter queued
    behind it fails too, at once (`failure`), rather than each waiting its turn and then its wait out.
    Tickets scope that: a waiter that arrives after the failure tries Redis itself.
    """

    __slots__ = ("arrived", "failed_below", "failure", "lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0
        self.arrived = 0  # tickets handed out, in arrival order
        self.failed_below = 0  # waiters holding a smaller ticket fail with `failure`
        self.failure: BaseException | None = None


class RedisLock(Lock):
    driver = "redis"

    def __init__(self, client: Any, *, prefix: str = "mega:lock:", poll: float = DEFAULT_POLL,
                 **options: Any) -> None:
        super().__init__(**options)
        self.client = client
        self.prefix = prefix
        self.poll = poll
        self._acquire = client.register_script(ACQUIRE)
        self._release = client.register_script(RELEASE)
        self._extend = client.register_script(EXTEND)
        self._abandon = client.register_script(ABANDON)
        self._notifier = Notifier(client)
        self._gates: dict[str, _Gate] = {}
        self._holder = secrets.token_hex(6)  # random per lock instance; a counter makes it per holder
        self._counter = itertools.count(1)

    def key_name(self, key: str) -> str:
        """The Redis key that holds `key`'s lock (also its release channel)."""
        return f"{self.prefix}{{{key}}}"

    async def stats(self) -> dict[str, Any]:
        return {**await super().stats(), "prefix": self.prefix}

    # -- primitives ------------------------------------------------------------------------------

    async def _do_acquire(self, key: str, ttl: float, wait: float) -> Held | None:
        name = self.key_name(key)
        ms = math.ceil(ttl * 1000)
        deadline = asyncio.get_running_loop().time() + wait
        if wait <= 0 or name not in self._gates:  # queued local waiters go first
            got = await self._try(key, name, ttl, ms)
            if isinstance(got, Held) or wait <= 0:
                return got if isinstance(got, Held) else None
        return await self._wait(key, name, ttl, ms, deadline)

    async def _do_release(self, held: Held) -> bool:
        try:
            return bool(await self._release(keys=(held._name,), args=(held._value,)))
        except asyncio.CancelledError:
            self._spawn(self._finish_release(held))
            raise
        except (RedisError, OSError) as exc:
            raise self._backend_error("release", held.key, exc) from exc

    async def _do_claim(self, key: str, ttl: float) -> bool:
        """One `SET NX PX`: no fence counter, so nothing outlives the ttl."""
        try:
            ms = math.ceil(ttl * 1000)
            return bool(await self.client.set(self.key_name(key), b"claim", nx=True, px=ms))
        except (RedisError, OSError) as exc:
            raise self._backend_error("claim", key, exc) from exc

    async def _do_extend(self, held: Held, ttl: float) -> bool:
        try:
            return bool(await self._extend(keys=(held._name,), args=(held._value, math.ceil(ttl * 1000))))
        except (RedisError, OSError) as exc:
            raise self._backend_error("extend", held.key, exc) from exc

    async def _do_close(self) -> None:
        await self._notifier.close()

    def _on_lost(self, held: Held) -> None:
        """Nothing to hand on: the key expires in Redis, or the holder's release deletes it."""

    # -- internals -------------------------------------------------------------------------------

    async def _try(self, key: str, name: str, ttl: float, ms: int) -> Held | int:
        """One attempt: the Held, or the current holder's remaining ttl in ms (-1: none set)."""
        holder_id = f"{self._holder}{next(self._counter):x}:"  # unique per acquisition, cheap
        sent = asyncio.get_running_loop().time()
        try:
            taken, number = await self._acquire(keys=(name, name + ":fence"), args=(holder_id, ms))
        except asyncio.CancelledError:
            # The script may have run: give the key back rather than leave it held until its ttl.
            self._spawn(self._give_back(key, name, holder_id))
            raise
        except (RedisError, OSError) as exc:
            raise self._backend_error("acquire", key, exc) from exc
        if taken:
            return Held(self, key, number, ttl, sent + ttl, name, holder_id.encode())
        return int(number)

    async def _wait(self, key: str, name: str, ttl: float, ms: int, deadline: float) -> Held | None:
        gate = self._gates.get(name)
        if gate is None:
            gate = self._gates[name] = _Gate()
        gate.users += 1
        ticket = gate.arrived
        gate.arrived += 1
        try:
            try:
                async with asyncio.timeout_at(None if math.isinf(deadline) else deadline):
                    await gate.lock.acquire()
            except TimeoutError:
                return None
            try:
                if gate.failure is not None and ticket < gate.failed_below:  # queued behind a failed head
                    raise self._backend_error("acquire", key, gate.failure) from gate.failure
                return await self._head(gate, key, name, ttl, ms, deadline)
            finally:
                gate.lock.release()
        finally:
            gate.users -= 1
            if not gate.users:
                del self._gates[name]

    async def _head(self, gate: _Gate, key: str, name: str, ttl: float, ms: int,
                    deadline: float) -> Held | None:
        """The first waiter in the queue: poll Redis; an outage fails every waiter queued so far."""
        try:
            return await self._poll(key, name, ttl, ms, deadline, asyncio.get_running_loop())
        except LockError as exc:
            if exc.code == "lock.backend_unavailable":
                gate.failed_below, gate.failure = gate.arrived, exc.__cause__ or exc
            raise

    async def _poll(self, key: str, name: str, ttl: float, ms: int, deadline: float,
                    loop: asyncio.AbstractEventLoop) -> Held | None:
        try:
            async with self._notifier.watch(name, deadline - loop.time()) as wake:
                while True:
                    if self._closed:
                        raise self._closed_error(key)
                    wake.clear()  # before the attempt: a release right after it still wakes us
                    got = await self._try(key, name, ttl, ms)
                    if isinstance(got, Held):
                        return got
                    left = deadline - loop.time()
                    if left <= 0:
                        return None
                    try:
                        async with asyncio.timeout(min(self._next_poll(got), left)):
                            await wake.wait()
                    except TimeoutError:
                        pass
        except (RedisError, OSError) as exc:  # the subscription itself failed
            raise self._backend_error("acquire", key, exc) from exc

    def _next_poll(self, pttl_ms: int) -> float:
        """Sleep until the holder's ttl runs out (at most `poll`), plus 1-5 ms of jitter."""
        base = self.poll if pttl_ms < 0 else min(pttl_ms / 1000, self.poll)
        return base + random.uniform(0.001, 0.005)

    async def _finish_release(self, held: Held) -> None:
        try:
            await self._release(keys=(held._name,), args=(held._value,))
        except (RedisError, OSError) as exc:
            self.errors += 1
            self._log_left_held(held.key, exc, held.ttl)

    async def _give_back(self, key: str, name: str, holder_id: str) -> None:
        try:
            await self._abandon(keys=(name,), args=(holder_id,))
        except (RedisError, OSError) as exc:
            self.errors += 1
            self._log_left_held(key, exc, None)

    def _log_left_held(self, key: str, exc: BaseException, ttl: float | None) -> None:
        within = f"within {ttl:g} s" if ttl is not None else "at its ttl"
        log.warning("%s: could not give back %r after a cancellation (%s); it expires %s",
                    self.name, key, exc, within)
