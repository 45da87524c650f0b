"""The trie's one-loop first pass (`_greedy`) never changes what a path matches: for any route set and
path, `RouteTable.match` gives what the backtracking search alone (`_walk`) gives."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mega.http._routing import trie
from mega.http._routing.pattern import parse_path
from mega.http._routing.trie import RouteTable

LITERALS = ["users", "items", "new", "1", "a", "me"]
SEGMENTS = st.sampled_from([*LITERALS, "{id:int}", "{name}", "{key:uuid}"])
ROUTES = st.lists(st.lists(SEGMENTS, min_size=1, max_size=3), min_size=1, max_size=8)
CATCH_ALL = st.booleans()
UUID = "0f8fad5b-d9cb-469f-a165-70867728950e"
PATH_PARTS = st.lists(st.sampled_from([*LITERALS, "42", "-7", "x", "", UUID]), min_size=1, max_size=4)


def table_of(routes: list[list[str]], catch_all: bool) -> RouteTable | None:
    table = RouteTable()
    seen = set()
    for i, segs in enumerate(routes):
        names = [s for s in segs if s.startswith("{")]
        if len({n.split(":")[0] for n in names}) != len(names):
            return None  # a route naming one parameter twice is refused at boot
        path = "/" + "/".join(segs)
        if path in seen:
            continue
        seen.add(path)
        table.add(parse_path(path))["GET"] = i
    if catch_all:
        table.add(parse_path("/users/{rest:path}"))["GET"] = "rest"
    return table


def full_search(table: RouteTable, path: str) -> Any:
    found = table.static.get(path)
    if found is not None:
        return found, {}
    values: list[Any] = []
    leaf = trie._walk(table._root, path[1:].split("/"), 0, values)
    return None if leaf is None else (leaf.leaf, dict(zip(leaf.leaf_names, values, strict=True)))


@settings(max_examples=400, deadline=None)
@given(ROUTES, CATCH_ALL, PATH_PARTS)
def test_match_equals_the_backtracking_search(routes, catch_all, parts):
    table = table_of(routes, catch_all)
    if table is None:
        return
    path = "/" + "/".join(parts)
    assert table.match(path) == full_search(table, path)


def test_a_dead_end_after_a_literal_falls_back_to_the_parameter():
    table = RouteTable()
    table.add(parse_path("/users/me/profile"))["GET"] = "me"
    table.add(parse_path("/users/{name}/posts"))["GET"] = "posts"
    leaf, params = table.match("/users/me/posts")  # the literal `me` leads nowhere: {name} takes it
    assert leaf == {"GET": "posts"} and params == {"name": "me"}
