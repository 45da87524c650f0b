"""The newcomer's path, as a user walks it with the CLI only: a new project, a second app with hosts,
a model, a start refused while its migration is pending, migrate, serve both apps, `mega test` twice
without touching the development database, and a route file broken and fixed under `--watch`."""

from __future__ import annotations

import sqlite3
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from .conftest import Server, environ, free_port, get, mega, wait_for

pytestmark = pytest.mark.integration

MODEL = """
    from mega import Model, fields


    class Item(Model):
        id = fields.id()
        name = fields.string(100)
"""

ROUTES = """
    from pydantic import BaseModel

    from apps.main.models.item import Item


    class NewItem(BaseModel):
        name: str


    async def create(req, reply, ctx):
        reply.status(201)
        return await Item.create(name=req.data.name)


    async def count(req, reply, ctx):
        return {"items": await Item.count()}


    def routes(router):
        router.post("/items", create, body=NewItem)
        router.get("/items/count", count)
"""

TESTS = """
    async def test_writes_items(client):
        for name in ("a", "b"):
            assert (await client.post("/items", json={"name": name})).status_code == 201
        assert (await client.get("/items/count")).json()["data"] == {"items": 2}


    async def test_starts_empty(client):
        assert (await client.get("/items/count")).json()["data"] == {"items": 0}
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())


def dev_items(project: Path) -> int:
    [database] = sorted((project / "var").glob("*.sqlite3"))
    with sqlite3.connect(database) as conn:
        count: int = conn.execute("SELECT COUNT(*) FROM items").fetchone()[0]
        return count


def test_the_newcomers_path(tmp_path: Path, start_server: Callable[..., Server]) -> None:
    dev = environ(MEGA_ENV="development")
    assert mega("new", "shop", "--dir", str(tmp_path), cwd=tmp_path).returncode == 0
    project = tmp_path / "shop"

    # A second app with hosts: main has none and keeps every other host.
    made = mega("g", "app", "admin", "--host", "admin.localhost", cwd=project)
    assert made.returncode == 0, made.stderr

    # A model and its migration, not applied yet: start is refused with the command to run.
    assert mega("g", "model", "Item", "--app", "main", cwd=project).returncode == 0
    write(project / "apps/main/models/item.py", MODEL)
    write(project / "apps/main/routes/items.py", ROUTES)
    generated = mega("db:generate", "create_items", cwd=project)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    refused = mega("start", "--port", str(free_port()), cwd=project, env=dev, timeout=60)
    assert refused.returncode != 0
    assert "db.pending_migrations" in refused.stdout + refused.stderr
    assert "mega db:migrate" in refused.stdout + refused.stderr

    migrated = mega("db:migrate", cwd=project)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    # Both apps answer; rows written in development stay there.
    port = free_port()
    server = start_server("start", "--port", str(port), cwd=project, env=dev)
    wait_for(lambda: get(port, "/health/ready").status_code == 200, 30, "the server")
    admin = httpx.get(f"http://127.0.0.1:{port}/", headers={"host": f"admin.localhost:{port}"}, timeout=5)
    assert admin.json() == {"ok": True, "data": {"app": "admin"}}
    assert get(port, "/").status_code == 200
    created = httpx.post(f"http://127.0.0.1:{port}/items", json={"name": "kept"}, timeout=5)
    assert created.status_code == 201, created.text
    assert server.terminate(timeout=20) == 0, server.output()
    assert dev_items(project) == 1

    # `mega test` twice: its writes go to the test database and are rolled back after each test.
    write(project / "tests/test_items.py", TESTS)
    for _ in range(2):
        run = mega("test", "-q", cwd=project, timeout=180)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "5 passed" in run.stdout, run.stdout  # with tests/test_home.py (2) and tests/test_admin_app.py
        assert dev_items(project) == 1

    # A route file broken under --watch: the port answers 503 with the error, then 200 once fixed.
    port = free_port()
    watcher = start_server("start", "--watch", "--port", str(port), cwd=project, env=dev)
    wait_for(lambda: get(port, "/items/count").status_code == 200, 30, "the watched server")
    routes = project / "apps/main/routes/items.py"
    good = routes.read_text()
    routes.write_text(good.replace("def routes(router):", "def routes(router)"))
    broken = wait_for(lambda: (r := get(port, "/items/count")).status_code == 503 and r, 30, "the 503 page")
    assert broken.json()["ok"] is False
    routes.write_text(good)
    fixed = wait_for(lambda: (r := get(port, "/items/count")).status_code == 200 and r, 30, "the fix")
    assert fixed.json()["data"] == {"items": 1}
    assert watcher.terminate(timeout=20) == 0, watcher.output()
