"""Staged boot of real project directories: multi-app by Host, stage errors, registry, health."""

from __future__ import annotations

import os

import pytest

import mega
from mega.app import registry
from mega.boot import stages
from mega.boot.stages import BootError, Stage
from mega.config import ConfigError
from mega.testing import make_client, running, write_project

MULTI = {
    "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
    "apps/web/app_config.py": 'config = {"hosts": ["a.com"], "headers": {"x-app": "web"}}\n',
    "apps/web/routes/pages.py": """
        from mega import get_app

        async def whoami(req, reply, ctx):
            return {"app": ctx.app.name, "admin": get_app("admin").name}

        def routes(router):
            router.get("/whoami", whoami)
            router.get("/web-only", lambda: "web")
    """,
    "apps/admin/app_config.py": 'config = {"hosts": ["b.com"]}\n',
    "apps/admin/routes/pages.py": """
        async def whoami(req, reply, ctx):
            return {"app": ctx.app.name, "greeting": ctx.services.greeter.hello()}

        def routes(router):
            router.get("/whoami", whoami)
    """,
    "apps/admin/services/greeter.py": """
        class Greeter:
            def hello(self):
                return "hi from admin"
    """,
}


async def test_requests_route_to_apps_by_host(tmp_path):
    root = write_project(tmp_path, MULTI)
    async with running(root) as rt:
        assert list(rt.apps) == ["admin", "web"]
        async with make_client(rt, host="a.com:3000") as web:
            r = await web.get("/whoami")
            assert r.json()["data"] == {"app": "web", "admin": "admin"}
            assert r.headers["x-app"] == "web"
        async with make_client(rt, host="b.com") as admin:
            r = await admin.get("/whoami")
            assert r.json()["data"] == {"app": "admin", "greeting": "hi from admin"}
            assert "x-app" not in r.headers
            assert (await admin.get("/web-only")).status_code == 404
        async with make_client(rt, host="c.com") as other:
            r = await other.get("/whoami")
            assert r.status_code == 404
            assert r.json()["error"]["code"] == "app.unknown_host"
    assert not registry.has_app()


@pytest.mark.parametrize("env", ["development", "test", "production"])
@pytest.mark.usefixtures("restore_logging")
async def test_an_unknown_host_lists_the_hosts_only_in_development(tmp_path, env):
    environ = {**os.environ, "MEGA_ENV": env, "SESSION_SECRET": "s" * 32}
    async with running(write_project(tmp_path, MULTI), environ=environ) as rt, \
            make_client(rt, host="c.com") as http:
        error = (await http.get("/whoami")).json()["error"]
    assert error["code"] == "app.unknown_host" and error["message"] == "no app serves host 'c.com'"
    shown = {"host": "c.com", "hosts": ["a.com", "b.com"]} if env == "development" else {"host": "c.com"}
    assert error["details"] == shown


async def test_the_only_app_without_hosts_takes_the_unclaimed_hosts(tmp_path):
    files = dict(MULTI)
    files["apps/web/app_config.py"] = 'config = {"headers": {"x-app": "web"}}\n'
    async with running(write_project(tmp_path, files)) as rt:
        for host in ("localhost:8000", "127.0.0.1", "c.com"):
            async with make_client(rt, host=host) as http:
                assert (await http.get("/whoami")).json()["data"]["app"] == "web"
        async with make_client(rt, host="b.com") as http:
            assert (await http.get("/whoami")).json()["data"]["app"] == "admin"


async def boot_failure(root):
    """The BootError of booting `root` (a boot that succeeds is closed, so later tests can boot)."""
    try:
        rt = await mega.boot_project(root)
    except BootError as exc:
        return exc
    await rt.close()
    pytest.fail("boot succeeded")


async def test_an_app_without_hosts_beside_the_default_fails_boot(tmp_path):
    files = dict(MULTI)
    files["apps/web/app_config.py"] = "config = {}\n"
    files["apps/admin/app_config.py"] = 'config = {"hosts": ["b.com"], "default": True}\n'
    err = await boot_failure(write_project(tmp_path, files))
    assert (err.stage, err.original.code) == ("apps", "app.unreachable")
    assert err.original.message == ("app 'web' cannot be reached: it has no hosts, and app 'admin' takes "
                                    "every host no app claims (default: True)")
    assert err.hint == ("give 'web' its hosts in apps/web/app_config.py (\"hosts\": [\"web.example.com\"]), "
                        "or move default: True to it")
    assert not registry.has_app()


