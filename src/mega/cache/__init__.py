"""Caches: one contract (`contract.Cache`), drivers `memory`, `file` and `redis`."""

from mega.cache.contract import Cache, CacheError, CacheUnavailableError

__all__ = ["Cache", "CacheError", "CacheUnavailableError"]
