"""Per-client request limits: a fixed window of `window` seconds allows `max` requests per key.

A fixed window is the cheapest correct counter: one integer per key, no timestamps, so the memory
store costs about one dict update per request. Its known cost is a burst of up to 2 x max around a
window boundary, which is fine for abuse protection (a sliding window needs two counters and the
time on every request).

Config (`rate_limit` in app_config.py, or as a route option): unset means DEFAULT_RATE_LIMIT
(1,000 requests a minute per IP; the seed's first default of 100 gave 429s on normal traffic, such
as a page that polls), False turns it off, and a dict replaces the default entirely: its omitted
fields are not taken from the default, so `max` and `window` are then required.

Counting is in process memory, or in Redis when `redis` names a connection of services.redis, so
every process of a cluster shares one count. Both count the same windows: aligned to the clock
(see rate_limit_contract.py). Redis failing never takes the site down: the limiter fails open and
says so in the log and its stats.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mega.errors import MegaError
from mega.security.rate_limit_contract import DEFAULT_CLOCK, Clock, RateLimiter

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "MemoryRateLimiter",
    "RateLimitPolicy",
    "RedisRateLimiter",
    "parse_rate_limit",
]

logger = logging.getLogger("mega.security")

_KEYS = ("max", "window", "redis")
_EXAMPLE = "e.g. {'max': 100, 'window': '1 minute'} (window: seconds, or '30 seconds', '5m', '1h')"
_UNITS = {
    "ms": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
}
_MAX_WINDOW = 366 * 86400.0  # longer is a typo, and Redis refuses such expiry times
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]+)\s*")


def _invalid(where: str, message: str, hint: str, key: str | None = None) -> MegaError:
    details: dict[str, Any] = {"where": where}
    if key is not None:
        details["key"] = key
    return MegaError("rate_limit.invalid_config", f"{where}: rate_limit: {message}", details=details,
                     hint=hint, status=500)


def _check_max(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _invalid(where, f"'max' must be a whole number >= 1, got {value!r}",
                       "write the requests allowed per window per client, e.g. 'max': 100", "max")
    return value


def _check_window(value: object, where: str, *, durations: bool = True) -> float:
    seconds: float | None = None
    if isinstance(value, str) and durations:
        seconds = _duration(value)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    if seconds is None or not 0 < seconds <= _MAX_WINDOW:  # also refuses nan and inf
        raise _invalid(where, f"'window' must be a positive number of seconds or a duration of at most "
                       f"366 days, got {value!r}",
                       "write e.g. 'window': 60, '1 minute', '30 seconds', '10s', '5m', '1h' or '2 hours'",
                       "window")
    return seconds


def _duration(text: str) -> float | None:
    """'1 minute', '30 seconds', '10s', '2 hours' -> seconds. A bare number in a string is refused:
    the seed read '100' as milliseconds, and seconds would silently be 1,000 times longer."""
    match = _DURATION.fullmatch(text)
    if match is None:
        return None
    unit = _UNITS.get(match[2].lower())
    return None if unit is None else float(match[1]) * unit


def _check_redis(value: object, where: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise _invalid(where, f"'redis' must be the alias of a services.redis connection, got {value!r}",
                       "write e.g. 'redis': 'rate', or leave it out to count in memory", "redis")
    return value


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """How many requests one key may make per window; hashable, so routes with equal policies can
    share one limiter."""

    max: int
    window: float
    redis: str | None = None  # the services.redis alias that counts it; None: this process's memory

    def __post_init__(self) -> None:
        _check_max(self.max, "RateLimitPolicy")
        _check_window(self.window, "RateLimitPolicy", durations=False)
        _check_redis(self.redis, "RateLimitPolicy")


DEFAULT_RATE_LIMIT = RateLimitPolicy(max=1000, window=60.0, redis=None)


def parse_rate_limit(cfg: object, *, where: str) -> RateLimitPolicy | None:
    """A `rate_limit` config value -> its policy, or None when the limit is off."""
    if cfg is None:
        return DEFAULT_RATE_LIMIT
    if cfg is False:
        return None
    if not isinstance(cfg, Mapping):
        got = "True" if cfg is True else f"{type(cfg).__name__} {cfg!r}"
        raise _invalid(where, f"must be None (the default, 1,000 requests a minute), False (off) or a "
                       f"dict, got {got}", f"use None for the default or a dict: {_EXAMPLE}")
    for key in cfg:
        if key not in _KEYS:
            from difflib import get_close_matches

            near = get_close_matches(str(key), _KEYS, n=1)
            mean = f" (did you mean {near[0]!r}?)" if near else ""
            raise _invalid(where, f"unknown key {key!r}{mean}", f"keys: {', '.join(_KEYS)}; {_EXAMPLE}",
                           str(key))
    for key in ("max", "window"):
        if key not in cfg:
            raise _invalid(where, f"'{key}' is required: a dict replaces the default entirely",
                           f"give both 'max' and 'window', {_EXAMPLE}", key)
    return RateLimitPolicy(max=_check_max(cfg["max"], where), window=_check_window(cfg["window"], where),
                           redis=_check_redis(cfg.get("redis"), where))


# -- memory ------------------------------------------------------------------------------------

_MIN_TICK = 0.05
_MAX_TICK = 1.0
_SWEEP_BATCH = 2_000  # about 0.5 ms of the loop per tick


class MemoryRateLimiter(RateLimiter):
    """Counts per key in this process. Windows are aligned on multiples of `window` of the clock, so
    one dict holds the current window's counts and a new window is a new dict: the previous one is
    emptied by the timer, a batch per tick, never on the request path."""

    store = "memory"
    local = True
    __slots__ = ("_chunk", "_clock", "_counts", "_drained", "_limited", "_loop", "_max", "_retired",
                 "_tick", "_ticking", "_timer", "_wid", "_window", "policy")

    def __init__(self, policy: RateLimitPolicy, *, clock: Clock = DEFAULT_CLOCK) -> None:
        self.policy = policy
        self._max = policy.max
        self._window = float(policy.window)
        self._clock = clock
        self._tick = max(_MIN_TICK, min(_MAX_TICK, self._window / 10))
        self._counts: dict[str, int] = {}
        self._retired: list[dict[str, int]] = []  # past windows' counts, waiting for the sweep
        self._chunk = _SWEEP_BATCH
        self._wid = self._window_id(clock())
        self._ticking = False
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
        self._ticking = True
        self._on_tick()

    def close(self) -> None:
        timer, self._timer = self._timer, None
        self._ticking = False
        if timer is not None:
            timer.cancel()

    def hit(self, key: str) -> float:
        """Count one request for `key`: 0.0 when allowed, else the seconds until the window ends."""
        counts = self._counts
        n = counts[key] = counts.get(key, 0) + 1
        if n <= self._max and self._ticking:
            return 0.0
        return self._check(key, n)

    def _check(self, key: str, n: int) -> float:
        """Without a timer, or over the limit: read the clock, so a late or dead timer may allow a
        request one tick late but never refuses one wrongly."""
        now = self._clock()
        wid = self._window_id(now)
        if wid > self._wid:  # this request belongs to a window the timer has not opened yet
            if n == 1:
                del self._counts[key]
            else:
                self._counts[key] = n - 1
            self._rotate(wid)
            n = self._counts[key] = 1
        if self._retired and not self._ticking:  # no timer to sweep: a batch per request instead
            self._sweep()
        if n <= self._max:
            return 0.0
        self._limited += 1
        return max((self._wid + 1) * self._window - now, 0.001)

    def _rotate(self, wid: int) -> None:
        if self._counts:
            self._retired.append(self._counts)
            self._counts = {}
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
        if self._ticking and self._loop is not None:
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
        seen = self._drained + pending + sum(self._counts.values())
        keys = len(self._counts) + sum(map(len, self._retired))
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
        now = self._clock()
        number = int(now // self._window)
        left = (number + 1) * self._window - now
        try:
            count = await self._script(keys=[f"{self.prefix}{key}:{number}"],
                                       args=[max(1, round(left * 1000)) + _GRACE_MS])
        except self._failures as exc:
            self._failed(exc)
            return 0.0
        if int(count) <= self._max:
            self._allowed += 1
            return 0.0
        self._limited += 1
        return max(left, 0.001)
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
