"""Views through a booted project: a page with a layout and a partial, autoescape, the helpers,
status and headers, HEAD, and the 500 `view.render_failed` a missing or broken template answers."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from mega.testing import make_client, running, write_project

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

ROUTES = """
    async def home(req, reply, ctx):
        return ctx.render("home.html", {"name": req.query.get("name", "you")})

    async def admin(req, reply, ctx):
        return ctx.render("home.html", {"name": "admin"}, layout="layouts/admin.html")

    async def created(req, reply, ctx):
        return ctx.render("plain.html", {"text": "made"}, status=201, headers={"x-view": "plain"})

    async def accepted(req, reply, ctx):
        reply.status(202).header("x-queued", "yes")
        return ctx.render("plain.html", {"text": "queued"})

    async def user(req, reply, ctx):
        return {"id": req.params["id"]}

    async def view(req, reply, ctx):
        return ctx.render(req.params["name"] + ".html")

    def routes(router):
        router.get("/", home, name="home")
        router.get("/admin", admin)
        router.get("/created", created)
        router.get("/accepted", accepted)
        router.get("/users/{id:int}", user, name="user")
        router.get("/views/{name}", view)
"""

FILES = {
    "mega_config.py": "config = {}\n",
    "apps/main/routes/pages.py": ROUTES,
    "apps/main/views/layouts/main.html": """\
        <!doctype html><html><head><title>{% block title %}Site{% endblock %}</title></head>
        <body>{% include "partials/nav.html" %}<main>{% block content %}{% endblock %}</main></body></html>
    """,
    "apps/main/views/layouts/admin.html": """\
        <div class=admin>{% block content %}{% endblock %}</div>
    """,
    "apps/main/views/partials/nav.html": """\
        <nav><a href="{{ url_for('home') }}">{{ t('Home') }}</a> {# a comment keeps lines short #}
        <a href="{{ url_for('user', id=7) }}">me</a></nav>
    """,
    "apps/main/views/home.html": """\
        {% extends layout %}
        {% block title %}Home{% endblock %}
        {% block content %}<h1>Hello {{ name }}</h1>
        <input name=_csrf value="{{ csrf_token() }}">{% endblock %}
    """,
    "apps/main/views/plain.html": "<p>{{ text }}</p>\n",
    "apps/main/views/syntax.html": "<p>fine</p>\n<p>{% if %}</p>\n",
    "apps/main/views/runtime.html": "<p>one</p>\n<p>two</p>\n<p>{{ 1 // 0 }}</p>\n",
    "apps/main/views/outer.html": "<div>\n{% include 'partials/gone.html' %}\n</div>\n",
}


def project(root: Path, app_config: str = "config = {}\n") -> Path:
    return write_project(root / "project", {**FILES, "apps/main/app_config.py": app_config})


async def test_a_page_renders_its_layout_partial_and_helpers(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        r = await http.get("/")
    assert (r.status_code, r.headers["content-type"]) == (200, "text/html; charset=utf-8")
    page = r.text
    assert "<title>Home</title>" in page and "<h1>Hello you</h1>" in page  # the view's blocks in the layout
    assert '<nav><a href="/">Home</a> \n<a href="/users/7">me</a></nav>' in page  # the partial, url_for, t
    token = page.split('name=_csrf value="')[1].split('"')[0]
    assert len(token) > 20 and "mega_csrf" in r.cookies  # csrf_token() set its cookie on the response
    assert r.headers["x-request-id"] and r.headers["x-frame-options"] == "SAMEORIGIN"  # app headers too


async def test_values_are_escaped(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        r = await http.get("/", params={"name": "<script>alert('x')</script>"})
    assert "<script>alert" not in r.text
    assert "Hello &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in r.text


async def test_layout_is_chosen_per_render(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        r = await http.get("/admin")
    page = r.text.strip()
    assert page.startswith("<div class=admin><h1>Hello admin</h1>") and page.endswith("></div>")
    assert "<title>" not in page and "<nav>" not in page


async def test_the_app_default_layout_comes_from_config(tmp_path: Path) -> None:
    root = project(tmp_path, "config = {'views': {'layout': 'layouts/admin.html'}}\n")
    async with running(root) as rt, make_client(rt) as http:
        r = await http.get("/")
    assert r.text.startswith("<div class=admin><h1>Hello you</h1>")


async def test_status_and_headers_are_settable(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        r = await http.get("/created")
    assert (r.status_code, r.headers["x-view"], r.text) == (201, "plain", "<p>made</p>")
    assert r.headers["content-type"] == "text/html; charset=utf-8"


async def test_without_a_status_the_replys_is_used(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        r = await http.get("/accepted")
    assert (r.status_code, r.headers["x-queued"], r.text) == (202, "yes", "<p>queued</p>")


async def test_head_answers_the_headers_of_get(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        get = await http.get("/created")
        head = await http.head("/created")
    assert (head.status_code, head.headers["content-type"]) == (201, "text/html; charset=utf-8")
    assert head.headers["content-length"] == get.headers["content-length"] == str(len(b"<p>made</p>"))


FAILURES = [
    ("missing", "template apps/main/views/missing.html does not exist", None),
    ("syntax", "at apps/main/views/syntax.html:2", 2),
    ("runtime", "at apps/main/views/runtime.html:3: ZeroDivisionError", 3),
    ("outer", "at apps/main/views/outer.html:2: template apps/main/views/partials/gone.html does not exist",
     2),
]


@pytest.mark.parametrize("view, said, line", FAILURES)
async def test_a_broken_view_is_a_500_naming_file_and_line_in_the_log(
        tmp_path: Path, caplog: Any, view: str, said: str, line: int | None) -> None:
    with caplog.at_level(logging.ERROR, logger="mega"):
        async with running(project(tmp_path)) as rt, make_client(rt) as http:
            r = await http.get(f"/views/{view}", headers={"x-request-id": "rid-view"})
    assert r.status_code == 500
    assert r.json() == {"ok": False, "error": {"code": "view.render_failed",
                                               "message": "Internal server error",
                                               "details": {"request_id": "rid-view"}}}
    logged = [rec for rec in caplog.records if getattr(rec, "request_id", None) == "rid-view"]
    assert logged and said in logged[0].getMessage() and "view.render_failed" in logged[0].getMessage()


@pytest.mark.parametrize("view, said, line", FAILURES)
async def test_in_development_the_body_names_file_and_line(tmp_path: Path, view: str, said: str,
                                                           line: int | None) -> None:
    async with running(project(tmp_path), environ={**os.environ, "MEGA_ENV": "development"}) as rt, \
            make_client(rt) as http:
        r = await http.get(f"/views/{view}")
    error = r.json()["error"]
    assert (r.status_code, error["code"]) == (500, "view.render_failed")
    assert said in error["message"] and error["details"]["line"] == line
    if line is not None:
        assert error["details"]["file"].startswith("apps/main/views/")


async def test_a_syntax_error_is_logged_at_boot(tmp_path: Path, caplog: Any) -> None:
    with caplog.at_level(logging.ERROR, logger="mega"):
        async with running(project(tmp_path)):
            pass
    assert any("apps/main/views/syntax.html has an error at line 2" in rec.getMessage()
               for rec in caplog.records)


async def test_render_without_a_views_folder_says_where_to_put_it(tmp_path: Path) -> None:
    root = write_project(tmp_path / "bare", {"mega_config.py": "config = {}\n",
                                             "apps/main/routes/pages.py": ROUTES})
    async with running(root, environ={**os.environ, "MEGA_ENV": "development"}) as rt, \
            make_client(rt) as http:
        r = await http.get("/")
    error = r.json()["error"]
    assert (r.status_code, error["code"]) == (500, "view.render_failed")
    assert error["message"] == "app 'main' has no views folder (apps/main/views/)"


async def change(path: Path, text: str) -> None:
    path.write_text(text)
    later = path.stat().st_mtime + 5  # a distinct mtime even on a coarse clock
    os.utime(path, (later, later))


@pytest.mark.parametrize("reload", [True, False])
async def test_a_changed_template_is_picked_up_only_when_reloading(tmp_path: Path, reload: bool) -> None:
    root = project(tmp_path, f"config = {{'views': {{'auto_reload': {reload}}}}}\n")
    async with running(root) as rt, make_client(rt) as http:
        assert (await http.get("/created")).text == "<p>made</p>"
        await change(root / "apps/main/views/plain.html", "<b>{{ text }}</b>\n")
        after = (await http.get("/created")).text
    assert after == ("<b>made</b>" if reload else "<p>made</p>")


async def test_a_route_name_used_twice_fails_boot(tmp_path: Path) -> None:
    from mega.boot.stages import BootError

    root = project(tmp_path)
    (root / "apps/main/routes/more.py").write_text(
        "async def other(req):\n    return 1\n\n\ndef routes(router):\n"
        "    router.get('/elsewhere', other, name='user')\n")
    with pytest.raises(BootError) as caught:
        async with running(root):
            pass
    assert caught.value.stage == "apps"
    assert getattr(caught.value.original, "code", None) == "route.duplicate_name"
    assert "route name 'user' is used twice in app 'main'" in caught.value.message
    assert "GET /users/{id:int}" in caught.value.message and "GET /elsewhere" in caught.value.message
