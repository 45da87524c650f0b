"""The 'locks' boot stage: each app's lock, isolation between apps, get_app().lock, ctx.lock, shutdown."""

from __future__ import annotations

from pathlib import Path

import pytest

from mega import get_app
from mega.boot.stages import STAGES, BootError, index_of
from mega.lock.memory import MemoryLock
from mega.testing import boot_for_test, make_client, running, write_project

TWO_APPS = {
    "mega_config.py": 'config = {"logger": {"level": "warning"}, "lock": {"ttl": 7}}\n',
    "apps/web/app_config.py": 'config = {"hosts": ["a.com"], "lock": {"wait": 0}}\n',
    "apps/web/routes/pages.py": """
        async def locked(req, reply, ctx):
            async with ctx.lock.hold("shared:key") as held:
                stats = await ctx.lock.stats()
                return {"token": held.token, "driver": stats["driver"], "held": stats["held"],
                        "ttl": held.ttl}

        async def twice(req, reply, ctx):
            async with ctx.lock.hold("shared:key"):
                return await ctx.lock.with_lock("shared:key", lambda: "unreachable")

        def routes(router):
            router.get("/lock", locked)
            router.get("/twice", twice)
    """,
    "apps/admin/app_config.py": 'config = {"hosts": ["b.com"]}\n',
}


def test_the_stage_runs_after_apps() -> None:
    assert index_of("locks") == index_of("apps") + 1
    assert [s.name for s in STAGES].count("locks") == 1


async def test_every_app_gets_its_own_lock_with_app_over_global_config(tmp_path: Path) -> None:
    async with running(write_project(tmp_path, TWO_APPS)):
        web, admin = get_app("web").lock, get_app("admin").lock
        assert isinstance(web, MemoryLock) and isinstance(admin, MemoryLock) and web is not admin
        assert (web.default_ttl, web.default_wait) == (7.0, 0.0)
        assert (admin.default_ttl, admin.default_wait) == (7.0, 5.0)
        held = await web.acquire("shared:key")
        other = await admin.acquire("shared:key", wait=0)  # same key in another app: no collision
        await web.release(held)
        await admin.release(other)


async def test_handlers_reach_the_lock_through_ctx(tmp_path: Path) -> None:
    async with running(write_project(tmp_path, TWO_APPS)) as rt, make_client(rt, host="a.com") as http:
        body = (await http.get("/lock")).json()
        assert body["ok"] and body["data"]["driver"] == "memory" and body["data"]["held"] == 1
        assert body["data"]["ttl"] == 7.0 and body["data"]["token"] > 0
        busy = await http.get("/twice")  # wait=0 in web's config: contention answers at once
        assert busy.status_code == 409
        assert busy.json()["error"]["code"] == "lock.timeout"


async def test_shutdown_releases_held_locks_and_closes(tmp_path: Path) -> None:
    rt = await boot_for_test(write_project(tmp_path, TWO_APPS))
    lock = get_app("web").lock
    held = await lock.acquire("k")
    await rt.close()
    assert held.released and lock.closed


async def test_a_bad_alias_fails_boot_at_the_config_stage_naming_it_and_the_declared_ones(
        tmp_path: Path) -> None:
    files = {
        "mega_config.py": """
            config = {"logger": {"level": "warning"},
                      "services": {"redis": {"local": {"url": "redis://127.0.0.1:6379/0"}}}}
        """,
        "apps/web/app_config.py": 'config = {"lock": {"redis": "webLock"}}\n',
        "apps/web/routes/pages.py": "def routes(router):\n    pass\n",
    }
    with pytest.raises(BootError) as info:
        await boot_for_test(write_project(tmp_path, files))
    err = info.value
    assert err.stage == "config" and err.details["cause"] == "config.invalid"
    [problem] = err.original.problems  # type: ignore[attr-defined]
    assert (problem.code, problem.key, problem.file) == ("config.unknown_alias", "lock.redis",
                                                         "apps/web/app_config.py")
    assert "lock.redis names 'webLock'" in problem.message and "(declared: local)" in problem.message