async def test_two_apps_without_hosts_fail_boot(tmp_path):
    files = dict(MULTI)
    files["apps/web/app_config.py"] = "config = {}\n"
    files["apps/admin/app_config.py"] = "config = {}\n"
    err = (await boot_failure(write_project(tmp_path, files))).original
    assert err.code == "app.unreachable"
    assert err.message.startswith("apps 'admin', 'web' cannot be reached: none of them has hosts")
    assert err.details == {"apps": ["admin", "web"], "default": None}
    assert err.hint == ('give hosts to all of them but one ("hosts" in apps/admin/app_config.py, '
                        'apps/web/app_config.py); the one left without hosts takes every other host')


async def test_default_app_takes_unknown_hosts(tmp_path):
    files = dict(MULTI)
    files["apps/admin/app_config.py"] = 'config = {"hosts": ["b.com"], "default": True}\n'
    async with running(write_project(tmp_path, files)) as rt, make_client(rt, host="c.com") as http:
        assert (await http.get("/whoami")).json()["data"]["app"] == "admin"


async def test_get_app_is_ambiguous_with_two_apps(tmp_path):
    async with running(write_project(tmp_path, MULTI)):
        with pytest.raises(mega.MegaError) as info:
            mega.get_app()
        assert info.value.code == "app.ambiguous"
        assert mega.get_app("web").name == "web"


SINGLE = {
    "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
    "apps/main/routes/home.py": """
        def routes(router):
            router.get("/", lambda: "home")
    """,
}


async def test_single_app_serves_every_host(tmp_path):
    root = write_project(tmp_path, SINGLE)
    async with running(root) as rt, make_client(rt, host="anything.example") as http:
        assert (await http.get("/")).json() == {"ok": True, "data": "home"}
        assert mega.get_app().name == "main"


async def test_config_error_fails_the_config_stage(tmp_path):
    files = dict(SINGLE)
    files["mega_config.py"] = 'config = {"sever": {}, "hosts": ["a.com"]}\n'
    with pytest.raises(BootError) as info:
        await mega.boot_project(write_project(tmp_path, files))
    err = info.value
    assert err.stage == "config"
    assert isinstance(err.original, ConfigError)
    codes = sorted(p.code for p in err.original.problems)
    assert codes == ["config.unknown_key", "config.wrong_scope"]
    assert "did you mean 'server'" in err.message
    assert not registry.has_app()


async def test_route_import_error_fails_the_apps_stage_and_names_the_file(tmp_path, monkeypatch):
    files = dict(SINGLE)
    files["apps/main/routes/broken.py"] = "def routes(router):\n    router.get('/x', undefined_name)\n"
    closed = []
    monkeypatch.setattr(stages, "STAGES", stages.STAGES)  # restored after the test
    stages.add_stage(Stage("probe", lambda rt: rt.shutdown.register("probe", lambda: closed.append(1))),
                     after="runtime")
    with pytest.raises(BootError) as info:
        await mega.boot_project(write_project(tmp_path, files))
    assert info.value.stage == "apps"
    assert "apps/main/routes/broken.py" in info.value.message
    assert "undefined_name" in info.value.message
    assert closed == [1], "what earlier stages opened is closed on failure"
    assert not registry.has_app()


async def test_duplicate_route_fails_boot_naming_both_handlers(tmp_path):
    files = dict(SINGLE)
    files["apps/main/routes/again.py"] = """
        async def other():
            return 1

        def routes(router):
            router.get("/", other)
    """
    with pytest.raises(BootError) as info:
        await mega.boot_project(write_project(tmp_path, files))
    assert info.value.original.code == "route.duplicate"
    assert "app 'main'" in info.value.message and "other" in info.value.message


