"""One app's security settings, resolved at boot into one guard function per route.

Keys in app_config.py: `helmet`, `cors`, `csrf`, `rate_limit` (declared in `mega.security._settings`).
The same keys as route options replace the app's value for that route (never merged with it). What a
route's guard does per request is only what its settings need: with the defaults (helmet on, CORS
off, CSRF on, 1,000 requests a minute per IP in memory) a GET costs one dict update; an unsafe method
adds a scan of its headers.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from mega.errors import MegaError, RateLimitedError
from mega.http.response import Headers
from mega.security import _client_ip as client_ip
from mega.security._cors import CorsPolicy, cors_policy
from mega.security._csrf import SAFE_METHODS, CsrfPolicy, JsonBodyCsrfPolicy
from mega.security._headers import helmet_headers
from mega.security._rate_limit import MemoryRateLimiter, RateLimitPolicy, RedisRateLimiter
from mega.security._settings import (
    RATE_REDIS_ALIAS,
    SECURITY_KEYS,
    SecuritySettings,
    route_security,
)

if TYPE_CHECKING:
    from mega.http.request import Request
    from mega.http.router import RouteDef

__all__ = ["SECURITY_KEYS", "AppSecurity", "Guard"]

Guard = Callable[[dict[str, Any], "Request | None"], "Headers | Awaitable[Headers | None] | None"]
Limiter = MemoryRateLimiter | RedisRateLimiter


def rate_limited(retry_after: float) -> RateLimitedError:
    seconds = max(1, math.ceil(retry_after))
    err = RateLimitedError("rate_limit.exceeded", "too many requests", details={"retry_after": seconds},
                           hint=f"slow down; retry in {seconds} s")
    err.headers = [(b"retry-after", b"%d" % seconds)]
    return err


class AppSecurity:
    """The app's resolved settings and the rate limiters its routes share.

    `adapters()` returns the project's AdapterManager (or None), looked up when a route is compiled:
    a Redis-counted limit takes its connection from there.
    """

    def __init__(self, settings: SecuritySettings, *, app_name: str, hosts: Sequence[str],
                 adapters: Callable[[], Any] = lambda: None, asp: bool = False) -> None:
        self.settings = settings
        self.app_name = app_name
        self.hosts = [h.lower() for h in hosts]
        self._adapters = adapters
        self.helmet = helmet_headers(settings.helmet)
        self.asp = asp  # the app turns ASP on: CORS allows and exposes its headers
        self.cors = cors_policy(settings.cors, asp=asp)
        self.csrf = settings.csrf
        self.rate = settings.rate_limit
        self.limiters: dict[RateLimitPolicy, Limiter] = {}

    # -- per route ---------------------------------------------------------------------------

    def _route(self, route: RouteDef) -> SecuritySettings | None:
        """The route's settings when its options replace some of the app's, else None."""
        if not any(key in route.options for key in SECURITY_KEYS):
            return None
        file = f"{route.source or 'routes'} (route {route.method} {route.path})"
        return route_security(route.options, self.settings, file=file)

    def route_settings(self, route: RouteDef) -> tuple[CorsPolicy | None, bool, RateLimitPolicy | None]:
        own = self._route(route)
        if own is None:
            return self.cors, self.csrf, self.rate
        cors = cors_policy(own.cors, asp=self.asp) if "cors" in route.options else self.cors
        return cors, own.csrf, own.rate_limit

    def route_helmet(self, route: RouteDef) -> Headers | None:
        """The route's own secure headers when it overrides the app's, else None."""
        if "helmet" not in route.options:
            return None
        own = self._route(route)
        return helmet_headers(own.helmet) if own is not None else None

    def guard_for(self, route: RouteDef) -> tuple[Guard | None, CorsPolicy | None, bool]:
        """(guard or None, the route's CORS policy, whether the guard needs the Request)."""
        cors, csrf_on, rate = self.route_settings(route)
        # Only listed origins count as the app's own: with origins "*", any site would pass.
        trusted = cors.allows if cors is not None and cors.origins is not None else None
        csrf = None
        if csrf_on and route.method not in SAFE_METHODS:
            # A route with a body schema takes JSON only: its content type is checked before CSRF.
            policy = JsonBodyCsrfPolicy if route.options.get("body") is not None else CsrfPolicy
            csrf = policy(self.hosts, trusted)
        limiter = self._limiter(rate) if rate is not None else None
        if limiter is None and csrf is None and cors is None:
            return None, None, False
        return _compile_guard(limiter, csrf, cors), cors, csrf is not None

    def _limiter(self, policy: RateLimitPolicy) -> Limiter:
        limiter = self.limiters.get(policy)
        if limiter is None:
            limiter = self.limiters[policy] = self._new_limiter(policy)
        return limiter

    def _new_limiter(self, policy: RateLimitPolicy) -> Limiter:
        adapters = self._adapters()
        alias = policy.redis
        if alias is None and adapters is not None and RATE_REDIS_ALIAS in adapters.aliases("redis"):
            alias = RATE_REDIS_ALIAS
        if alias is None:
            return _memory(policy)
        if adapters is None:
            raise MegaError("rate_limit.no_redis", f"app '{self.app_name}': rate_limit counts in Redis "
                            f"connection {alias!r} but no adapters are booted", status=500,
                            hint="boot the project (the adapters stage opens services.redis), or drop "
                                 "'redis' to count in memory")
        prefix = f"mega:rl:{self.app_name}:{len(self.limiters)}:"
        return RedisRateLimiter(policy, adapters.redis(alias), prefix=prefix)

    def close(self) -> None:
        for limiter in self.limiters.values():
            if isinstance(limiter, MemoryRateLimiter):
                limiter.close()


def _memory(policy: RateLimitPolicy) -> MemoryRateLimiter:
    limiter = MemoryRateLimiter(policy)
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # compiled outside a loop (tests, tools): correct, only unswept
        return limiter
    limiter.start()  # the clock tick and the sweep of past windows, off the request path
    return limiter


def _compile_guard(limiter: Limiter | None, csrf: CsrfPolicy | None, cors: CorsPolicy | None) -> Guard:
    """The per-request check of one route, with only the parts it uses."""
    memory_hit = limiter.hit if isinstance(limiter, MemoryRateLimiter) else None
    redis_hit = limiter.hit if isinstance(limiter, RedisRateLimiter) else None
    client_of = client_ip.client_ip
    bucket = client_ip.Buckets(limiter.policy.ipv6_prefix).of if limiter is not None else None
    csrf_check = csrf.check if csrf is not None else None
    cors_headers = cors.response_headers if cors is not None else None

    async def slow(ip: str, pending: Awaitable[None] | None, extra: Headers | None) -> Headers | None:
        if redis_hit is not None:
            retry = await redis_hit(ip)
            if retry:
                raise rate_limited(retry)
        if pending is not None:
            await pending
        return extra

    def guard(scope: dict[str, Any], req: Request | None) -> Headers | Awaitable[Headers | None] | None:
        ip = ""
        if bucket is not None:
            ip = bucket(client_of(scope) or "")  # IPv6: the client's network, /64 by default
            if memory_hit is not None:
                retry = memory_hit(ip)
                if retry:
                    raise rate_limited(retry)
        pending = csrf_check(scope, req) if csrf_check is not None else None  # type: ignore[arg-type]
        extra = cors_headers(scope["headers"]) if cors_headers is not None else None
        if redis_hit is not None or pending is not None:
            return slow(ip, pending, extra)
        return extra or None

    return guard
