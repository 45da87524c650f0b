"""Brute-force guard for logins: failures counted per account and per client IP, then a lockout.

    guard = BruteForceGuard(ctx.cache("rate"))                     # any cache: memory, file, redis
    await guard.check(email, ip)                                   # 429 auth.locked while locked out
    if not await verify_password(user.password_hash, password):
        await guard.failed(email, ip)                              # counts; locks at the limit
        raise UnauthorizedError(message="wrong email or password")
    await guard.succeeded(email, ip)                               # forgets the account's failures

Or in one call: `ok = await guard.attempt(email, ip, lambda: verify_password(stored, password))`.

Two limits, because they stop two attacks: `max_failures` per account (guessing one user's password
from many addresses) and `ip_max_failures` per IP (one address trying many accounts). Failures count
in a window that starts at the first one; reaching a limit locks that account or IP for `lockout`
seconds. A success clears the account's count, not the IP's. Accounts are counted whether or not they
exist (so the guard does not reveal which do), under an unkeyed BLAKE2 digest of the normalised name
(the cache never holds email addresses). With a Redis cache the counts are shared by every process.

`check()` reserves the attempt: it increments the counters (the cache's atomic `incr`) before the
slow password hash, so a burst of parallel guesses cannot all pass a check that only reads. The
attempt past a limit is refused at once; `failed()` turns the reservation into the failure and
`succeeded()` gives it back. An attempt that is checked but neither failed nor succeeded (the
handler raised) stays counted as a failure: the guard fails closed.
"""

from __future__ import annotations

import hashlib
import inspect
import math
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from mega.errors import MegaError

__all__ = ["BruteForceGuard"]

_MAX_RESERVED = 10_000  # counters with a reservation not yet settled, per guard and process


class AuthLockedError(MegaError):
    status = 429
    default_code = "auth.locked"


def _positive(name: str, value: Any, *, integer: bool) -> Any:
    kinds = int if integer else int | float
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value) or value <= 0:
        raise MegaError("auth.invalid_option", f"BruteForceGuard {name} must be a positive "
                        f"{'integer' if integer else 'number of seconds'}, got {value!r}",
                        details={"option": name}, status=500)
    return value


