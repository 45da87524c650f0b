"""Named routes: `name=` on a route, and the URL `url_for(name, **params)` builds from its pattern.

Built once when the app compiles: a name given to two different paths fails boot naming both routes.
Building a URL checks each parameter with the route's own converter, so a URL `url_for` returns is
one the route matches.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

from mega._suggest import close_match
from mega.errors import MegaError
from mega.http._routing.converters import CONVERTERS, MISS
from mega.http._routing.pattern import PathPattern, parse_path
from mega.http.router import RouteDef

__all__ = ["RouteNames"]

# What quote() leaves alone inside one segment: RFC 3986 pchar minus "/" (see the '/' check below).
_SEGMENT_SAFE = "!$&'()*+,;=:@-._~"


class RouteNames:
    """Every named route of one app, by name."""

    __slots__ = ("_app", "_patterns")

    def __init__(self, routes: Iterable[RouteDef], *, app: str) -> None:
        self._app = app
        self._patterns: dict[str, tuple[PathPattern, RouteDef]] = {}
        for route in routes:
            name = route.options.get("name")
            if name is None:
                continue
            if not isinstance(name, str) or not name:
                raise MegaError("route.invalid_name", f"{route.where}: name must be a non-empty string, "
                                f"got {name!r}", hint="e.g. name='users.show'")
            known = self._patterns.get(name)
            if known is not None and known[0].path != route.path:  # other methods on one path: one URL
                first = known[1]
                raise MegaError("route.duplicate_name", f"route name {name!r} is used twice in app "
                                f"'{app}': {first.where} and {route.where}",
                                details={"name": name, "routes": [f"{first.method} {first.path}",
                                                                  f"{route.method} {route.path}"]},
                                hint="give each route its own name (url_for needs one path per name)")
            if known is None:
                self._patterns[name] = (parse_path(route.path, where=route.where), route)

    def __contains__(self, name: str) -> bool:
        return name in self._patterns

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of route `name` with `params` filled in, each quoted (`{x:path}` keeps its '/')."""
        found = self._patterns.get(name)
        if found is None:
            near = close_match(name, self._patterns) if isinstance(name, str) else None
            names = ", ".join(sorted(self._patterns)) or "none"
            raise MegaError("route.unknown_name", f"no route named {name!r} in app '{self._app}'",
                            details={"name": name},
                            hint=(f"did you mean {near!r}? " if near else "") + f"named routes: {names}; "
                                 "name a route with router.get(path, handler, name='...')")
        pattern = found[0]
        wanted = pattern.param_names
        missing = [p for p in wanted if p not in params]
        extra = sorted(p for p in params if p not in wanted)
        if missing or extra:
            said = "; ".join(part for part in (f"missing {', '.join(missing)}" if missing else "",
                                               f"unexpected {', '.join(extra)}" if extra else "") if part)
            raise MegaError("route.url_params", f"url_for({name!r}): {said} (route {pattern.path})",
                            details={"name": name, "missing": missing, "unexpected": extra},
                            hint=f"pass exactly: {', '.join(wanted) or 'no parameters'}"
                                 + ("; url_for builds the path only: add a query string yourself "
                                    "(+ '?' + urllib.parse.urlencode({...}))" if extra else ""))
        if not wanted:
            return pattern.path
        parts = []
        for seg in pattern.segments:
            if seg.literal is not None:
                parts.append(seg.literal)
                continue
            value = params[seg.name or ""]
            text = str(value)
            # Servers decode %2F before routing: a '/' would split the segment, so no route matches.
            if CONVERTERS[seg.conv](text) is MISS or (seg.conv != "path" and "/" in text):
                raise MegaError("route.url_params", f"url_for({name!r}): {seg.name}={value!r} "
                                f"does not match {{{seg.name}:{seg.conv}}} (route {pattern.path})",
                                details={"name": name, "param": seg.name, "converter": seg.conv},
                                hint=f"pass a value the {seg.conv} converter accepts"
                                + (" ('/' only fits a {name:path} parameter)" if "/" in text else ""))
            parts.append(quote(text, safe=_SEGMENT_SAFE + ("/" if seg.conv == "path" else "")))
        return "/" + "/".join(parts)
