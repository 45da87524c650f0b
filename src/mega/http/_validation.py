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

SCHEMA_KINDS = "a JSON Schema dict, a pydantic BaseModel subclass or a pydantic TypeAdapter"
SCHEMA_HINT = ("pass a dict, a pydantic BaseModel subclass or a pydantic TypeAdapter; wrap any other "
               "type (list[Item], a dataclass, a TypedDict) in pydantic.TypeAdapter(...)")

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
        f"{part} schema of route '{route}' must be {SCHEMA_KINDS}, got {type(spec).__name__}",
        hint=SCHEMA_HINT,
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

    def checked(value: Any) -> Any:
        try:
            return fast(value)
        except fastjsonschema.JsonSchemaValueException:
            errors = sorted(full.iter_errors(value), key=lambda e: list(e.absolute_path))
            details = [{"in": part, "path": _pointer(e.absolute_path), "message": e.message}
                       for e in errors[:MAX_DETAILS]]
            if not details:  # the two engines disagree only on exotic keywords; trust the fast one
                details = [{"in": part, "path": "", "message": "value does not match the schema"}]
            raise _fail(part, details) from None

    verdict = _native_verdict(schema) if part == "body" else None
    if verdict is not None:
        def validate_body(value: Any) -> Any:
            # A valid body (the usual case) is decided in Rust; a refused one goes through the
            # engines above, which word the errors and keep the last word on the verdict.
            return value if verdict(value) else checked(value)

        return validate_body
    if coerce is None:
        return checked

    def validate(value: Any) -> Any:
        return checked(coerce(value))

    return validate


# The keywords on which jsonschema-rs and fastjsonschema agree for every value orjson produces
# (checked value by value in tests/unit/http/test_validation_native.py). Anything else (`default`,
# which fastjsonschema fills in; `format`, `pattern`, `enum`, `const`, `$ref`, ...) keeps the
# fastjsonschema verdict.
_NATIVE_KEYWORDS = frozenset({
    "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
    "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "minProperties", "maxProperties", "allOf", "anyOf", "oneOf", "not",
    "title", "description", "examples", "$comment", "$schema",
})
_NATIVE_DRAFTS = {
    None: "Draft7Validator",  # fastjsonschema's default draft
    "http://json-schema.org/draft-07/schema#": "Draft7Validator",
    "http://json-schema.org/draft-07/schema": "Draft7Validator",
    "http://json-schema.org/draft-06/schema#": "Draft6Validator",
    "http://json-schema.org/draft-06/schema": "Draft6Validator",
    "http://json-schema.org/draft-04/schema#": "Draft4Validator",
    "http://json-schema.org/draft-04/schema": "Draft4Validator",
}


def _native_schema(schema: Any) -> bool:
    """Whether `schema` uses only `_NATIVE_KEYWORDS`, all the way down."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict) or not schema.keys() <= _NATIVE_KEYWORDS:
        return False
    for key, sub in schema.items():
        if key == "properties":
            if not isinstance(sub, dict) or not all(_native_schema(s) for s in sub.values()):
                return False
        elif key in ("allOf", "anyOf", "oneOf"):
            if not isinstance(sub, list) or not all(_native_schema(s) for s in sub):
                return False
        elif key in ("items", "additionalProperties", "not") and not _native_schema(sub):
            return False  # `items` as a list (tuple validation) is refused here too
    return True


def _native_verdict(schema: dict[str, Any]) -> Callable[[Any], bool] | None:
    """jsonschema-rs's `is_valid` for a JSON body's schema within `_NATIVE_KEYWORDS` (about 4x faster
    than fastjsonschema's generated Python on a 1 KiB object: ADR 0033), else None."""
    declared = schema.get("$schema")
    draft = _NATIVE_DRAFTS.get(declared, "") if declared is None or isinstance(declared, str) else ""
    if not draft or not _native_schema(schema):
        return None
    try:
        import jsonschema_rs
    except ImportError:  # pragma: no cover - a base dependency; fastjsonschema alone still validates
        return None
    try:
        verdict: Callable[[Any], bool] = getattr(jsonschema_rs, draft)(schema).is_valid
    except Exception:  # a schema it cannot take: fastjsonschema alone validates
        return None
    return verdict


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
