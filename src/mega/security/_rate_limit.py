"""Per-client request limits: a fixed window of `window` seconds allows `max` requests per key.

A fixed window is the cheapest correct counter: one integer per key, no timestamps, so the memory
store costs about one dict update per request. Its known cost is a burst of up to 2 x max around a
window boundary, which is fine for abuse protection (a sliding window needs two counters and the
time on every request).

Config (`rate_limit` in app_config.py, or as a route option; declared in `mega.security._settings`):
unset means DEFAULT_RATE_LIMIT (1,000 requests a minute per IP; the seed's first default of 100 gave
429s on normal traffic, such as a page that polls), False turns it off, and a dict replaces the
default entirely: its omitted fields are not taken from the default, so `max` and `window` are then
required.

Counting is in process memory, or in Redis when `redis` names a connection of services.redis, so
every process of a cluster shares one count. Both count the same windows: aligned to the clock
(see rate_limit_contract.py). Redis failing never takes the site down: the limiter fails open and
says so in the log and its stats.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from mega.security._settings import DEFAULT_RATE_LIMIT, RateLimitSettings
from mega.security.rate_limit_contract import DEFAULT_CLOCK, Clock, RateLimiter

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "MemoryRateLimiter",
    "RateLimitPolicy",
    "RedisRateLimiter",
]

logger = logging.getLogger("mega.security")

# The `rate_limit` settings are the limiters' policy: hashable, so routes with equal policies share one.
RateLimitPolicy = RateLimitSettings


# -- memory ------------------------------------------------------------------------------------

_MIN_TICK = 0.05
_MAX_TICK = 1.0
_SWEEP_BATCH = 2_000  # about 0.5 ms of the loop per tick


class MemoryRateLimiter(RateLimiter):
    """Counts per key in this process. Windows are aligned on multiples of `window` of the clock, so
    one dict holds the current window's counts and a new window is a new dict: the previous one is
    emptied by the timer, a batch per tick, never on the request path.

    A route's guard inlines `hit` (mega.security._policy): it reads `counts` (the current window's
    dict, replaced at each new window) and `ticking` on every request and calls `check` as hit does."""

    store = "memory"
    local = True
    __slots__ = ("_chunk", "_clock", "_drained", "_limited", "_loop", "_max", "_retired", "_tick",
                 "_timer", "_wid", "_window", "counts", "policy", "ticking")

    def __init__(self, policy: RateLimitPolicy, *, clock: Clock = DEFAULT_CLOCK) -> None:
        self.policy = policy
        self._max = policy.max
        self._window = float(policy.window)
        self._clock = clock
        self._tick = max(_MIN_TICK, min(_MAX_TICK, self._window / 10))
        self.counts: dict[str, int] = {}
        self._retired: list[dict[str, int]] = []  # past windows' counts, waiting for the sweep
        self._chunk = _SWEEP_BATCH
        self._wid = self._window_id(clock())
        self.ticking = False
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drained = 0  # requests counted in swept windows
        self._limited = 0

    def _window_id(self, now: float) -> int:
        return int(now // self._window)

    def start(self) -> None:
        """Keep the window current from a loop timer, so hit() never reads the clock while allowing."""
        if self._timer is not None:
            return
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError("MemoryRateLimiter.start() needs a running event loop: call it from async "
                               "code (boot), or not at all (hit() then reads the clock itself)") from None
        self.ticking = True
        self._on_tick()

    def close(self) -> None:
        timer, self._timer = self._timer, None
        self.ticking = False
        if timer is not None:
            timer.cancel()

    def hit(self, key: str) -> float:
        """Count one request for `key`: 0.0 when allowed, else the seconds until the window ends."""
        counts = self.counts
        n = counts[key] = counts.get(key, 0) + 1
        if n <= self._max and self.ticking:
            return 0.0
        return self.check(key, n)

    def hit_count(self, key: str) -> tuple[int, float]:
        """Count one request for `key`: (requests counted in its window, this one included; seconds
        until the window ends). For the RateLimit headers: routes without them call `hit`."""
        retry = self.hit(key)
        now = self._clock()
        if retry:
            return self.counts.get(key, self._max + 1), retry
        return self.counts.get(key, 1), max((self._window_id(now) + 1) * self._window - now, 0.001)

    def check(self, key: str, n: int) -> float:
        """Without a timer, or over the limit: read the clock, so a late or dead timer may allow a
        request one tick late but never refuses one wrongly."""
        now = self._clock()
        wid = self._window_id(now)
        if wid > self._wid:  # this request belongs to a window the timer has not opened yet
            if n == 1:
                del self.counts[key]
            else:
                self.counts[key] = n - 1
            self._rotate(wid)
            n = self.counts[key] = 1
        if self._retired and not self.ticking:  # no timer to sweep: a batch per request instead
            self._sweep()
        if n <= self._max:
            return 0.0
        self._limited += 1
        return max((self._wid + 1) * self._window - now, 0.001)

    def _rotate(self, wid: int) -> None:
        if self.counts:
            self._retired.append(self.counts)
            self.counts = {}
            # empty the backlog within about half a window, however many keys arrive
            backlog = sum(map(len, self._retired))
            self._chunk = max(_SWEEP_BATCH, math.ceil(backlog / max(1.0, self._window / self._tick / 2)))
        self._wid = wid

    def _on_tick(self) -> None:
        wid = self._window_id(self._clock())
        if wid > self._wid:
            self._rotate(wid)
        if self._retired:
            self._sweep()
        if self.ticking and self._loop is not None:
            self._timer = self._loop.call_later(self._tick, self._on_tick)

    def _sweep(self) -> None:
        budget = self._chunk
        retired = self._retired
        while retired and budget > 0:
            old = retired[0]
            take = min(budget, len(old))
            popitem = old.popitem
            total = 0
            for _ in range(take):
                total += popitem()[1]
            self._drained += total
            budget -= take
            if not old:
                del retired[0]

    def stats(self) -> dict[str, Any]:
        """Counts since start; walks the live counts in C (about 1 ms per 200,000 keys)."""
        pending = sum(sum(d.values()) for d in self._retired)
        seen = self._drained + pending + sum(self.counts.values())
        keys = len(self.counts) + sum(map(len, self._retired))
        return {"store": "memory", "max": self._max, "window": self._window, "keys": keys,
                "allowed": seen - self._limited, "limited": self._limited}


# -- redis -------------------------------------------------------------------------------------

# KEYS[1] the counter of one key's window; ARGV[1] its expiry in ms (the window's end, plus grace).
# Returns the count. A counter found without a TTL (written by something else) gets one, so it
# cannot block forever.
_HIT_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return count
"""
_GRACE_MS = 1000  # a counter outlives its window a little: a process whose clock lags still finds it
_WARN_EVERY = 10.0


