"""Routing: static and parametrised paths, converters, 404/405, HEAD, OPTIONS, trailing slash."""

from __future__ import annotations

import uuid

import pytest

from mega.errors import MegaError
from mega.http._routing.pattern import FORMS, parse_path
from mega.http._routing.trie import RouteTable
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


BAD_PATHS = [  # (path, the message after the route, the start of the hint)
    ("users", "the path must start with '/', got 'users'", "write '/users'"),
    ("", "the path must start with '/', got ''", "write '/'"),
    (" /a", "' /a' has whitespace at an end or a control character", "remove it"),
    ("/a\n", "'/a\\n' has whitespace at an end or a control character", "remove it"),
    ("/a?page=1", "'/a?page=1' has a query string or fragment, which routing never sees", "declare '/a'"),
    ("/a//b", "it has an empty segment ('//')", "remove it: '/a/b'"),
    ("//a", "it has an empty segment ('//')", "remove it: '/a'"),
    ("/a/{id}-{x}", "segment '{id}-{x}' holds 2 parameters ({id}, {x}); a segment takes one",
     "give each a segment of its own ('/a/{id}/{x}'), or take the whole segment as one {name}"),
    ("/a/{x}{y}/b", "segment '{x}{y}' holds 2 parameters ({x}, {y}); a segment takes one",
     "give each a segment of its own ('/a/{x}/{y}/b')"),
    ("/a/file.{ext}", "segment 'file.{ext}' mixes text and a parameter",
     "a parameter takes a whole segment: give {ext} a segment of its own ('/a/file./{ext}')"),
    ("/a/{id", "segment '{id' has unclosed '{'", "write a parameter as {name} or {name:conv}"),
    ("/a/id}", "segment 'id}' has '}' without its '{'", "write a parameter as {name} or {name:conv}"),
    ("/a/{{id}}", "segment '{{id}}' has nested or misplaced braces", "write a parameter as {name}"),
    ("/a/}id{", "segment '}id{' has nested or misplaced braces", "write a parameter as {name}"),
    ("/a/{}", "segment '{}' is a parameter without a name", "name it: {id} or {id:int}"),
    ("/a/{:int}", "segment '{:int}' is a parameter without a name", "name it: {id} or {id:int}"),
    ("/a/{user-id}", "parameter name 'user-id' is not a Python identifier",
     "use letters, digits and '_' ({user_id})"),
    ("/a/{1st}", "parameter name '1st' is not a Python identifier", "use letters, digits and '_' ({_1st})"),
    ("/a/{id:}", "segment '{id:}' has ':' but no converter", "write {id} or {id:int}"),
    ("/a/{x:float}", "unknown converter 'float' in '{x:float}'", "converters: int, path, str, uuid"),
    ("/a/{id:integer}", "unknown converter 'integer' in '{id:integer}'",
     "did you mean {id:int}? converters: int, path, str, uuid"),
    ("/a/{x}/{x}", "parameter 'x' appears twice", "give each parameter its own name"),
    ("/a/{rest:path}/b", "'{rest:path}' must be the last segment ({name:path} takes the rest of the path)",
     "move it to the end"),
]


@pytest.mark.parametrize("path, reason, fix", BAD_PATHS)
def test_bad_paths_fail_at_boot_saying_what_and_the_supported_forms(path, reason, fix):
    with pytest.raises(MegaError) as info:
        parse_path(path)
    err = info.value
    assert err.code == "route.invalid_path"
    assert err.message == f"route path {path!r}: {reason}"
    assert err.hint is not None and err.hint.startswith(fix)
    assert err.hint.endswith(f". Supported: {FORMS}")
    assert "{name:int}" in FORMS and "{name:path}" in FORMS


