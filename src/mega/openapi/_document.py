"""Build one app's OpenAPI 3.1 document from its routes, once, at boot."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from mega.errors import MegaError
from mega.http._routing.pattern import PathPattern, parse_path
from mega.http.router import RouteDef
from mega.openapi import _errors as errors
from mega.openapi._schemas import REF, SchemaSet
from mega.openapi._settings import OpenApiSettings

__all__ = ["RouteSecurity", "build_document", "operation_ids"]

OPENAPI_VERSION = "3.1.0"
_NO_BODY = (204, 304)
_INT64 = {"type": "integer", "format": "int64", "minimum": -(2**63), "maximum": 2**63 - 1}
_CONVERTED: dict[str, dict[str, Any]] = {
    "str": {"type": "string", "minLength": 1},
    "int": _INT64,
    "uuid": {"type": "string", "format": "uuid"},
    "path": {"type": "string", "minLength": 1, "description": "the rest of the path, '/' included"},
}
# OpenAPI ignores header parameters of these names: they are described elsewhere.
_RESERVED_HEADERS = frozenset({"accept", "content-type", "authorization"})


@dataclass(frozen=True)
class RouteSecurity:
    """What the security settings of a route add to its possible answers."""

    csrf: bool
    rate_limited: bool


def build_document(app_name: str, settings: OpenApiSettings, routes: Sequence[RouteDef],
                   security: Callable[[RouteDef], RouteSecurity]) -> dict[str, Any]:
    """The document of one app: every route not hidden with `openapi=False`, HEAD not listed apart."""
    shown = [r for r in routes if _option(r, "openapi", bool, True)]
    schemas = SchemaSet()
    for i, route in enumerate(shown):
        _collect(schemas, i, route)
    schemas.resolve()
    if errors.ENVELOPE in schemas.components:
        raise MegaError("openapi.schema_conflict", f"app '{app_name}': a route schema is named "
                        f"{errors.ENVELOPE!r}, the name of mega's error envelope in the document",
                        hint="rename the model (or its title)")
    ids = operation_ids(shown)
    paths: dict[str, dict[str, Any]] = {}
    used: set[int] = set()
    tags: dict[str, None] = {}
    for i, route in enumerate(shown):
        pattern = parse_path(route.path, where=route.where)
        route_tags = list(_option(route, "tags", (list, tuple), None) or [app_name])
        tags.update(dict.fromkeys(route_tags))
        operation = {"tags": route_tags, "operationId": ids[i],
                     **_operation(i, route, pattern, schemas, security(route), used)}
        paths.setdefault(_openapi_path(pattern), {})[route.method.lower()] = operation
    _link_created(shown, paths, schemas)
    responses, headers = errors.error_components(used)
    info: dict[str, Any] = {"title": settings.title or app_name, "version": settings.version}
    if settings.description:
        info["description"] = settings.description
    document: dict[str, Any] = {"openapi": OPENAPI_VERSION, "info": info}
    if settings.servers:
        document["servers"] = [{"url": url, **({"description": d} if d else {})}
                               for url, d in settings.servers]
    document["tags"] = [{"name": name} for name in tags]
    document["paths"] = paths
    document["components"] = {"schemas": {**schemas.components, errors.ENVELOPE: errors.ERROR_SCHEMA},
                              "responses": responses, "headers": headers}
    return document


def _link_created(routes: Sequence[RouteDef], paths: dict[str, dict[str, Any]], schemas: SchemaSet) -> None:
    """Links from what a POST or PUT on `/things` answers to the operations on `/things/{id}`, the id
    taken from the answer's data (a property of the parameter's name, else `id`): what a client, or a
    stateful test, follows after creating something."""
    for i, route in enumerate(routes):
        if route.method not in ("POST", "PUT") or route.options.get("response") is None:
            continue
        found = schemas.object_properties((i, "response"))
        success = paths[_openapi_path(parse_path(route.path))][route.method.lower()]["responses"].get(
            str(route.options.get("status", 200)), {})
        if found is None or "content" not in success:
            continue
        base = _openapi_path(parse_path(route.path)).rstrip("/")
        for path, operations in paths.items():
            item = re.fullmatch(re.escape(base) + r"/\{(\w+)\}", path)
            source = item and (item[1] if item[1] in found[0] else "id" if "id" in found[0] else None)
            if not item or not source:
                continue
            for target in operations.values():
                success.setdefault("links", {})[target["operationId"]] = {
                    "operationId": target["operationId"],
                    "parameters": {item[1]: f"$response.body#/data/{source}"}}


def _option(route: RouteDef, name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    value = route.options.get(name, default)
    if value is not default and not isinstance(value, kind):
        raise MegaError("route.invalid_option", f"{route.where}: option {name}= has the wrong type "
                        f"({type(value).__name__})", hint=_HINTS[name])
    return value


_HINTS = {
    "openapi": "openapi=False hides the route from the document; leave it out to show it",
    "tags": "tags=['users', 'admin']",
    "operation_id": "operation_id='listUsers' (unique in the app)",
    "summary": "summary='One line'",
    "description": "description='Markdown text'",
    "deprecated": "deprecated=True",
    "responses": "responses={409: None, 202: SomeModel}: status -> schema of `data` (2xx) or of "
                 "`error.details` (4xx, 5xx), or None",
}


def _collect(schemas: SchemaSet, i: int, route: RouteDef) -> None:
    for part in ("params", "query", "headers", "body", "form"):
        spec = route.options.get(part)
        if spec is not None:
            schemas.add((i, part), spec, mode="validation", where=f"{route.where} {part}=")
    if route.options.get("response") is not None:
        schemas.add((i, "response"), route.options["response"], mode="serialization",
                    where=f"{route.where} response=")
    for status, spec in _responses(route).items():
        if spec is not None:
            schemas.add((i, "responses", status), spec, mode="serialization", where=f"{route.where} "
                        f"responses[{status}]")


def _responses(route: RouteDef) -> dict[int, Any]:
    given = _option(route, "responses", dict, None) or {}
    for status in given:
        if type(status) is not int or not 100 <= status <= 599:
            raise MegaError("route.invalid_option", f"{route.where}: responses= has status {status!r}, "
                            "not an integer 100-599", hint=_HINTS["responses"])
    return given


def _operation(i: int, route: RouteDef, pattern: PathPattern, schemas: SchemaSet, security: RouteSecurity,
               used: set[int]) -> dict[str, Any]:
    op: dict[str, Any] = {}
    for name in ("summary", "description"):
        text = _option(route, name, str, None)
        if text:
            op[name] = text
    if _option(route, "deprecated", bool, False):
        op["deprecated"] = True
    parameters = _path_parameters(i, route, pattern, schemas)
    parameters += _parameters(i, route, "query", schemas)
    parameters += _parameters(i, route, "headers", schemas)
    if parameters:
        op["parameters"] = parameters
    body = _request_body(i, route, schemas)
    if body is not None:
        op["requestBody"] = body
    validates = any(route.options.get(p) is not None for p in ("params", "query", "headers", "body", "form"))
    has_body = body is not None
    statuses = errors.error_statuses(validates=validates, has_body=has_body, csrf=security.csrf,
                                     rate_limited=security.rate_limited,
                                     has_path_params=bool(pattern.param_names))
    responses: dict[str, Any] = {}
    success = int(route.options.get("status", 200))
    responses[str(success)] = _success(success, schemas.schema((i, "response"))
                                       if route.options.get("response") is not None else {})
    own = _responses(route)
    for status in statuses:
        if status not in own:
            responses[str(status)] = errors.error_ref(status)
            used.add(status)
    for status, spec in own.items():
        schema = schemas.schema((i, "responses", status)) if spec is not None else None
        responses[str(status)] = _own_response(status, schema)
    op["responses"] = dict(sorted(responses.items()))
    return op


def _success(status: int, data: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {"description": _phrase(status),
                           "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}}
    if status in _NO_BODY or data is None:
        return out
    out["content"] = {"application/json": {"schema": {
        "type": "object", "required": ["ok", "data"],
        "properties": {"ok": {"const": True}, "data": data}}}}
    return out


def _own_response(status: int, schema: dict[str, Any] | None) -> dict[str, Any]:
    if status >= 400:
        return errors.error_response(_phrase(status), details=schema)
    if status < 200 or status >= 300:
        return {"description": _phrase(status)}
    return _success(status, schema)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Status {status}"


def _path_parameters(i: int, route: RouteDef, pattern: PathPattern,
                     schemas: SchemaSet) -> list[dict[str, Any]]:
    own = schemas.object_properties((i, "params")) if route.options.get("params") is not None else None
    props = own[0] if own else {}
    out = []
    for segment in pattern.segments:
        if segment.name is None:
            continue
        schema: dict[str, Any] = dict(_CONVERTED[segment.conv])
        extra = props.get(segment.name)
        if isinstance(extra, dict):
            schema = {"allOf": [schema, extra]} if "$ref" in extra else {**schema, **extra}
        out.append({"name": segment.name, "in": "path", "required": True, "schema": schema})
    return out


def _parameters(i: int, route: RouteDef, part: str, schemas: SchemaSet) -> list[dict[str, Any]]:
    if route.options.get(part) is None:
        return []
    where = "query" if part == "query" else "header"
    found = schemas.object_properties((i, part))
    if found is None:  # no named properties: one free-form object of the whole query
        if where == "header":
            return []
        return [{"name": "query", "in": "query", "schema": schemas.schema((i, part)), "style": "form",
                 "explode": True}]
    props, required = found
    out = []
    for name, schema in props.items():
        if where == "header" and name.lower() in _RESERVED_HEADERS:
            continue
        param: dict[str, Any] = {"name": name, "in": where, "required": name in required, "schema": schema}
        if isinstance(schema, dict) and schema.get("description"):
            param["description"] = schema["description"]
        out.append(param)
    return out


def _request_body(i: int, route: RouteDef, schemas: SchemaSet) -> dict[str, Any] | None:
    content: dict[str, Any] = {}
    if route.options.get("body") is not None:
        content["application/json"] = {"schema": schemas.schema((i, "body"))}
    if route.options.get("form") is not None:
        form = schemas.schema((i, "form"))
        if not _has_files(form, schemas.components, set()):  # files travel in multipart only
            content["application/x-www-form-urlencoded"] = {"schema": form}
        content["multipart/form-data"] = {"schema": form}
    return {"required": True, "content": content} if content else None


def _has_files(node: Any, components: dict[str, Any], seen: set[str]) -> bool:
    """Whether a schema has a file field (`format: binary`), through its component references."""
    if isinstance(node, list):
        return any(_has_files(item, components, seen) for item in node)
    if not isinstance(node, dict):
        return False
    if node.get("format") == "binary":
        return True
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith(REF) and ref not in seen:
        seen.add(ref)
        if _has_files(components.get(ref[len(REF):]), components, seen):
            return True
    return any(_has_files(value, components, seen) for key, value in node.items() if key != "$ref")


def _openapi_path(pattern: PathPattern) -> str:
    if not pattern.segments:
        return "/"
    return "/" + "/".join(s.literal if s.literal is not None else "{" + (s.name or "") + "}"
                          for s in pattern.segments)


_WORD = re.compile(r"[^A-Za-z0-9]+")


def _handler_id(route: RouteDef) -> str:
    qualname = getattr(route.handler, "__qualname__", None) or type(route.handler).__qualname__
    parts = [p for p in qualname.split(".") if p != "<locals>"]
    return _WORD.sub("_", "_".join(parts)).strip("_") or "handler"


def _route_words(route: RouteDef) -> str:
    words = _WORD.sub("_", re.sub(r":\w+\}", "}", route.path)).strip("_")
    return f"{route.method.lower()}_{words}" if words else route.method.lower()


def operation_ids(routes: Sequence[RouteDef]) -> list[str]:
    """One unique id per route: `operation_id=` as given, else the handler's name, with the method and
    path appended where two routes share a handler name."""
    explicit: dict[str, RouteDef] = {}
    for route in routes:
        given = _option(route, "operation_id", str, None)
        if given is None:
            continue
        if not given:
            raise MegaError("route.invalid_option", f"{route.where}: operation_id= is empty",
                            hint=_HINTS["operation_id"])
        if given in explicit:
            raise MegaError("openapi.duplicate_operation_id", f"operation_id {given!r} is given to both "
                            f"{explicit[given].where} and {route.where}",
                            hint="operation ids are unique within an app: rename one")
        explicit[given] = route
    derived = [_handler_id(r) for r in routes]
    counts = Counter(d for d, r in zip(derived, routes, strict=True) if r.options.get("operation_id") is None)
    taken = set(explicit)
    out = []
    for name, route in zip(derived, routes, strict=True):
        given = route.options.get("operation_id")
        if given is not None:
            out.append(given)
            continue
        if counts[name] > 1 or name in explicit:
            name = f"{name}_{_route_words(route)}"
        candidate, n = name, 1
        while candidate in taken:
            n += 1
            candidate = f"{name}_{n}"
        taken.add(candidate)
        out.append(candidate)
    return out
