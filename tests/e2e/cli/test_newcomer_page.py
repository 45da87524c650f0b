"""The newcomer's first page, following the docs only: a layout, a page with translated strings and a
stylesheet, a form with an upload (CSRF token, `form=` model, redirect back), the uploaded file served
back with `reply.file(root=)`, `mega test` with the testing guide's CSRF recipe, and `mega start`
serving the page, `/docs` and `/openapi.json`."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from .conftest import Server, free_port, get, mega, wait_for

pytestmark = pytest.mark.integration

FILES = {
    "apps/main/views/layouts/main.html": """
        <!doctype html>
        <html lang="en">
        <head><meta charset="utf-8"><link rel="stylesheet" href="{{ static_url('css/app.css') }}">
        <title>{% block title %}Trial{% endblock %}</title></head>
        <body><main>{% block content %}{% endblock %}</main></body>
        </html>
    """,
    "apps/main/views/hello.html": """
        {% extends layout %}
        {% block title %}{{ t('greeting.title') }}{% endblock %}
        {% block content %}
          <h1>{{ t('greeting.hello', name=name) }}</h1>
          {% if saved %}<p>{{ t('upload.saved', name=saved) }}</p>{% endif %}
          <form method="post" action="{{ url_for('hello.upload') }}" enctype="multipart/form-data">
            <input type="hidden" name="_csrf" value="{{ csrf_token() }}">
            <input type="file" name="photo">
            <button>{{ t('upload.button') }}</button>
          </form>
        {% endblock %}
    """,
    "apps/main/public/css/app.css": "body { font-family: sans-serif }\n",
    "apps/main/locales/server/en.json": """
        {"greeting": {"title": "Hello page", "hello": "Hello, {name}!"},
         "upload": {"saved": "Saved {name}", "button": "Upload"}}
    """,
    "apps/main/locales/server/ko.json": """
        {"greeting": {"title": "인사 페이지", "hello": "안녕하세요, {name}님!"},
         "upload": {"saved": "{name} 저장됨", "button": "올리기"}}
    """,
    "apps/main/routes/hello.py": """
        from pathlib import Path
        from urllib.parse import urlencode

        from pydantic import BaseModel

        from mega.forms import UploadedFile

        STORE = Path("var/photos")


        class Upload(BaseModel):
            photo: UploadedFile


        async def show(req, reply, ctx):
            return ctx.render("hello.html", {"name": req.query.get("name", "you"),
                                             "saved": req.query.get("saved")})


        async def upload(req, reply, ctx):
            STORE.mkdir(parents=True, exist_ok=True)
            kept = req.data.photo.move_to(STORE)
            return reply.redirect(ctx.url_for("hello.show") + "?" + urlencode({"saved": kept.name}), 303)


        async def photo(req, reply, ctx):
            return reply.file(req.params["name"], root=STORE)


        def routes(router):
            router.get("/hello", show, name="hello.show", openapi=False)
            router.post("/hello", upload, name="hello.upload", form=Upload, status=303,
                        responses={303: None})
            router.get("/photos/{name}", photo)
    """,
    "tests/test_hello.py": """
        import re


        async def test_the_page_is_translated(client):
            res = await client.get("/hello?name=Kim", headers={"accept-language": "ko"})
            assert res.status_code == 200 and "<h1>안녕하세요, Kim님!</h1>" in res.text
            assert '<link rel="stylesheet" href="/static/css/app.' in res.text


        async def test_upload_from_the_page(client):
            page = await client.get("/hello")
            token = re.search(r'name="_csrf" value="([^"]+)"', page.text)[1]
            res = await client.post("/hello", data={"_csrf": token},
                                    files={"photo": ("my photo.txt", b"hi", "text/plain")})
            assert res.status_code == 303 and res.headers["location"] == "/hello?saved=my+photo.txt"
            assert (await client.get("/photos/my photo.txt")).text == "hi"


        async def test_upload_with_the_header(client):
            await client.get("/hello")
            res = await client.post("/hello", headers={"x-csrf-token": client.cookies["mega_csrf"]},
                                    files={"photo": ("b.txt", b"hi", "text/plain")})
            assert res.status_code == 303


        async def test_without_the_token_it_is_refused(client):
            res = await client.post("/hello", files={"photo": ("c.txt", b"hi", "text/plain")})
            assert res.status_code == 403 and res.json()["error"]["code"] == "csrf.token_missing"
    """,
}


def test_a_page_with_a_layout_translations_and_an_upload(
        fresh_project: Path, start_server: Callable[..., Server]) -> None:
    for rel, text in FILES.items():
        path = fresh_project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    run = mega("test", "-q", "-p", "no:cacheprovider", cwd=fresh_project, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "6 passed" in run.stdout, run.stdout  # tests/test_home.py's two and the four above

    port = free_port()
    server = start_server("start", "--port", str(port), cwd=fresh_project)
    wait_for(lambda: get(port, "/health/live").status_code == 200, 30, "the server")
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
        page = http.get("/hello", headers={"accept": "text/html"})
        assert page.status_code == 200 and "<title>Hello page</title>" in page.text
        token = re.search(r'name="_csrf" value="([^"]+)"', page.text)
        assert token is not None
        sent = http.post("/hello", data={"_csrf": token[1]},
                         files={"photo": ("p.txt", b"photo", "text/plain")})
        assert sent.status_code == 303 and sent.headers["location"] == "/hello?saved=p.txt"
        assert http.get("/photos/p.txt").text == "photo"
        assert http.get("/photos/..%2f..%2fmega_config.py").status_code == 404
        document = http.get("/openapi.json").json()
        assert "/hello" in document["paths"] and "get" not in document["paths"]["/hello"]
        upload = document["paths"]["/hello"]["post"]
        assert "303" in upload["responses"] and "multipart/form-data" in upload["requestBody"]["content"]
        docs = http.get("/docs")
        assert docs.status_code == 200 and "/openapi.json" in docs.text
    routes = mega("routes", cwd=fresh_project).stdout
    assert "/openapi.json" in routes and "/docs" in routes and "/hello" in routes
    assert server.terminate(timeout=20) == 0, server.output()
