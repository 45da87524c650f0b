"""Per-route validation of params, query, headers, body and response, compiled once at boot.

A part is described by a JSON Schema (compiled with fastjsonschema; on failure jsonschema lists
every error) or a pydantic model. Every failure has one shape: 400 `validation.failed` with
`details: [{"in", "path", "message"}]`, at most MAX_DETAILS entries.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable
from typing import Any

from mega.errors import MegaError, ValidationError

MAX_DETAILS = 20
PARTS = ("params", "query", "headers", "body")

Validator = Callable[[Any], Any]
"""Takes the raw value, returns the validated (and for pydantic, converted) value or raises."""


class ResponseValidationError(MegaError):
    status = 500
    default_code = "response.invalid"


def _pointer(path: Any) -> str:
    parts = [str(p) for p in path]
    return "/" + "/".join(parts) if parts else ""


def _fail(part: str, details: list[dict[str, str]]) -> ValidationError:
    shown = details[:MAX_DETAILS]
    first = shown[0]
    where = f"{part}{first['path']}" if first["path"] else part
    more = f" (and {len(details) - 1} more)" if len(details) > 1 else ""
    return ValidationError(message=f"invalid {where}: {first['message']}{more}", details=shown)


def _coerce_strings(schema: dict[str, Any]) -> Callable[[dict[str, Any]], dict[str, Any]] | None:
    """Query, header, path and form values arrive as strings: convert those the schema types as scalars."""
    props = schema.get("properties") or {}
    casts: dict[str, Callable[[str], Any]] = {}
    for name, prop in props.items():
        kind = prop.get("type") if isinstance(prop, dict) else None
        if kind == "integer":
            casts[name] = _to_int64
        elif kind == "number":
            casts[name] = float
        elif kind == "boolean":
            casts[name] = _to_bool
    if not casts:
        return None

    def coerce(values: dict[str, Any]) -> dict[str, Any]:
        out = dict(values)
        for name, cast in casts.items():
            raw = out.get(name)
            if isinstance(raw, str):
                with contextlib.suppress(ValueError):  # left as a string: the schema reports it
                    out[name] = cast(raw)
        return out

    return coerce


def _to_int64(raw: str) -> int:
    """An integer JSON can carry back out (64 bits, as the encoder writes them): a longer one stays a
    string, which the schema refuses with 400, instead of passing validation and failing the answer."""
    value = int(raw)
    if not -(2**63) <= value < 2**64:
        raise ValueError(raw)
    return value


def _to_bool(raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ValueError(raw)


def compile_part(part: str, spec: Any, *, route: str) -> Validator:
    """Compile the validator for one request part (or "response")."""
    if isinstance(spec, dict):
        return _schema_validator(part, spec, route=route)
    # A model or a TypeAdapter was made with pydantic, so it is imported already: a project that
    # validates with JSON Schema only never imports it.
    pydantic = sys.modules.get("pydantic")
    if pydantic is not None:
        if isinstance(spec, type) and issubclass(spec, pydantic.BaseModel):
            return _pydantic_validator(part, pydantic.TypeAdapter(spec))
        if isinstance(spec, pydantic.TypeAdapter):
            return _pydantic_validator(part, spec)
    raise MegaError(
        "route.invalid_schema",
        f"{part} schema of route '{route}' must be a JSON Schema dict or a pydantic model, "
        f"got {type(spec).__name__}",
    )


def _schema_validator(part: str, schema: dict[str, Any], *, route: str) -> Validator:
    import fastjsonschema  # only projects with JSON Schemas pay for these imports
    import jsonschema

    try:
        fast = fastjsonschema.compile(schema)
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except (fastjsonschema.JsonSchemaDefinitionException, jsonschema.SchemaError) as exc:
        raise MegaError("route.invalid_schema", f"{part} schema of route '{route}' is not a valid JSON "
                        f"Schema: {getattr(exc, 'message', exc)}") from exc
    full = jsonschema.validators.validator_for(schema)(schema)
    coerce = _coerce_strings(schema) if part in ("params", "query", "headers", "form") else None

    def validate(value: Any) -> Any:
        if coerce is not None:
            value = coerce(value)
        try:
            return fast(value)
        except fastjsonschema.JsonSchemaValueException:
            errors = sorted(full.iter_errors(value), key=lambda e: list(e.absolute_path))
            details = [{"in": part, "path": _pointer(e.absolute_path), "message": e.message}
                       for e in errors[:MAX_DETAILS]]
            if not details:  # the two engines disagree only on exotic keywords; trust the fast one
                details = [{"in": part, "path": "", "message": "value does not match the schema"}]
            raise _fail(part, details) from None

    return validate


def _pydantic_validator(part: str, adapter: Any) -> Validator:
    import pydantic

    def validate(value: Any) -> Any:
        try:
            return adapter.validate_python(value)
        except pydantic.ValidationError as exc:
            details = [{"in": part, "path": _pointer(err["loc"]), "message": err["msg"]}
                       for err in exc.errors()[:MAX_DETAILS]]
            raise _fail(part, details) from None

    return validate


def response_validator(spec: Any, *, route: str) -> Validator:
    """Response validation: a mismatch is the server's fault (500 `response.invalid`)."""
    inner = compile_part("response", spec, route=route)

    def validate(value: Any) -> Any:
        try:
            return inner(value)
        except ValidationError as exc:
            raise ResponseValidationError(message=f"handler result does not match the response schema "
                                          f"of '{route}'", details=exc.details) from exc

    return validate
