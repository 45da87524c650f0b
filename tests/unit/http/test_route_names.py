"""Named routes and `url_for`: URLs built from the route pattern with quoted parameters, and a clear
error for a name used twice (at boot), an unknown name, and missing, extra or unmatched parameters."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mega import MegaError
from tests.conftest import asgi_client, build_app


async def handler() -> str:
    return "ok"


def declare(r: Any) -> None:
    r.get("/", handler, name="home")
    r.get("/users/{id:int}", handler, name="users.show")
    r.route(["PUT", "DELETE"], "/users/{id:int}", handler, name="users.show")  # one path: one name
    r.get("/tags/{tag}", handler, name="tag")
    r.get("/files/{rest:path}", handler, name="file")
    r.get("/keys/{key:uuid}", handler, name="key")
    r.group("/admin").get("/stats", handler, name="admin.stats")


@pytest.mark.parametrize("name, params, url", [
    ("home", {}, "/"),
    ("users.show", {"id": 7}, "/users/7"),
    ("users.show", {"id": "-3"}, "/users/-3"),
    ("tag", {"tag": "a b?d#e%"}, "/tags/a%20b%3Fd%23e%25"),
    ("tag", {"tag": "café"}, "/tags/caf%C3%A9"),
    ("tag", {"tag": "x:y@z"}, "/tags/x:y@z"),
    ("file", {"rest": "docs/a b.txt"}, "/files/docs/a%20b.txt"),
    ("key", {"key": uuid.UUID(int=1)}, "/keys/00000000-0000-0000-0000-000000000001"),
    ("admin.stats", {}, "/admin/stats"),
])
def test_urls_are_built_from_the_pattern(name: str, params: dict[str, Any], url: str) -> None:
    assert build_app(declare).url_for(name, **params) == url


async def test_a_built_url_reaches_its_route() -> None:
    app = build_app(declare)
    async with asgi_client(app) as http:
        tag = await http.get(app.url_for("tag", tag="a b?c#d%"))
        file = await http.get(app.url_for("file", rest="a b/c?d"))
    assert tag.status_code == file.status_code == 200


def test_an_unknown_name_lists_the_names_and_suggests_one() -> None:
    with pytest.raises(MegaError) as caught:
        build_app(declare).url_for("user.show", id=1)
    err = caught.value
    assert (err.code, err.message) == ("route.unknown_name", "no route named 'user.show' in app 'main'")
    assert err.hint is not None
    assert err.hint.startswith("did you mean 'users.show'? named routes: admin.stats, file, home, key, tag, "
                               "users.show")


def test_missing_and_extra_params_are_named() -> None:
    app = build_app(declare)
    with pytest.raises(MegaError) as caught:
        app.url_for("users.show")
    assert (caught.value.code, caught.value.message) == (
        "route.url_params", "url_for('users.show'): missing id (route /users/{id:int})")
    with pytest.raises(MegaError) as caught:
        app.url_for("users.show", id=1, page=2, sort="x")
    assert caught.value.message == "url_for('users.show'): unexpected page, sort (route /users/{id:int})"
    assert caught.value.hint == ("pass exactly: id; url_for builds the path only: add a query string "
                                 "yourself (+ '?' + urllib.parse.urlencode({...}))")


@pytest.mark.parametrize("name, params", [("users.show", {"id": "seven"}), ("key", {"key": "nope"}),
                                          ("tag", {"tag": ""}), ("tag", {"tag": "a/b"})])
def test_a_value_the_converter_refuses_is_an_error(name: str, params: dict[str, Any]) -> None:
    with pytest.raises(MegaError) as caught:
        build_app(declare).url_for(name, **params)
    assert caught.value.code == "route.url_params" and "does not match" in caught.value.message


def test_a_name_used_twice_fails_compile_naming_both_routes() -> None:
    def twice(r: Any) -> None:
        r.get("/a", handler, name="page")
        r.post("/b", handler, name="page")

    with pytest.raises(MegaError) as caught:
        build_app(twice)
    err = caught.value
    assert err.code == "route.duplicate_name"
    assert err.message == "route name 'page' is used twice in app 'main': route GET /a and route POST /b"
    assert err.details == {"name": "page", "routes": ["GET /a", "POST /b"]}


def test_a_name_must_be_a_non_empty_string() -> None:
    with pytest.raises(MegaError) as caught:
        build_app(lambda r: r.get("/a", handler, name=""))
    assert caught.value.code == "route.invalid_name"


async def test_ctx_url_for_in_a_handler() -> None:
    async def link(req: Any, reply: Any, ctx: Any) -> str:
        return str(ctx.url_for("file", rest="a/b c"))

    app = build_app(lambda r: (r.get("/link", link), r.get("/files/{rest:path}", handler, name="file")))
    async with asgi_client(app) as http:
        r = await http.get("/link")
    assert r.json()["data"] == "/files/a/b%20c"