def test_a_bad_path_names_the_route_when_declared():
    with pytest.raises(MegaError) as info:
        build_app(lambda r: r.get("/todos/{id}-{x}", lambda: 1))
    assert info.value.message.startswith("route GET /todos/{id}-{x}: segment '{id}-{x}' holds 2 parameters")
    with pytest.raises(MegaError) as info:
        build_app(lambda r: r.route(["get", "post"], "todos", lambda: 1))
    assert info.value.message == "route GET, POST todos: the path must start with '/', got 'todos'"
    with pytest.raises(MegaError) as info:  # in a group: the path as written, then the full path
        build_app(lambda r: r.group("/api").get("todos", lambda: 1))
    assert info.value.message == "route GET todos: the path must start with '/', got 'todos'"
    with pytest.raises(MegaError) as info:
        build_app(lambda r: r.group("/api").get("/{id:nt}", lambda: 1))
    assert info.value.message == "route GET /api/{id:nt}: unknown converter 'nt' in '{id:nt}'"
    build_app(lambda r: (r.group("/api").get("", lambda: 1), r.get("/", lambda: 2)))  # both fine


def test_a_route_added_without_a_router_is_checked_at_compile():
    from mega.app.app import MegaApp
    from mega.http.router import RouteDef

    app = MegaApp("web")
    app.add_routes([RouteDef("GET", "/a/{b", lambda: 1, source="plugins/extra.py")])
    with pytest.raises(MegaError) as info:
        app.compile()
    assert info.value.message == "plugins/extra.py (route GET /a/{b): segment '{b' has unclosed '{'"


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


_FORKING_ROUTES = ["/users/{id:int}", "/users/{name}", "/users/{id:int}/posts", "/users/{name}/likes",
                   "/users/me", "/users/me/{rest:path}", "/files/{rest:path}", "/files/{k:uuid}/raw",
                   "/a/{x:int}/{y:int}", "/a/{x}/b", "/{any}/tail"]
# No parameter at the root and one-way nodes: most dead ends are final without the search.
_ONE_WAY_ROUTES = ["/users/{id:int}", "/users/{id:int}/posts", "/users/me/likes", "/a/{x:int}/b",
                   "/a/{x:int}/{y}/tail", "/files/{k:uuid}/raw"]


@pytest.mark.parametrize("paths", [_FORKING_ROUTES, _ONE_WAY_ROUTES], ids=["forking", "one-way"])
def test_the_one_loop_first_pass_finds_what_the_depth_first_search_finds(paths: list[str]) -> None:
    """RouteTable.match follows the first choices in a loop and falls back to `_walk` at a dead end
    where another choice was possible (a dead end with none is a miss at once): every path must get the
    table and values the search alone gives (backtracking included)."""
    import itertools

    from mega.http._routing.trie import _BACKTRACK, _first_choice, _walk

    table = RouteTable()
    for path in paths:
        table.add(parse_path(path, where=path))
    segments = ["users", "files", "a", "me", "42", "-7", "bob", "posts", "likes", "raw", "b", "tail", "",
                str(uuid.UUID(int=5)), "99999999999999999999"]
    checked = final_misses = 0
    for n in range(1, 4):
        for combo in itertools.product(segments, repeat=n):
            request = "/" + "/".join(combo)
            values: list = []
            leaf = _walk(table._root, request[1:].split("/"), 0, values) if len(request) >= 2 else None
            expected = None if leaf is None else (leaf.leaf, dict(zip(leaf.leaf_names, values, strict=True)))
            if request in table.static:
                expected = (table.static[request], {})
            assert table.match(request) == expected, request
            checked += expected is not None
            final_misses += _first_choice(table._root, request[1:].split("/"), []) is None
    if paths is _FORKING_ROUTES:  # the set reaches routes, backtracking ones included; the root forks
        assert checked > 100 and final_misses == 0
        assert _first_choice(table._root, ["users", "42", "likes"], []) is _BACKTRACK
    else:  # every route is reached, and most misses are found with no search
        assert checked >= 6 and final_misses > 3000
        assert _first_choice(table._root, ["users", "42", "likes"], []) is None
