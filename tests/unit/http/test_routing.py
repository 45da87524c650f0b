"""Routing: static and parametrised paths, converters, 404/405, HEAD, OPTIONS, trailing slash."""

from __future__ import annotations

import uuid

import pytest

from mega.errors import MegaError
from mega.http._routing.trie import RouteTable, parse_path
from tests.conftest import build_app


async def echo_params(req):
    return {k: (str(v) if isinstance(v, uuid.UUID) else v) for k, v in req.params.items()}


def declare(router):
    router.get("/", lambda: "root")
    router.get("/users", lambda: "list")
    router.get("/users/me", lambda: "me")
    router.get("/users/{id:int}", echo_params)
    router.get("/users/{name}", echo_params)
    router.get("/keys/{key:uuid}", echo_params)
    router.get("/files/{rest:path}", echo_params)
    router.post("/users", lambda: "created", status=201)
    router.delete("/users/{id:int}", echo_params)
    router.get("/slash/", lambda: "slash")


@pytest.fixture
async def client(make_client):
    async with make_client(declare) as http:
        yield http


async def test_static_routes(client):
    assert (await client.get("/")).json() == {"ok": True, "data": "root"}
    assert (await client.get("/users")).json()["data"] == "list"
    assert (await client.get("/users/me")).json()["data"] == "me"


async def test_converters_pick_the_narrowest_match(client):
    assert (await client.get("/users/42")).json()["data"] == {"id": 42}
    assert (await client.get("/users/-3")).json()["data"] == {"id": -3}
    assert (await client.get("/users/bob")).json()["data"] == {"name": "bob"}
    key = uuid.uuid4()
    assert (await client.get(f"/keys/{key}")).json()["data"] == {"key": str(key)}
    assert (await client.get("/keys/not-a-uuid")).status_code == 404
    assert (await client.get("/files/a/b/c.txt")).json()["data"] == {"rest": "a/b/c.txt"}


async def test_int_matches_signed_64_bit_values_only(make_client):
    def declare_ints(router):
        router.get("/n/{id:int}", echo_params)
        router.get("/m/{id:int}", echo_params)
        router.get("/m/{name}", echo_params)

    async with make_client(declare_ints) as http:
        assert (await http.get(f"/n/{2**63 - 1}")).json()["data"] == {"id": 2**63 - 1}
        assert (await http.get(f"/n/{-2**63}")).json()["data"] == {"id": -2**63}
        for outside in (2**63, -2**63 - 1, 10**23, "9" * 5000):
            r = await http.get(f"/n/{outside}")
            assert (r.status_code, r.json()["error"]["code"]) == (404, "route.not_found"), outside
        assert (await http.get(f"/m/{2**63}")).json()["data"] == {"name": str(2**63)}  # the next route


async def test_status_option_and_methods(client):
    r = await client.post("/users")
    assert r.status_code == 201 and r.json()["data"] == "created"
    assert (await client.delete("/users/7")).json()["data"] == {"id": 7}


async def test_404_route_not_found(client):
    r = await client.get("/nope")
    assert r.status_code == 404
    err = r.json()["error"]
    assert err["code"] == "route.not_found"
    assert err["message"] == "no route for GET /nope"
    assert r.json()["ok"] is False


async def test_405_with_allow_header(client):
    r = await client.put("/users")
    assert r.status_code == 405
    assert r.json()["error"]["code"] == "route.method_not_allowed"
    assert r.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    r = await client.post("/users/5")
    assert r.status_code == 405
    assert r.headers["allow"] == "DELETE, GET, HEAD, OPTIONS"


async def test_head_is_answered_from_get(client):
    r = await client.head("/users")
    assert r.status_code == 200
    assert int(r.headers["content-length"]) == len(b'{"ok":true,"data":"list"}')


async def test_options_lists_methods(client):
    r = await client.options("/users")
    assert r.status_code == 204
    assert r.headers["allow"] == "GET, HEAD, OPTIONS, POST"


async def test_trailing_slash_redirects_to_the_declared_form(client):
    r = await client.get("/users/", params={"a": "1"})
    assert r.status_code == 308
    assert r.headers["location"] == "/users?a=1"
    r = await client.get("/slash")
    assert r.status_code == 308 and r.headers["location"] == "/slash/"


async def test_trailing_slash_strict_policy(make_client):
    async with make_client(declare, trailing_slash="strict") as http:
        assert (await http.get("/users/")).status_code == 404


def test_duplicate_route_names_both_handlers():
    async def first():
        return 1

    async def second():
        return 2

    with pytest.raises(MegaError) as info:
        build_app(lambda r: (r.get("/a/{x:int}", first), r.get("/a/{y:int}", second)))
    assert info.value.code == "route.duplicate"
    assert "first" in info.value.message and "second" in info.value.message


@pytest.mark.parametrize("path, fragment", [
    ("users", "must start with '/'"),
    ("/a/{x:float}", "unknown converter 'float'"),
    ("/a/{x}/{x}", "appears twice"),
    ("/a/{rest:path}/b", "must be the last segment"),
    ("/a/file.{ext}", "mixes text and a parameter"),
    ("/a//b", "empty segment"),
])
def test_bad_paths_fail_at_boot(path, fragment):
    with pytest.raises(MegaError) as info:
        parse_path(path)
    assert info.value.code == "route.invalid_path"
    assert fragment in info.value.message


def test_unknown_route_option_suggests_the_right_one():
    with pytest.raises(MegaError) as info:
        build_app(lambda r: r.get("/", lambda: 1, befor=[]))
    assert info.value.code == "route.invalid_option"
    assert "did you mean 'before'" in info.value.message


def test_lookup_does_not_walk_other_routes():
    table = RouteTable()
    for i in range(1000):
        table.add(parse_path(f"/r{i}/{{id:int}}"))["GET"] = i
        table.add(parse_path(f"/s{i}"))["GET"] = -i
    assert table.match("/r999/5") == ({"GET": 999}, {"id": 5})
    assert table.match("/s500") == ({"GET": -500}, {})
    assert table.match("/r1000/5") is None