class RedisRateLimiter(RateLimiter):
    """Counts in Redis, shared by every process: one atomic script call per request, on the counter
    `<prefix><key>:<window number>` of the clock-aligned window. Fails open: a broken Redis must not
    refuse every request."""

    store = "redis"
    local = False
    __slots__ = ("_allowed", "_clock", "_errors", "_failures", "_limited", "_max", "_next_warning",
                 "_script", "_unlogged", "_window", "client", "policy", "prefix")

    def __init__(self, policy: RateLimitPolicy, client: Any, *, prefix: str = "mega:rl:",
                 clock: Clock = DEFAULT_CLOCK) -> None:
        from redis.exceptions import RedisError  # here: importing redis costs ~80 ms of every boot

        self.policy = policy
        self.client = client
        self.prefix = prefix
        # OSError covers TimeoutError, asyncio's included
        self._failures: tuple[type[BaseException], ...] = (RedisError, OSError)
        self._max = policy.max
        self._window = float(policy.window)
        self._clock = clock
        self._script = client.register_script(_HIT_SCRIPT)
        self._allowed = self._limited = self._errors = self._unlogged = 0
        self._next_warning = 0.0

    async def hit(self, key: str) -> float:
        """Count one request for `key`: 0.0 when allowed (or when Redis fails), else the seconds
        until the window ends."""
        count, left = await self.hit_count(key)
        return 0.0 if count <= self._max else left

    async def hit_count(self, key: str) -> tuple[int, float]:
        """Count one request for `key`: (requests counted in its window, this one included; seconds
        until the window ends). Redis failing counts as the first request (fail open)."""
        now = self._clock()
        number = int(now // self._window)
        left = max((number + 1) * self._window - now, 0.001)
        try:
            count = int(await self._script(keys=[f"{self.prefix}{key}:{number}"],
                                           args=[max(1, round(left * 1000)) + _GRACE_MS]))
        except self._failures as exc:
            self._failed(exc)
            return 1, left
        if count <= self._max:
            self._allowed += 1
        else:
            self._limited += 1
        return count, left

    def _failed(self, exc: BaseException) -> None:
        self._errors += 1
        self._unlogged += 1
        now = time.monotonic()
        if now < self._next_warning:
            return
        self._next_warning = now + _WARN_EVERY
        logger.warning("rate limit: redis failed, %d request(s) allowed unchecked (%s: %s); prefix %r; "
                       "next warning in %.0f s at the earliest", self._unlogged, type(exc).__name__, exc,
                       self.prefix, _WARN_EVERY)
        self._unlogged = 0

    def stats(self) -> dict[str, Any]:
        """`errors` counts the requests let through unchecked; they are not in `allowed`."""
        return {"store": "redis", "max": self._max, "window": self._window,
                "prefix": self.prefix, "allowed": self._allowed, "limited": self._limited,
                "errors": self._errors}
