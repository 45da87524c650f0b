"""`mega g app NAME`: a second app that answers its own hosts, next to `main`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from .conftest import Server, free_port, get, mega, wait_for

pytestmark = pytest.mark.integration

APP_FILES = {
    "app_config.py",
    "routes/home.py",
    *(f"{d}/.gitkeep" for d in ("controllers", "services", "middlewares", "models", "migrations", "views",
                                "public", "locales/server")),
}


def test_a_generated_app_answers_its_host(fresh_project: Path, start_server: Callable[..., Server]) -> None:
    made = mega("g", "app", "admin", cwd=fresh_project)
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    assert lines[:-1] == sorted([*(f"created apps/admin/{name}" for name in APP_FILES),
                                 "created tests/test_admin_app.py"])
    # main is the only app without hosts: it keeps every host no app lists, nothing else to do.
    assert lines[-1] == "app admin answers admin.localhost"
    folder = fresh_project / "apps/admin"
    assert {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()} == APP_FILES
    assert '"hosts": ["admin.localhost"],' in (folder / "app_config.py").read_text()
    assert not [p for p in (fresh_project / "apps").iterdir() if p.name.startswith(".")]

    routes = json.loads(mega("routes", "--json", cwd=fresh_project).stdout)
    # Each app's public/ folder is served under /static/, and OpenAPI (on in development) serves its
    # document and docs page: rows of their own in `mega routes`.
    extra = ("/static/{path:path}", "/openapi.json", "/docs", "/docs/assets/{asset}")
    assert {(r["app"], r["path"]) for r in routes} == {
        (app, path) for app in ("admin", "main") for path in ("/", *extra)}

    port = free_port()
    server = start_server("start", "--port", str(port), cwd=fresh_project)
    wait_for(lambda: get(port, "/health/live").status_code == 200, 30, "the server")
    admin = httpx.get(f"http://127.0.0.1:{port}/", headers={"host": f"admin.localhost:{port}"}, timeout=5)
    assert admin.json() == {"ok": True, "data": {"app": "admin"}}
    assert get(port, "/").json() == {"ok": True, "data": {"message": "Hello from demo"}}
    assert server.terminate(timeout=20) == 0, server.output()


def test_hosts_can_be_given(fresh_project: Path) -> None:
    made = mega("g", "app", "shop", "--host", "shop.example.com", "--host", "www.shop.example.com",
                cwd=fresh_project)
    assert made.returncode == 0, made.stderr
    assert made.stdout.endswith("\napp shop answers shop.example.com, www.shop.example.com\n")
    assert 'client_for("shop.example.com")' in (fresh_project / "tests/test_shop_app.py").read_text()
    text = (fresh_project / "apps/shop/app_config.py").read_text()
    assert '"hosts": ["shop.example.com", "www.shop.example.com"],' in text


def test_an_apps_list_in_the_config_is_pointed_out(fresh_project: Path) -> None:
    config = fresh_project / "mega_config.py"
    config.write_text(config.read_text().replace("config = {", 'config = {\n    "apps": ["main"],', 1))
    made = mega("g", "app", "admin", cwd=fresh_project)
    assert made.returncode == 0, made.stderr
    assert ("next: add 'admin' to `apps` in mega_config.py: only the apps listed there run"
            in made.stdout.splitlines())


def test_two_apps_without_hosts_are_pointed_out(fresh_project: Path) -> None:
    blog = fresh_project / "apps/blog"
    (blog / "routes").mkdir(parents=True)
    (blog / "app_config.py").write_text((fresh_project / "apps/main/app_config.py").read_text())
    made = mega("g", "app", "admin", cwd=fresh_project)
    assert made.returncode == 0, made.stderr
    notes = [line for line in made.stdout.splitlines() if line.startswith("next:")]
    assert len(notes) == 1 and "apps blog, main have no hosts" in notes[0], made.stdout


def test_the_name_is_spelled_as_a_package(fresh_project: Path) -> None:
    made = mega("g", "app", "AdminPanel", cwd=fresh_project)
    assert made.returncode == 0, made.stderr
    config = (fresh_project / "apps/admin_panel/app_config.py").read_text()
    assert '"hosts": ["admin_panel.localhost"],' in config


@pytest.mark.parametrize(("args", "message"), [
    (["1st"], "error: invalid app name '1st': it must start with a letter"),
    (["my.app"], "error: invalid app name 'my.app': it may hold only letters, digits, '_' and '-' ('.' is "
                 "not allowed)"),
    (["class"], "error: invalid app name 'class': 'class' is a Python keyword"),
    (["main"], "error: apps/main/app_config.py, apps/main/locales/server/.gitkeep, "
               "apps/main/middlewares/.gitkeep and 5 more already exist: nothing was written"),
    (["x", "--host", "http://x.example.com"], "error: invalid host 'http://x.example.com': a host name only"),
    (["x", "--host", "x.example.com:8000"], "error: invalid host 'x.example.com:8000'"),
])
def test_bad_names_exit_2_and_create_nothing(fresh_project: Path, args: list[str], message: str) -> None:
    before = sorted(p.name for p in (fresh_project / "apps").iterdir())
    result = mega("g", "app", *args, cwd=fresh_project)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert re.search(r"^hint: ", result.stderr, re.MULTILINE)
    assert sorted(p.name for p in (fresh_project / "apps").iterdir()) == before