class BruteForceGuard:
    """Counts failed logins per account and per IP in a cache and locks either out at its limit."""

    def __init__(self, cache: Any, *, max_failures: int = 5, ip_max_failures: int = 50,
                 window: float = 900, lockout: float = 900, prefix: str = "bf:") -> None:
        self.cache = cache
        self.max_failures = _positive("max_failures", max_failures, integer=True)
        self.ip_max_failures = _positive("ip_max_failures", ip_max_failures, integer=True)
        self.window = float(_positive("window", window, integer=False))
        self.lockout = float(_positive("lockout", lockout, integer=False))
        self.prefix = prefix
        # Reservations made by check() in this process and not yet settled by failed()/succeeded(),
        # per counter: failed() settles one instead of counting again. Per process is enough, since a
        # request checks and settles in the same one; the counts themselves live in the cache.
        self._reserved: Counter[str] = Counter()

    # -- keys ------------------------------------------------------------------------------------

    def _subjects(self, account: str, ip: str | None) -> list[tuple[str, str, int]]:
        """(scope, key stem, limit) for the account and, when known, the IP."""
        if not isinstance(account, str) or not account.strip():
            # 400: the account comes from a request body ({"email": ""}, {"email": 5})
            raise MegaError("auth.invalid_account", "the account (login name) must be a non-empty string",
                            status=400, hint="send the login name as a non-empty JSON string")
        digest = hashlib.blake2b(account.strip().casefold().encode("utf-8"), digest_size=16).hexdigest()
        out = [("account", f"{self.prefix}a:{digest}", self.max_failures)]
        if ip:
            out.append(("ip", f"{self.prefix}i:{ip}", self.ip_max_failures))
        return out

    # -- API -------------------------------------------------------------------------------------

    async def check(self, account: str, ip: str | None = None) -> None:
        """Raise 429 `auth.locked` (details: `scope`, `retry_after` seconds) while either is locked or
        its limit's worth of attempts is already counted; else reserve this attempt on both counters."""
        subjects = self._subjects(account, ip)
        locked = await self.cache.get_many([stem + ":lock" for _, stem, _ in subjects])
        for scope, stem, _ in subjects:
            if stem + ":lock" in locked:
                left = await self.cache.ttl(stem + ":lock")
                raise self._locked(scope, left if left is not None else self.lockout)
        taken: list[str] = []
        for scope, stem, limit in subjects:
            count = await self.cache.incr(stem)  # atomic on every cache: the reservation
            taken.append(stem)
            if count == 1 or await self.cache.ttl(stem) is None:  # also repairs a counter left unexpired
                await self.cache.expire(stem, self.window)
            if count > limit:  # the limit's worth are counted or in flight: refuse, give this one back
                for stem_taken in taken:
                    await self._give_back(stem_taken)
                left = await self.cache.ttl(stem + ":lock")
                raise self._locked(scope, left if left is not None else 1)
        if len(self._reserved) >= _MAX_RESERVED:  # unsettled ones (handlers that raised) pile up: forget
            self._reserved.clear()                 # them; a failure then counts again (fail closed)
        self._reserved.update(taken)

    def _locked(self, scope: str, seconds: float) -> AuthLockedError:
        retry = max(1, math.ceil(seconds))
        return AuthLockedError("auth.locked", f"too many failed attempts; try again in {retry} s",
                               details={"scope": scope, "retry_after": retry},
                               hint="wait, or have an administrator call guard.reset()")

    async def _give_back(self, stem: str) -> None:
        if await self.cache.incr(stem, -1) <= 0:  # never below zero (the counter was reset meanwhile)
            await self.cache.delete(stem)

    def _settle(self, stem: str) -> bool:
        """Take one reservation of `stem` made by check() in this process; False when there is none."""
        if self._reserved[stem] <= 0:
            return False
        self._reserved[stem] -= 1
        if not self._reserved[stem]:
            del self._reserved[stem]
        return True

    async def failed(self, account: str, ip: str | None = None) -> int:
        """Count one failure (the one `check()` reserved, else a new one); lock what reached its
        limit. Returns the attempts left before a lockout (0 once locked)."""
        left = math.inf
        for _, stem, limit in self._subjects(account, ip):
            if self._settle(stem):
                count = await self.cache.get(stem, 0)
                count = count if isinstance(count, int) else limit  # not ours: fail closed
            else:
                count = await self.cache.incr(stem)
                if count == 1 or await self.cache.ttl(stem) is None:
                    await self.cache.expire(stem, self.window)
            if count >= limit:
                await self.cache.set(stem + ":lock", 1, ttl=self.lockout)
                await self.cache.delete(stem)
            left = min(left, max(0, limit - count))
        return int(left)

    async def succeeded(self, account: str, ip: str | None = None) -> None:
        """A successful login: forget the account's failures (the IP's stay counted) and give back
        the IP's reservation made by `check()`."""
        subjects = self._subjects(account, ip)
        account_stem = subjects[0][1]
        self._settle(account_stem)
        await self.cache.delete(account_stem)
        for _, stem, _ in subjects[1:]:
            if self._settle(stem):
                await self._give_back(stem)

    async def reset(self, account: str | None = None, ip: str | None = None) -> None:
        """Lift a lockout and forget the failures (an administrator's unlock)."""
        stems = []
        if account is not None:
            stems.append(self._subjects(account, None)[0][1])
        if ip:
            stems.append(f"{self.prefix}i:{ip}")
        for stem in stems:
            await self.cache.delete(stem)
            await self.cache.delete(stem + ":lock")

    async def attempt(self, account: str, ip: str | None,
                      verify: Callable[[], Awaitable[bool] | bool]) -> bool:
        """`check`, then `verify()`; count the outcome. Returns what `verify` returned."""
        await self.check(account, ip)
        ok = verify()
        if inspect.isawaitable(ok):
            ok = await ok
        if ok:
            await self.succeeded(account, ip)
        else:
            await self.failed(account, ip)
        return bool(ok)
