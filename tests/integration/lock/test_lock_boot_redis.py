"""A booted project whose `web` app locks on Redis (services.redis alias) and whose `admin` app keeps
memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from mega import get_app
from mega.lock.memory import MemoryLock
from mega.lock.redis import RedisLock
from mega.testing import make_client, running, write_project
from tests.integration.adapters._services import require_redis

pytestmark = pytest.mark.integration


def project(root: Path, url: str) -> Path:
    files = {
        "mega_config.py": f"""
            config = {{"logger": {{"level": "warning"}},
                      "services": {{"redis": {{"webLock": {{"url": {url!r}}}}}}}}}
        """,
        "apps/web/app_config.py": """
            config = {"hosts": ["a.com"], "lock": {"redis": "webLock", "ttl": "3s", "wait": 0}}
        """,
        "apps/web/routes/pages.py": """
            async def locked(req, reply, ctx):
                return await ctx.lock.with_lock("shared:key", lambda: {"driver": ctx.lock.driver})

            def routes(router):
                router.get("/lock", locked)
        """,
        "apps/admin/app_config.py": 'config = {"hosts": ["b.com"]}\n',
    }
    return write_project(root, files)


async def test_a_redis_alias_gives_the_app_a_redis_lock_on_that_client(tmp_path: Path) -> None:
    url = require_redis()
    async with running(project(tmp_path, url)) as rt:
        web, admin = get_app("web").lock, get_app("admin").lock
        assert isinstance(web, RedisLock) and isinstance(admin, MemoryLock)
        assert web.client is rt.adapters.redis("webLock")
        assert web.prefix == "mega:lock:web:" and (web.default_ttl, web.default_wait) == (3.0, 0.0)
        held = await web.acquire("shared:key", wait=0)
        assert await web.client.get("mega:lock:web:{shared:key}") is not None
        other = await admin.acquire("shared:key", wait=0)
        await admin.release(other)
        async with make_client(rt, host="a.com") as http:
            busy = await http.get("/lock")
            assert busy.status_code == 409 and busy.json()["error"]["code"] == "lock.timeout"
            await web.release(held)
            assert (await http.get("/lock")).json()["data"] == {"driver": "redis"}
        held = await web.acquire("left:held", wait=0)
        client = web.client
    assert held.released  # shutdown released it before the adapters closed the client
    probe = type(client).from_url(url)
    assert await probe.exists("mega:lock:web:{left:held}") == 0
    await probe.aclose()
