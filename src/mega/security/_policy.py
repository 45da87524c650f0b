"""One app's security settings, resolved at boot into one guard function per route.

Keys in app_config.py: `helmet`, `cors`, `csrf`, `rate_limit` (declared in `mega.security._settings`).
The same keys as route options replace the app's value for that route (never merged with it). What a
route's guard does per request is only what its settings need: with the defaults (helmet on, CORS
off, CSRF on, 1,000 requests a minute per IP in memory) a GET costs one dict update; an unsafe method
adds a scan of its headers.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from mega.errors import MegaError, RateLimitedError
from mega.http.response import Headers
from mega.http.router import describe
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
    from mega.app.ctx import Ctx
    from mega.http.request import Request
    from mega.http.router import RouteDef

__all__ = ["AUTH_KEY", "SECURITY_KEYS", "AppSecurity", "Guard", "KeyedLimit"]

Guard = Callable[[dict[str, Any], "Request | None"], "Headers | Awaitable[Headers | None] | None"]
Limiter = MemoryRateLimiter | RedisRateLimiter


# The RateLimit header fields of draft-ietf-httpapi-ratelimit-headers (-08 to -11 share this form):
#   RateLimit-Policy: "default";q=<max>;w=<window seconds>
#   RateLimit: "default";r=<requests left>;t=<seconds until the window ends>
# Each route has one policy, so one name for all.
_POLICY_NAME = b'"default"'
_RL_POLICY = b"ratelimit-policy"
_RL_STATE = b"ratelimit"


def policy_field(policy: RateLimitPolicy) -> tuple[bytes, bytes]:
    """The RateLimit-Policy header of `policy` (computed once per route, at boot)."""
    return _RL_POLICY, _POLICY_NAME + b";q=%d;w=%d" % (policy.max, max(1, math.ceil(policy.window)))


def rate_headers(field: tuple[bytes, bytes], most: int, count: int, reset: float) -> Headers:
    """RateLimit-Policy and RateLimit after `count` requests of at most `most`, `reset` s before the
    window ends."""
    return [field, (_RL_STATE, _POLICY_NAME + b";r=%d;t=%d" % (max(0, most - count), math.ceil(reset)))]


def rate_limited(retry_after: float, policy: RateLimitPolicy | None = None) -> RateLimitedError:
    seconds = max(1, math.ceil(retry_after))
    err = RateLimitedError("rate_limit.exceeded", "too many requests", details={"retry_after": seconds},
                           hint=f"slow down; retry in {seconds} s")
    err.headers = [(b"retry-after", b"%d" % seconds)]
    if policy is not None:  # a 429 always says which policy refused it and when it ends
        err.headers += rate_headers(policy_field(policy), policy.max, policy.max + 1, seconds)
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
        # A limit keyed by user or by a callable runs later, after the `before` middleware (keyed_limit_for).
        limiter = self._limiter(rate) if rate is not None and rate.key == "ip" else None
        if limiter is None and csrf is None and cors is None:
            return None, None, False
        return _compile_guard(limiter, csrf, cors), cors, csrf is not None

    def keyed_limit_for(self, route: RouteDef) -> KeyedLimit | None:
        """The route's rate limit when it is keyed by user or by a callable, else None: it needs the
        ctx, so the pipeline runs it after the `before` middleware, right before the handler."""
        rate = self.route_settings(route)[2]
        if rate is None or rate.key == "ip":
            return None
        return _compile_keyed(self._limiter(rate), rate)

    def unmatched_limit(self) -> Callable[[dict[str, Any]], float | Awaitable[float]] | None:
        """The app's own limit, counted per IP, for what the dispatcher answers itself (404, 405,
        OPTIONS, redirects): a scan of unknown paths is limited like any other traffic. It shares the
        counter of the routes under the app's limit."""
        rate = self.rate
        if rate is None:
            return None
        limiter = self._limiter(rate)
        bucket = client_ip.Buckets(rate.ipv6_prefix).of
        client_of = client_ip.client_ip
        if isinstance(limiter, MemoryRateLimiter):
            most = limiter.policy.max
            check = limiter.check

            def memory_limit(scope: dict[str, Any]) -> float:
                # `limiter.hit` written out, as in the routes' memory guard: same counts and verdicts.
                ip = client_of(scope) or ""
                if ":" in ip:  # IPv6: the client's network
                    ip = bucket(ip)
                counts = limiter.counts
                n = counts[ip] = counts.get(ip, 0) + 1
                if n <= most and limiter.ticking:
                    return 0.0
                return check(ip, n)

            return memory_limit
        hit = limiter.hit
        return lambda scope: hit(bucket(client_of(scope) or ""))

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
    if limiter is not None and limiter.policy.headers:
        return _compile_counting_guard(limiter, csrf, cors)
    if isinstance(limiter, MemoryRateLimiter):
        return _compile_memory_guard(limiter, csrf, cors)
    redis_hit = limiter.hit if limiter is not None else None
    policy = limiter.policy if limiter is not None else None
    client_of = client_ip.client_ip
    bucket = client_ip.Buckets(limiter.policy.ipv6_prefix).of if limiter is not None else None
    csrf_check = csrf.check if csrf is not None else None
    cors_headers = cors.response_headers if cors is not None else None

    async def slow(ip: str, pending: Awaitable[None] | None, extra: Headers | None) -> Headers | None:
        if redis_hit is not None:
            retry = await redis_hit(ip)
            if retry:
                raise rate_limited(retry, policy)
        if pending is not None:
            await pending
        return extra

    def guard(scope: dict[str, Any], req: Request | None) -> Headers | Awaitable[Headers | None] | None:
        ip = bucket(client_of(scope) or "") if bucket is not None else ""  # IPv6: its network, /64
        pending = csrf_check(scope, req) if csrf_check is not None else None  # type: ignore[arg-type]
        extra = cors_headers(scope["headers"]) if cors_headers is not None else None
        if redis_hit is not None or pending is not None:
            return slow(ip, pending, extra)
        return extra or None

    return guard


