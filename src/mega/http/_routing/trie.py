"""Route table compiled at boot: a dict for static paths, a segment trie for the rest.

Static paths cost one dict lookup whatever the number of routes; a path with parameters walks
one trie level per segment, so its cost grows with depth, never with the route count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mega.http._routing.converters import MISS, PRIORITY, converter
from mega.http._routing.pattern import PathPattern, Segment

MethodTable = dict[str, Any]


class _Param:
    __slots__ = ("conv_name", "convert", "name", "node")

    def __init__(self, name: str, conv_name: str, convert: Callable[[str], Any], node: _Node) -> None:
        self.name = name
        self.conv_name = conv_name
        self.convert = convert
        self.node = node


class _Node:
    __slots__ = ("catch_all", "forks", "leaf", "leaf_names", "literal", "params")

    def __init__(self) -> None:
        self.literal: dict[str, _Node] = {}
        self.params: list[_Param] = []
        self.catch_all: _Param | None = None
        self.leaf: MethodTable | None = None
        self.leaf_names: tuple[str, ...] = ()
        # More than one way on from here (a catch-all, or parameters beside literals or each other): only
        # then can a dead end further down be undone by taking another way here.
        self.forks = False

    def update_forks(self) -> None:
        self.forks = self.catch_all is not None or len(self.params) > 1 or bool(self.params and self.literal)


_BACKTRACK: Any = _Node()  # _first_choice's dead end where another choice was possible


class RouteTable:
    """Maps (path) to a method table and its path parameters."""

    def __init__(self) -> None:
        self.static: dict[str, MethodTable] = {}
        self._root = _Node()

    def add(self, pattern: PathPattern) -> MethodTable:
        """Return the method table for `pattern`, creating it if needed."""
        if pattern.is_static:
            return self.static.setdefault(pattern.path, {})
        node = self._root
        for seg in pattern.segments:
            node = self._child(node, seg)
        if node.leaf is None:
            node.leaf = {}
            node.leaf_names = tuple(pattern.param_names)
        return node.leaf

    @staticmethod
    def _child(node: _Node, seg: Segment) -> _Node:
        child = RouteTable._add_child(node, seg)
        node.update_forks()
        return child

    @staticmethod
    def _add_child(node: _Node, seg: Segment) -> _Node:
        if seg.literal is not None:
            return node.literal.setdefault(seg.literal, _Node())
        assert seg.name is not None
        if seg.conv == "path":
            if node.catch_all is None:
                node.catch_all = _Param(seg.name, "path", converter("path", route=""), _Node())
            return node.catch_all.node
        for p in node.params:
            if p.conv_name == seg.conv:
                return p.node
        param = _Param(seg.name, seg.conv, converter(seg.conv, route=""), _Node())
        node.params.append(param)
        node.params.sort(key=lambda p: PRIORITY.get(p.conv_name, 9))
        return param.node

    def match(self, path: str) -> tuple[MethodTable, dict[str, Any]] | None:
        """Find the method table for a concrete request path (static first)."""
        table = self.static.get(path)
        if table is not None:
            return table, {}
        return self.match_dynamic(path)

    def match_dynamic(self, path: str) -> tuple[MethodTable, dict[str, Any]] | None:
        """`match` for a path already known not to be a static route: the trie alone."""
        if len(path) < 2 or path[0] != "/":
            return None
        parts = path[1:].split("/")
        values: list[Any] = []
        leaf = _first_choice(self._root, parts, values)
        if leaf is None:
            return None
        if leaf is _BACKTRACK:  # a dead end on the first choices: the full depth-first search decides
            values.clear()
            leaf = _walk(self._root, parts, 0, values)
            if leaf is None:
                return None
        names = leaf.leaf_names
        if len(names) == 1:
            return leaf.leaf, {names[0]: values[0]}  # type: ignore[return-value]
        return leaf.leaf, dict(zip(names, values, strict=True))  # type: ignore[return-value]


def _first_choice(node: _Node, parts: list[str], values: list[Any]) -> _Node | None:
    """The path `_walk` tries first (literal child, else the first parameter that converts), in one
    loop. At a dead end: None when no node on the way offered another choice (no route matches),
    else _BACKTRACK (only `_walk`'s backtracking can tell)."""
    forks = False
    for part in parts:
        if node.forks:
            forks = True
        child = node.literal.get(part)
        if child is None:
            if not part:
                return _BACKTRACK if forks else None
            for p in node.params:
                value = p.convert(part)
                if value is not MISS:
                    values.append(value)
                    child = p.node
                    break
            else:
                return _BACKTRACK if forks else None
        node = child
    if node.leaf is not None:
        return node
    return _BACKTRACK if forks else None


def _walk(node: _Node, parts: list[str], i: int, values: list[Any]) -> _Node | None:
    """Depth-first: literal child, then parameters (narrowest converter first), then catch-all."""
    if i == len(parts):
        return node if node.leaf is not None else None
    part = parts[i]
    child = node.literal.get(part)
    if child is not None:
        found = _walk(child, parts, i + 1, values)
        if found is not None:
            return found
    if part:
        for p in node.params:
            value = p.convert(part)
            if value is MISS:
                continue
            values.append(value)
            found = _walk(p.node, parts, i + 1, values)
            if found is not None:
                return found
            values.pop()
    catch_all = node.catch_all
    if catch_all is not None and catch_all.node.leaf is not None:
        rest = "/".join(parts[i:])
        if rest:
            values.append(rest)
            return catch_all.node
    return None
