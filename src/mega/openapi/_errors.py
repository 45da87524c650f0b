"""The error envelope and the error responses a route can return, as OpenAPI components."""

from __future__ import annotations

from typing import Any

from mega.openapi._schemas import REF

__all__ = ["ENVELOPE", "ERROR_RESPONSES", "ERROR_SCHEMA", "error_components", "error_statuses"]

ENVELOPE = "ErrorEnvelope"  # the component name of the envelope

ERROR_SCHEMA = {
    "type": "object",
    "description": "mega's error envelope: `ok` is false and `error` says what went wrong.",
    "required": ["ok", "error"],
    "properties": {
        "ok": {"const": False},
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "stable code, `family.reason`"},
                "message": {"type": "string"},
                "details": {"description": "what the code needs: a list of problems for "
                                           "validation.failed, the request id for a 5xx outside development"},
            },
        },
    },
}

# status -> (component name, description, response headers)
ERROR_RESPONSES: dict[int, tuple[str, str, tuple[str, ...]]] = {
    400: ("BadRequest", "Invalid request: `validation.failed` (details: one entry per problem, "
                        "`{in, path, message}`) or `body.invalid_json`", ()),
    403: ("Forbidden", "Refused by CSRF protection: `csrf.origin_mismatch`, `csrf.token_missing`, "
                       "`csrf.token_invalid`", ()),
    404: ("NotFound", "No such resource: `route.not_found` or the handler's own code", ()),
    413: ("PayloadTooLarge", "Body over the route's limit: `body.too_large`", ()),
    415: ("UnsupportedMediaType", "Body is not JSON: `body.unsupported_media_type`", ()),
    429: ("TooManyRequests", "Rate limited: `rate_limit.exceeded`; retry after Retry-After seconds",
          ("Retry-After",)),
    500: ("InternalError", "Server error: `internal` or a more precise code; details carry the request id",
          ()),
}

_HEADERS = {
    "X-Request-Id": {"description": "the request's id (the client's when usable), also in the logs",
                     "schema": {"type": "string"}},
    "Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}},
}


def error_statuses(*, validates: bool, has_body: bool, csrf: bool, rate_limited: bool,
                   has_path_params: bool) -> list[int]:
    """Every error status the pipeline itself can answer this route with, besides the handler's own."""
    out = []
    if validates or has_body:
        out.append(400)
    if csrf:
        out.append(403)
    if has_path_params:
        out.append(404)
    if has_body:
        out += [413, 415]
    if rate_limited:
        out.append(429)
    out.append(500)
    return out


def error_ref(status: int) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"}


def error_response(description: str, details: dict[str, Any] | None = None,
                   headers: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"$ref": REF + ENVELOPE}
    if details is not None:  # a route's own error shape: the envelope with its details
        schema = {"allOf": [schema, {"properties": {"error": {"properties": {"details": details}}}}]}
    out: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}},
                           "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}}
    for name in headers:
        out["headers"][name] = {"$ref": f"#/components/headers/{name}"}
    return out


def error_components(used: set[int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(components.responses, components.headers) for the statuses `used`."""
    responses = {}
    headers = {"X-Request-Id": _HEADERS["X-Request-Id"]}
    for status in sorted(used):
        name, description, extra = ERROR_RESPONSES[status]
        responses[name] = error_response(description, headers=extra)
        for header in extra:
            headers[header] = _HEADERS[header]
    return responses, headers