def _compile_memory_guard(limiter: MemoryRateLimiter, csrf: CsrfPolicy | None,
                          cors: CorsPolicy | None) -> Guard:
    """The guard of a route counted in memory (the default), with `limiter.hit` written out in it: one
    dict update and no call but the client's address (calling the bucket and the limiter cost about
    0.1 µs more per request). Same counts, verdicts and errors as `hit`."""
    policy = limiter.policy
    most = policy.max
    check = limiter.check
    client_of = client_ip.client_ip
    bucket = client_ip.Buckets(policy.ipv6_prefix).of
    csrf_check = csrf.check if csrf is not None else None
    cors_headers = cors.response_headers if cors is not None else None

    def guard(scope: dict[str, Any], req: Request | None) -> Headers | Awaitable[Headers | None] | None:
        ip = client_of(scope) or ""
        if ":" in ip:  # IPv6: the client's network, /64 by default (IPv4 is never written with a colon)
            ip = bucket(ip)
        counts = limiter.counts  # the current window's: read per request, a new window is a new dict
        n = counts[ip] = counts.get(ip, 0) + 1
        if n > most or not limiter.ticking:  # over the limit, or no timer: the clock decides (as hit)
            retry = check(ip, n)
            if retry:
                raise rate_limited(retry, policy)
        if csrf_check is not None:
            pending = csrf_check(scope, req)  # type: ignore[arg-type]
            if pending is not None:
                return _then_extra(pending, cors_headers(scope["headers"]) if cors_headers is not None
                                   else None)
        if cors_headers is not None:
            return cors_headers(scope["headers"]) or None
        return None

    return guard


def _compile_counting_guard(limiter: Limiter, csrf: CsrfPolicy | None, cors: CorsPolicy | None) -> Guard:
    """The guard of a route that sends the RateLimit headers: it needs the count, not only a verdict,
    so it is its own function and routes without the headers pay nothing for them."""
    policy = limiter.policy
    most = policy.max
    field = policy_field(policy)
    local = limiter.local
    hit_count = limiter.hit_count
    client_of = client_ip.client_ip
    bucket = client_ip.Buckets(policy.ipv6_prefix).of
    csrf_check = csrf.check if csrf is not None else None
    cors_headers = cors.response_headers if cors is not None else None

    def counted(count: int, reset: float, extra: Headers | None) -> Headers:
        if count > most:
            raise rate_limited(reset, policy)
        headers = rate_headers(field, most, count, reset)
        return extra + headers if extra else headers

    async def slow(ip: str, scope: dict[str, Any], req: Request | None) -> Headers | None:
        count, reset = await hit_count(ip)  # type: ignore[misc]
        extra = counted(count, reset, None)
        pending = csrf_check(scope, req) if csrf_check is not None else None  # type: ignore[arg-type]
        if pending is not None:
            await pending
        return extra + cors_headers(scope["headers"]) if cors_headers is not None else extra

    def guard(scope: dict[str, Any], req: Request | None) -> Headers | Awaitable[Headers | None] | None:
        ip = bucket(client_of(scope) or "")
        if not local:
            return slow(ip, scope, req)
        count, reset = hit_count(ip)  # type: ignore[misc]
        extra = counted(count, reset, cors_headers(scope["headers"]) if cors_headers is not None else None)
        pending = csrf_check(scope, req) if csrf_check is not None else None  # type: ignore[arg-type]
        if pending is not None:
            return _then(pending, extra)
        return extra

    return guard