async def test_routes_file_without_routes_function(tmp_path):
    files = dict(SINGLE)
    files["apps/main/routes/empty.py"] = "x = 1\n"
    with pytest.raises(BootError) as info:
        await mega.boot_project(write_project(tmp_path, files))
    assert info.value.original.code == "route.invalid_file"
    assert "empty.py must define routes(router)" in info.value.message


async def test_named_middleware_from_the_middlewares_folder(tmp_path):
    files = dict(SINGLE)
    files["apps/main/app_config.py"] = 'config = {"middleware": {"before": ["stamp"]}}\n'
    files["apps/main/middlewares/stamp.py"] = """
        async def stamp(req, reply, ctx):
            ctx.stamped = True
    """
    files["apps/main/routes/home.py"] = """
        def routes(router):
            router.get("/", lambda req, reply, ctx: ctx.stamped)
    """
    async with running(write_project(tmp_path, files)) as rt, make_client(rt) as http:
        assert (await http.get("/")).json()["data"] is True


async def test_health_endpoints_and_registered_checks(tmp_path):
    async with running(write_project(tmp_path, SINGLE)) as rt, make_client(rt) as http:
        assert (await http.get("/health/live")).status_code == 200
        r = await http.get("/health/ready")
        assert r.status_code == 200 and r.json()["data"]["status"] == "ready"
        state = {"ok": True}
        mega.register_health_check("db", lambda: state["ok"])
        assert (await http.get("/health/ready")).status_code == 200
        state["ok"] = False
        r = await http.get("/health/ready")
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "health.check_failed"
        rt.health.mark_draining()
        r = await http.get("/health/ready")
        assert r.status_code == 503 and r.json()["error"]["code"] == "health.not_ready"


async def test_shutdown_hooks_run_by_order_then_registration_before_the_stages_resources(tmp_path):
    order = []
    rt = await mega.boot_project(write_project(tmp_path, SINGLE))
    mega.register_shutdown_hook("first", lambda: order.append("first"))

    async def second():
        order.append("second")

    mega.register_shutdown_hook("second", second)
    mega.register_shutdown_hook("early", lambda: order.append("early"), order=10)
    assert mega.shutdown.names()[:3] == ["early", "first", "second"]
    assert mega.shutdown.names()[-1] == "adapters"  # the stages' resources after, adapters last
    outcomes = await rt.close()
    assert order == ["early", "first", "second"]
    assert ("first", "ok") in outcomes and outcomes[-1] == ("adapters", "ok")
    assert not registry.has_app()
    assert mega.shutdown.names() == []


async def test_a_second_boot_while_one_is_running_is_refused(tmp_path):
    async with running(write_project(tmp_path, SINGLE)):
        with pytest.raises(BootError) as info:
            await mega.boot_project(tmp_path)
        assert info.value.original.code == "boot.already_booted"


async def test_a_bad_route_path_fails_boot_naming_file_line_route_and_forms(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # route files are named relative to where mega runs
    files = dict(SINGLE)
    files["apps/main/routes/todos.py"] = """
        def routes(router):
            todos = router.group("/todos")
            todos.get("", lambda: [])
            todos.get("/{id}-{x}", lambda: 1)
    """
    err = await boot_failure(write_project(tmp_path, files))
    assert (err.stage, err.original.code) == ("apps", "route.invalid_path")
    assert err.original.message == (
        "app 'main': apps/main/routes/todos.py, line 5 (route GET /todos/{id}-{x}): segment '{id}-{x}' "
        "holds 2 parameters ({id}, {x}); a segment takes one")
    assert err.hint.startswith("give each a segment of its own ('/todos/{id}/{x}')")
    assert "Supported: a path starts with '/'" in err.hint and "{name:int}" in err.hint


async def test_a_route_path_without_its_slash_fails_boot(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    files = dict(SINGLE)
    files["apps/main/routes/todos.py"] = "def routes(router):\n    router.post('todos', lambda: 1)\n"
    err = await boot_failure(write_project(tmp_path, files))
    assert err.original.message == ("app 'main': apps/main/routes/todos.py, line 2 (route POST todos): "
                                    "the path must start with '/', got 'todos'")
    assert err.hint.startswith("write '/todos'. Supported: ")
