"""Which lock each app gets: its `lock` key in app_config.py, else mega_config.py's, else memory.

    lock = {"redis": "main"}                    # redis, on the client of services.redis.main
    lock = {"driver": "memory"}                 # in-process
    lock = {..., "ttl": 10, "wait": 5}          # defaults of acquire/hold/with_lock, seconds
    lock = {..., "prefix": "mega:lock:"}        # Redis key prefix; the app's name is always appended

An app's keys are laid over the global ones (`{"ttl": 30}` alone keeps the global backend); an app
that names a backend (`driver` or `redis`) takes none of the global's. Every app gets its own lock
instance and its own key space (`<prefix><app>:`), so one key in two apps never collides.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from difflib import get_close_matches
from typing import Any

from mega.lock.contract import DEFAULT_TTL, DEFAULT_WAIT, Lock, LockError, check_ttl, check_wait
from mega.lock.memory import MemoryLock

__all__ = ["DEFAULT_PREFIX", "LockManager", "LockSpec", "parse_spec"]

log = logging.getLogger("mega.lock")

KEYS = ("driver", "redis", "prefix", "ttl", "wait")
DRIVERS = ("memory", "redis")  # a `cluster` driver (IPC to the primary process) slots in here
BACKEND_KEYS = ("driver", "redis")
DEFAULT_PREFIX = "mega:lock:"

ClientFor = Callable[[str], Awaitable[Any]]
"""Returns the connected redis.asyncio.Redis client of `services.redis.<alias>`."""


@dataclass(frozen=True)
class LockSpec:
    driver: str
    cache: str | None  # the services.redis alias of a redis lock
    prefix: str
    ttl: float
    wait: float
    where: str  # the file that chose it, for messages


DEFAULT = LockSpec("memory", None, DEFAULT_PREFIX, DEFAULT_TTL, DEFAULT_WAIT, "default")


def _config_error(where: str, message: str, hint: str, **details: Any) -> LockError:
    return LockError("lock.invalid_config", f"{where}: lock: {message}", details={"file": where, **details},
                     hint=hint, status=500)


def parse_spec(cfg: object, *, where: str, caches: Mapping[str, str]) -> LockSpec | None:
    """A `lock` config value → LockSpec (None when absent). `caches`: services.redis alias → 'redis'."""
    if cfg is None:
        return None
    if not isinstance(cfg, Mapping):
        raise _config_error(where, f"must be a dict, got {type(cfg).__name__}", "e.g. {'redis': 'main'}")
    for key in cfg:
        if key not in KEYS:
            near = get_close_matches(str(key), KEYS, n=1)
            raise _config_error(where, f"unknown key {key!r}" + (f" (did you mean {near[0]!r}?)" if near
                                                                  else ""),
                                f"keys: {', '.join(KEYS)}", key=str(key))
    driver, cache = _backend(cfg, where, caches)
    prefix = cfg.get("prefix", DEFAULT_PREFIX)
    if not isinstance(prefix, str):
        raise _config_error(where, f"prefix must be a string, got {prefix!r}", "e.g. 'myproject:lock:'")
    try:
        ttl = check_ttl(cfg.get("ttl", DEFAULT_TTL))
        wait = check_wait(cfg.get("wait", DEFAULT_WAIT))
    except LockError as exc:
        raise _config_error(where, exc.message, exc.hint or "") from exc
    return LockSpec(driver, cache, prefix, ttl, wait, where)


def _backend(cfg: Mapping[str, Any], where: str, caches: Mapping[str, str]) -> tuple[str, str | None]:
    alias = cfg.get("redis")
    driver = cfg.get("driver", "redis" if alias is not None else "memory")
    if driver not in DRIVERS:
        raise _config_error(where, f"unknown driver {driver!r}", f"drivers: {', '.join(DRIVERS)}",
                            driver=repr(driver))
    if driver == "memory":
        if alias is not None:
            raise _config_error(where, "'driver': 'memory' with a 'redis' alias", "drop one of them")
        return driver, None
    redis_aliases = list(caches)
    if alias is None:
        if len(redis_aliases) != 1:
            raise _config_error(where, "'driver': 'redis' needs 'redis': '<alias>'",
                                f"services.redis: {', '.join(redis_aliases) or '(none)'}")
        alias = redis_aliases[0]
    declared = ", ".join(caches) or "(none)"
    if not isinstance(alias, str) or alias not in caches:
        near = get_close_matches(str(alias), list(caches), n=1)
        guess = f"did you mean {near[0]!r}? " if near else ""
        raise LockError("lock.unknown_cache", f"{where}: lock.redis {alias!r} is not declared in "
                        f"services.redis (declared: {declared})",
                        details={"file": where, "alias": repr(alias), "declared": list(caches)},
                        hint=f"{guess}declare it in mega_config.py: services = {{'redis': {{{alias!r}: "
                             "{'url': 'redis://127.0.0.1:6379/0'}}}}", status=500)
    return driver, alias


class LockManager:
    """Builds each app's lock from config, and closes them all at shutdown."""

    def __init__(self, global_cfg: object, caches: Mapping[str, str], client_for: ClientFor) -> None:
        self.caches = dict(caches)
        self.global_cfg = global_cfg if isinstance(global_cfg, Mapping) else None
        self.fallback = parse_spec(global_cfg, where="mega_config.py", caches=self.caches) or DEFAULT
        self.locks: dict[str, Lock] = {}
        self._client_for = client_for

    def spec_for(self, app: str, app_cfg: object) -> LockSpec:
        if isinstance(app_cfg, Mapping) and self.global_cfg is not None:
            names_backend = any(k in app_cfg for k in BACKEND_KEYS)
            base = {k: v for k, v in self.global_cfg.items() if not (names_backend and k in BACKEND_KEYS)}
            app_cfg = {**base, **app_cfg}
        spec = parse_spec(app_cfg, where=f"apps/{app}/app_config.py", caches=self.caches)
        return spec or self.fallback

    async def open(self, app: str, app_cfg: object = None) -> Lock:
        spec = self.spec_for(app, app_cfg)
        options: dict[str, Any] = {"ttl": spec.ttl, "wait": spec.wait, "name": f"app '{app}'"}
        lock: Lock
        if spec.driver == "redis":
            from mega.lock.redis import RedisLock

            assert spec.cache is not None  # parse_spec resolved it
            client = await self._client_for(spec.cache)
            lock = RedisLock(client, prefix=f"{spec.prefix}{app}:", **options)
        else:
            lock = MemoryLock(**options)
        self.locks[app] = lock
        log.debug("app %s: lock %s (%s)", app, spec.cache or spec.driver, spec.where)
        return lock

    async def close(self) -> None:
        """Close every app's lock: held locks are released, waiters get `lock.closed`."""
        for app, lock in self.locks.items():
            try:
                await lock.close()
            except Exception:
                log.exception("closing the lock of app %s failed", app)