async def _then(pending: Awaitable[None], extra: Headers) -> Headers:
    await pending
    return extra


async def _then_extra(pending: Awaitable[None], extra: Headers | None) -> Headers | None:
    await pending
    return extra


# -- limits keyed by user or by a callable ---------------------------------------------------------

AUTH_KEY = "_mega_auth"  # the session key login() writes: {"user_id": ..., "user_name": ...}
KeyedLimit = Callable[[dict[str, Any], "Ctx"], Awaitable["Headers | None"]]


def _user_id(auth: Any) -> Any:
    """The user id in `ctx.auth` or the session's login record; None when anonymous."""
    if auth is None:
        return None
    if isinstance(auth, dict):
        return auth.get("user_id")
    return getattr(auth, "user_id", None)


def _user_key(policy: RateLimitPolicy) -> Callable[[dict[str, Any], Ctx], Awaitable[str]]:
    """The logged-in user's id: `ctx.auth` (set by middleware that ran before), else the session's
    login record; anonymous requests are counted by IP (IPv6 per network)."""
    client_of = client_ip.client_ip
    bucket = client_ip.Buckets(policy.ipv6_prefix).of

    async def user_key(scope: dict[str, Any], ctx: Ctx) -> str:
        try:
            uid = _user_id(ctx.auth)
        except Exception:  # an auth property that cannot answer yet: ask the session below
            uid = None
        if uid is None:
            app = ctx.app
            if app.sessions is not None and ctx.req is not None:
                # Read only: a session of its own (nothing is saved from it, no cookie is set); a
                # request without the session cookie reads nothing at all.
                session = ctx._session or app.session_for(ctx.req)
                uid = _user_id(await session.get(AUTH_KEY)) if session._cookie_sid is not None else None
        if uid is not None:
            return f"user:{uid}"
        return bucket(client_of(scope) or "")

    return user_key


def _custom_key(key: Callable[..., Any]) -> Callable[[dict[str, Any], Ctx], Awaitable[str]]:
    """The route's key function, sync or async; what it raises or a value that is not a string is a
    500 `rate_limit.key_failed`."""

    async def custom_key(scope: dict[str, Any], ctx: Ctx) -> str:
        try:
            value = key(ctx)
            if inspect.isawaitable(value):
                value = await value
        except Exception as exc:
            raise MegaError("rate_limit.key_failed", f"the rate limit key function {describe(key)} raised "
                            f"{type(exc).__name__}: {exc}", status=500, cause=exc,
                            hint="make the key function return a string for every request") from exc
        if not isinstance(value, str):
            raise MegaError("rate_limit.key_failed", f"the rate limit key function {describe(key)} returned "
                            f"{type(value).__name__} {value!r:.80}, not a string", status=500,
                            hint="return a string, e.g. str(ctx.auth['user_id']) or the client's IP")
        return "key:" + value

    return custom_key


def _compile_keyed(limiter: Limiter, policy: RateLimitPolicy) -> KeyedLimit:
    """Count a request for the logged-in user (the IP when anonymous) or the route's key function."""
    key_of = _user_key(policy) if policy.key == "user" else _custom_key(policy.key)  # type: ignore[arg-type]
    most = policy.max
    field = policy_field(policy) if policy.headers else None
    local = limiter.local

    async def keyed(scope: dict[str, Any], ctx: Ctx) -> Headers | None:
        name = await key_of(scope, ctx)
        if field is None:
            retry = limiter.hit(name) if local else await limiter.hit(name)  # type: ignore[misc]
            if retry:
                raise rate_limited(retry, policy)  # type: ignore[arg-type]
            return None
        counted = limiter.hit_count(name)
        count, reset = counted if local else await counted  # type: ignore[misc]
        if count > most:
            raise rate_limited(reset, policy)
        return rate_headers(field, most, count, reset)

    return keyed
