"""`mega start` on a new project as a newcomer grows it: a second app with hosts beside `main`
(which has none), a JSON route and a form route under production settings, over a real socket."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from .conftest import Server, environ, free_port, mega, wait_for

pytestmark = pytest.mark.integration

ADMIN_ROUTES = """\
def routes(router):
    router.get("/", lambda: {"app": "admin"})
"""

TODO_ROUTES = """\
async def create(req):
    return {"created": req.data}


async def new_form(req, reply, ctx):
    return {"token": ctx.csrf_token()}


async def post_form(req):
    return {"body": (await req.body()).decode()}


def routes(router):
    router.post("/todos", create, body={"type": "object", "required": ["title"],
                                       "properties": {"title": {"type": "string"}}})
    router.get("/notes/new", new_form)
    router.post("/notes", post_form)
"""


def test_main_without_hosts_stays_reachable_and_json_routes_answer_forms_with_415(
        fresh_project: Path, start_server: Callable[..., Server]) -> None:
    admin = fresh_project / "apps/admin"
    (admin / "routes").mkdir(parents=True)
    (admin / "app_config.py").write_text('config = {"hosts": ["admin.localhost"]}\n')
    (admin / "routes/home.py").write_text(ADMIN_ROUTES)
    (fresh_project / "apps/main/routes/todos.py").write_text(TODO_ROUTES)
    port = free_port()
    env = environ(PORT=str(port), MEGA_ENV="production", SESSION_SECRET="e2e-" + "s" * 32)
    server = start_server("start", cwd=fresh_project, env=env)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: httpx.get(f"{base}/health/live", timeout=2).status_code == 200, 15, "the server")
    with httpx.Client(base_url=base, timeout=5) as http:
        assert http.get("/").json()["data"] == {"message": "Hello from demo"}  # Host 127.0.0.1: main
        assert http.get("/", headers={"host": "admin.localhost:8000"}).json()["data"] == {"app": "admin"}
        form = http.post("/todos", data={"title": "x"})  # what `curl -d title=x` sends
        assert form.status_code == 415, form.text
        assert form.json()["error"]["code"] == "body.unsupported_media_type"
        assert http.post("/todos", json={"title": "x"}).json()["data"] == {"created": {"title": "x"}}
        tokenless = http.post("/notes", data={"title": "x"})
        assert tokenless.status_code == 403 and tokenless.json()["error"]["code"] == "csrf.token_missing"
        new = http.get("/notes/new")
        token = new.json()["data"]["token"]
        # Production's mega_csrf cookie is Secure: this plain-http client would not send it back.
        cookie = {"cookie": f"mega_csrf={new.cookies['mega_csrf']}"}
        assert http.post("/notes", data={"title": "x", "_csrf": token}, headers=cookie).status_code == 200
    assert server.terminate(timeout=10) == 0, server.output()


def test_an_app_nobody_can_reach_fails_start(fresh_project: Path) -> None:
    admin = fresh_project / "apps/admin"
    admin.mkdir()
    (admin / "app_config.py").write_text('config = {"hosts": ["admin.localhost"], "default": True}\n')
    result = mega("start", "--port", str(free_port()), cwd=fresh_project, timeout=30)
    assert result.returncode == 1
    assert ("app 'main' cannot be reached: it has no hosts, and app 'admin' takes every host no app "
            "claims (default: True)") in result.stderr
    assert "give 'main' its hosts in apps/main/app_config.py" in result.stderr
    assert "code: app.unreachable" in result.stderr
