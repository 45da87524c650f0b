"""make_store: defaults, ttl inheritance, the file sweep default, and config errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mega.errors import MegaError
from mega.sessions.factory import DEFAULT_FILE_CLEANUP_INTERVAL, make_store
from mega.sessions.file import FileSessionStore
from mega.sessions.redis import RedisSessionStore


def build(cfg: dict[str, Any] | None, root: Path = Path("/p")) -> Any:
    return make_store(cfg, session_ttl=100, root=root, cache_client=lambda alias: f"client:{alias}",
                      where="apps/web/app_config.py")


def test_defaults_inheritance_and_sweep() -> None:
    store = build(None)
    assert isinstance(store, FileSessionStore) and store.directory == Path("/p/var/sessions")
    assert store.ttl == 100 and store.cleanup_interval == DEFAULT_FILE_CLEANUP_INTERVAL
    assert build({"ttl": 5, "cleanup_interval": 0, "path": "tmp/s"}).cleanup_interval == 0
    assert build({"ttl": 5}).ttl == 5
    redis = build({"driver": "redis", "cache": "sessions", "prefix": "s:"})
    assert isinstance(redis, RedisSessionStore) and redis.client == "client:sessions" and redis.ttl == 100


@pytest.mark.parametrize("cfg, fragment", [
    ({"driver": "mongo"}, "unknown driver 'mongo'"),
    ({"driver": "file", "cleanup": 5}, "did you mean 'cleanup_interval'"),
    ({"driver": "redis"}, "needs 'cache'"),
    ({"driver": "file", "cache": "x"}, "unknown key 'cache'"),
    ({"ttl": 0}, "ttl must be a positive number"),
    ({"cleanup_interval": -1}, "cleanup_interval must be seconds"),
])
def test_bad_store_config(cfg: dict[str, Any], fragment: str) -> None:
    with pytest.raises(MegaError) as info:
        build(cfg)
    assert info.value.code == "session.invalid_config" and fragment in info.value.message
