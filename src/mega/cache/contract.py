"""The cache contract: one ABC every cache driver implements, plus the family's errors.

Public methods check their arguments, add the prefix and encode JSON, then call the driver's
`_do_*` primitives (full keys, encoded bytes) under the adapter's instrumentation. A driver's client
exceptions are translated in one place, `_translate`.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, ClassVar, TypeVar

import orjson

from mega._suggest import close_match
from mega.adapters.base import Adapter
from mega.errors import MegaError

__all__ = ["Cache", "CacheError", "CacheUnavailableError", "check_ttl", "next_count"]

T = TypeVar("T")

_INT64 = (-(2**63), 2**63 - 1)  # Redis counters are signed 64-bit; every driver keeps that range


class CacheError(MegaError):
    """A misuse of a cache (bad ttl, key or value): a developer error, so 500 over HTTP."""

    default_code = "cache.invalid_value"


class CacheUnavailableError(CacheError):
    status = 503
    default_code = "cache.unavailable"


def check_ttl(ttl: Any) -> float:
    """A ttl in seconds: a finite number above zero (floats allowed)."""
    if isinstance(ttl, bool) or not isinstance(ttl, int | float) or not math.isfinite(ttl) or ttl <= 0:
        raise CacheError("cache.invalid_ttl", f"ttl must be a positive number of seconds, got {ttl!r}",
                         details={"ttl": repr(ttl)},
                         hint="pass seconds (0.5, 60, 3600), or ttl=None for no expiry")
    return float(ttl)


def next_count(raw: bytes | None, by: int, key: str) -> int:
    """The value `incr` stores: the current integer (0 when missing) plus `by`."""
    current = 0
    if raw is not None:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            value = None
        if type(value) is not int:
            raise CacheError("cache.not_integer", f"cannot increment key {key!r}: its value is not an "
                             "integer", details={"key": key},
                             hint="incr() works on keys holding an integer, or none")
        current = value
    result = current + by
    if not _INT64[0] <= result <= _INT64[1]:
        raise CacheError("cache.not_integer", f"incrementing key {key!r} by {by} leaves the 64-bit range",
                         details={"key": key, "by": by})
    return result


class Cache(Adapter):
    """A key-value cache of JSON values, with optional expiry and a key prefix (namespace)."""

    family = "cache"
    # Options every cache takes; drivers add theirs. Anything else is refused when the cache is built.
    base_options: ClassVar[frozenset[str]] = frozenset({"prefix"})
    driver_options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, alias: str, options: dict[str, Any]) -> None:
        super().__init__(alias, options)
        self._check_options()
        prefix = self.options.get("prefix", "")
        if not isinstance(prefix, str):
            raise self._option_error("prefix", f"must be a string, got {prefix!r}")
        self.prefix: str = prefix

    # -- options -----------------------------------------------------------------------------

    def accepted_options(self) -> frozenset[str]:
        return self.base_options | self.driver_options

    def _check_options(self) -> None:
        accepted = self.accepted_options()
        for name in self.options:
            if name not in accepted:
                close = close_match(name, sorted(accepted))
                also = f"did you mean '{close}'? " if close else ""
                raise CacheError("cache.invalid_option", f"cache '{self.alias}' ({self.driver}) has an "
                                 f"unknown option '{name}'", details={"alias": self.alias, "option": name},
                                 hint=f"{also}options: {', '.join(sorted(accepted))}")

    def _option_error(self, name: str, problem: str) -> CacheError:
        return CacheError("cache.invalid_option", f"cache '{self.alias}' option '{name}' {problem}",
                          details={"alias": self.alias, "option": name})

    def _int_option(self, name: str, default: int) -> int:
        value = self.options.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self._option_error(name, f"must be a positive integer, got {value!r}")
        return value

    def _interval_option(self, name: str, default: float) -> float:
        """Seconds between runs of a periodic job; 0 turns it off."""
        value = self.options.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                or value < 0:
            raise self._option_error(name, f"must be a number of seconds (0 = off), got {value!r}")
        return float(value)

    # -- public API --------------------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        """The value at `key`, or `default` when it is missing or expired."""
        full = self._key(key)
        raw = await self._call("get", lambda: self._do_get(full))
        return default if raw is None else self._decode(raw, key)

    async def set(self, key: str, value: Any, ttl: float | None = None) -> None:
        """Store `value` (JSON); `ttl` seconds, None = no expiry (and drops any previous expiry)."""
        full = self._key(key)
        raw = self._encode(value, key)
        seconds = None if ttl is None else check_ttl(ttl)
        await self._call("set", lambda: self._do_set(full, raw, seconds))

    async def delete(self, key: str) -> bool:
        """True when the key existed."""
        full = self._key(key)
        return await self._call("delete", lambda: self._do_delete(full))

    async def has(self, key: str) -> bool:
        """Whether the key exists (a stored None exists; `get` alone cannot tell it from a miss)."""
        full = self._key(key)
        return await self._call("has", lambda: self._do_has(full))

    async def incr(self, key: str, by: int = 1) -> int:
        """Add `by` to the integer at `key` (a missing key counts from 0); keeps the key's expiry."""
        full = self._key(key)
        if isinstance(by, bool) or not isinstance(by, int):
            raise CacheError("cache.invalid_value", f"incr() needs an integer step, got {by!r}",
                             details={"key": key})
        return await self._call("incr", lambda: self._do_incr(full, by, key))

    async def expire(self, key: str, ttl: float) -> bool:
        """Give an existing key a new ttl; False when the key does not exist."""
        full = self._key(key)
        seconds = check_ttl(ttl)
        return await self._call("expire", lambda: self._do_expire(full, seconds))

    async def ttl(self, key: str) -> float | None:
        """Seconds left before `key` expires; None when it has no expiry or does not exist (see `has`)."""
        full = self._key(key)
        return await self._call("ttl", lambda: self._do_ttl(full))

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The keys that exist, with their values (missing ones are left out)."""
        wanted = list(dict.fromkeys(keys))
        full = [self._key(k) for k in wanted]
        if not full:
            return {}
        raws = await self._call("get_many", lambda: self._do_get_many(full))
        return {k: self._decode(raw, k) for k, raw in zip(wanted, raws, strict=True) if raw is not None}

    async def set_many(self, mapping: Mapping[str, Any], ttl: float | None = None) -> None:
        """Store several values at once, all with the same ttl."""
        items = [(self._key(k), self._encode(v, k)) for k, v in mapping.items()]
        seconds = None if ttl is None else check_ttl(ttl)
        if items:
            await self._call("set_many", lambda: self._do_set_many(items, seconds))

    async def clear(self) -> None:
        """Delete every key of this cache's namespace (its prefix), nothing else."""
        await self._call("clear", self._do_clear)

    def stats(self) -> dict[str, Any]:
        return {**super().stats(), "prefix": self.prefix}

    # -- driver primitives: full keys, encoded values ---------------------------------------

    @abstractmethod
    async def _do_get(self, key: str) -> bytes | None: ...

    @abstractmethod
    async def _do_set(self, key: str, raw: bytes, ttl: float | None) -> None: ...

    @abstractmethod
    async def _do_delete(self, key: str) -> bool: ...

    @abstractmethod
    async def _do_has(self, key: str) -> bool: ...

    @abstractmethod
    async def _do_incr(self, key: str, by: int, user_key: str) -> int: ...

    @abstractmethod
    async def _do_expire(self, key: str, ttl: float) -> bool: ...

    @abstractmethod
    async def _do_ttl(self, key: str) -> float | None: ...

    @abstractmethod
    async def _do_get_many(self, keys: list[str]) -> list[bytes | None]: ...

    @abstractmethod
    async def _do_set_many(self, items: list[tuple[str, bytes]], ttl: float | None) -> None: ...

    @abstractmethod
    async def _do_clear(self) -> None: ...

    # -- helpers -----------------------------------------------------------------------------

    def _key(self, key: str) -> str:
        if not isinstance(key, str):
            raise CacheError("cache.invalid_key", f"cache keys are strings, got {type(key).__name__} "
                             f"{key!r}", hint="convert it: str(key)")
        return self.prefix + key

    def _encode(self, value: Any, key: str) -> bytes:
        try:
            return orjson.dumps(value)
        except TypeError as exc:
            raise CacheError("cache.invalid_value", f"cannot store {type(value).__name__} at key {key!r}: "
                             f"{exc}", details={"key": key},
                             hint="cache values are JSON: dict, list, str, int, float, bool or None") from exc

    def _decode(self, raw: bytes, key: str) -> Any:
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise CacheError("cache.invalid_value", f"the value at key {key!r} is not JSON (written "
                             f"around the cache?)", details={"key": key}) from exc

    async def _call(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            result: T = await self.instrumented(operation, call)
        except MegaError:
            raise
        except Exception as exc:
            raise self._translate(operation, exc) from exc
        return result

    def _translate(self, operation: str, exc: Exception) -> MegaError:
        """The error a client exception becomes (drivers refine it)."""
        # The message may reach a client: the exception's type only; its text (paths, hosts) stays
        # in the cause, which the error log shows.
        return CacheUnavailableError(
            "cache.unavailable", f"cache '{self.alias}' ({self.driver}) failed during {operation} "
            f"({type(exc).__name__})",
            details={"alias": self.alias, "driver": self.driver, "operation": operation},
            hint=f"check that the service runs; readiness reports it as 'cache:{self.alias}'")
