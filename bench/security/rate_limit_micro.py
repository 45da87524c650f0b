"""ns per MemoryRateLimiter.hit() (timer started, inside a running loop) against a bare dict increment.

    .venv/bin/python bench/security/rate_limit_micro.py

Every figure includes the same `for key in keys` loop, printed on its own; the dict increment is the
floor a per-key counter cannot beat. Nothing is limited (max is huge): this is the allowed path.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from mega.security._rate_limit import MemoryRateLimiter, RateLimitPolicy

CALLS = 1_000_000
ROUNDS = 7


def best_ns(run: Callable[[list[str]], None], keys: list[str]) -> float:
    run(keys)  # warm up: every key exists before timing
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter_ns()
        run(keys)
        times.append(time.perf_counter_ns() - started)
    return min(times) / len(keys)


def empty_loop(keys: list[str]) -> None:
    for _key in keys:
        pass


def make_dict_increment() -> Callable[[list[str]], None]:
    counts: dict[str, int] = {}

    def run(keys: list[str]) -> None:
        for key in keys:
            counts[key] = counts.get(key, 0) + 1

    return run


def make_limiter_hit() -> tuple[MemoryRateLimiter, Callable[[list[str]], None]]:
    limiter = MemoryRateLimiter(RateLimitPolicy(max=10**12, window=60))
    limiter.start()
    hit = limiter.hit

    def run(keys: list[str]) -> None:
        for key in keys:
            hit(key)

    return limiter, run


async def main() -> None:
    print(f"{'keys':>7}  {'loop':>6}  {'dict +1':>8}  {'hit()':>7}  (ns per call, best of {ROUNDS})")
    for n_keys in (1, 10_000):
        keys = [f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(n_keys)] * (CALLS // n_keys)
        limiter, hit_run = make_limiter_hit()
        try:
            loop_ns = best_ns(empty_loop, keys)
            dict_ns = best_ns(make_dict_increment(), keys)
            hit_ns = best_ns(hit_run, keys)
        finally:
            limiter.close()
        print(f"{n_keys:>7}  {loop_ns:>6.1f}  {dict_ns:>8.1f}  {hit_ns:>7.1f}"
              f"   hit() - loop = {hit_ns - loop_ns:.1f} ns, {hit_ns / dict_ns:.2f}x the dict increment")


if __name__ == "__main__":
    asyncio.run(main())
