"""Route path patterns: `/users/{id:int}/files/{rest:path}` parsed once at boot.

A mistake in a pattern fails boot with `route.invalid_path`, saying what is wrong with which segment
and listing the forms that are supported, so no pattern is ever silently one that cannot match.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mega._suggest import close_match
from mega.errors import MegaError
from mega.http._routing.converters import CONVERTERS

__all__ = ["FORMS", "PathPattern", "Segment", "parse_path"]

FORMS = ("a path starts with '/' and each segment between slashes is text or one whole parameter: "
         "{name} (any text), {name:int}, {name:uuid}, {name:path} (the rest of the path, last segment "
         "only); names are Python identifiers. Example: '/users/{id:int}/files/{rest:path}'")
"""The supported forms, quoted in the hint of every `route.invalid_path`."""

_PARAMS = re.compile(r"(?:[^{}]*\{[^{}]*\})+[^{}]*")  # balanced, unnested braces only
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Segment:
    literal: str | None = None
    name: str | None = None
    conv: str = "str"


@dataclass(frozen=True)
class PathPattern:
    path: str
    segments: tuple[Segment, ...]

    @property
    def is_static(self) -> bool:
        return all(s.literal is not None for s in self.segments)

    @property
    def shape(self) -> str:
        """The pattern with parameter names erased: two routes with one shape collide."""
        parts = [s.literal if s.literal is not None else "{:" + s.conv + "}" for s in self.segments]
        return "/" + "/".join(parts)

    @property
    def param_names(self) -> list[str]:
        return [s.name for s in self.segments if s.name is not None]


class _Invalid(Exception):
    """What is wrong (and how to fix it) with a path, before the caller says which route it is."""

    def __init__(self, reason: str, fix: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fix = fix


def parse_path(path: str, *, where: str | None = None) -> PathPattern:
    """Parse `/users/{id:int}/files/{rest:path}`; any mistake is `route.invalid_path` at boot.

    `where` names the route in the message (`apps/web/routes/users.py (route GET /users/{id})`).
    """
    try:
        return _parse(path)
    except _Invalid as bad:
        shown = where or f"route path {path!r}"
        raise MegaError("route.invalid_path", f"{shown}: {bad.reason}", details={"path": str(path)},
                        hint=f"{bad.fix}. Supported: {FORMS}") from None


def _parse(path: str) -> PathPattern:
    if not isinstance(path, str):
        raise _Invalid(f"the path must be a string, got {path!r} ({type(path).__name__})",
                       "write it as a string")
    _check_whole(path)
    if path == "/":
        return PathPattern(path, ())
    raw = path[1:].split("/")
    segments: list[Segment] = []
    seen: set[str] = set()
    for i, part in enumerate(raw):
        last = i == len(raw) - 1
        if "{" not in part and "}" not in part:
            if part == "" and not last:
                fixed = re.sub("/{2,}", "/", path)
                raise _Invalid("it has an empty segment ('//')", f"remove it: {fixed!r}")
            segments.append(Segment(literal=part))
            continue
        segment = _parameter(raw, i)
        name = segment.name or ""
        if name in seen:
            raise _Invalid(f"parameter '{name}' appears twice", "give each parameter its own name")
        if segment.conv == "path" and not last:
            raise _Invalid(f"'{part}' must be the last segment ({{name:path}} takes the rest of the path)",
                           "move it to the end, or use {name} for one segment")
        seen.add(name)
        segments.append(segment)
    return PathPattern(path, tuple(segments))


def _check_whole(path: str) -> None:
    if path != path.strip() or _CONTROL.search(path):
        raise _Invalid(f"{path!r} has whitespace at an end or a control character", "remove it")
    if not path.startswith("/"):
        fixed = "/" + path.lstrip("/") if path else "/"
        raise _Invalid(f"the path must start with '/', got {path!r}", f"write {fixed!r}")
    if "?" in path or "#" in path:
        bare = path.split("?", 1)[0].split("#", 1)[0] or "/"
        raise _Invalid(f"{path!r} has a query string or fragment, which routing never sees",
                       f"declare {bare!r} and read the query from req.query (or validate it with query=)")


def _parameter(raw: list[str], i: int) -> Segment:
    """Segment `raw[i]` as one `{name[:conv]}`, or the reason it is not one."""
    part = raw[i]

    def rebuilt(new: str) -> str:  # the path with `new` in place of this segment, for a suggested fix
        return "/" + "/".join([*raw[:i], new, *raw[i + 1:]])

    opens, closes = part.count("{"), part.count("}")
    if (opens > 1 or closes > 1) and opens == closes and _PARAMS.fullmatch(part):
        params = re.findall(r"\{[^{}]*\}", part)
        split = rebuilt("/".join(params))
        raise _Invalid(f"segment {part!r} holds {opens} parameters ({', '.join(params)}); a segment "
                       "takes one", f"give each a segment of its own ({split!r}), or take the whole "
                       "segment as one {name} and split it in the handler")
    if opens != 1 or closes != 1 or part.index("{") > part.index("}"):
        what = "unclosed '{'" if opens > closes else "'}' without its '{'" if closes > opens else \
            "nested or misplaced braces"
        raise _Invalid(f"segment {part!r} has {what}", "write a parameter as {name} or {name:conv}")
    if not (part.startswith("{") and part.endswith("}")):
        param = part[part.index("{"):part.index("}") + 1]
        split = rebuilt("/".join(p for p in re.split(r"(\{[^{}]*\})", part) if p))
        raise _Invalid(f"segment {part!r} mixes text and a parameter",
                       f"a parameter takes a whole segment: give {param} a segment of its own ({split!r}), "
                       "or take the whole segment as one {name} and split it in the handler")
    name, colon, conv = part[1:-1].partition(":")
    if not name:
        raise _Invalid(f"segment {part!r} is a parameter without a name", "name it: {id} or {id:int}")
    if not name.isidentifier():
        fixed = re.sub(r"\W", "_", name.strip()) or "name"
        fixed = f"_{fixed}" if fixed[0].isdigit() else fixed
        raise _Invalid(f"parameter name {name!r} is not a Python identifier",
                       f"use letters, digits and '_' ({{{fixed}}})")
    if colon and not conv:
        raise _Invalid(f"segment {part!r} has ':' but no converter", f"write {{{name}}} or {{{name}:int}}")
    if colon and conv not in CONVERTERS:
        close = close_match(conv.strip(), CONVERTERS)
        guess = f"did you mean {{{name}:{close}}}? " if close else ""
        raise _Invalid(f"unknown converter {conv!r} in {part!r}",
                       f"{guess}converters: {', '.join(sorted(CONVERTERS))}")
    return Segment(name=name, conv=conv or "str")
