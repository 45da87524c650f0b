"""A JSON body's schema within the common keywords is decided by jsonschema-rs (mega.http._validation):
its verdict must be fastjsonschema's for every value orjson can produce, the errors keep their wording,
and a schema outside those keywords keeps fastjsonschema alone."""

from __future__ import annotations

import json
from typing import Any

import fastjsonschema
import orjson
import pytest

from mega.errors import MegaError
from mega.http._validation import _native_verdict, compile_part
from tests.conftest import asgi_client, build_app

VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 1.0, 1.5, -0.0, 2**63, 2**64 - 1, -(2**63), 1e308, 10, 10.0, 9.999,
    orjson.loads(b"123456789012345678901234567890"),  # orjson reads it as a float
    "", "a", "é", "😀", "😀😀", "ab", [], [1], ["a"], [1.0, 1], ["a", "a"], {}, {"a": 1}, {"a": True},
    {"a": "x", "b": 2}, {"a": None}, {"a": [1, 2]}, {"a": {"b": 1}},
]

SCHEMAS: list[dict[str, Any]] = [
    {"type": "integer"}, {"type": "number"}, {"type": "string"}, {"type": "boolean"}, {"type": "null"},
    {"type": "array"}, {"type": "object"}, {"type": ["integer", "null"]}, {"minimum": 1}, {"maximum": 10},
    {"exclusiveMinimum": 1}, {"exclusiveMaximum": 10}, {"minLength": 2}, {"maxLength": 1}, {"minItems": 1},
    {"maxItems": 1}, {"required": ["a"]}, {"properties": {"a": {"type": "integer"}}},
    {"additionalProperties": False}, {"additionalProperties": {"type": "string"}},
    {"items": {"type": "integer"}}, {"minProperties": 1}, {"maxProperties": 0},
    {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    {"oneOf": [{"type": "number"}, {"type": "integer"}]},
    {"not": {"type": "integer"}}, {"allOf": [{"minimum": 0}, {"maximum": 5}]},
    {"type": "integer", "minimum": 1.5}, {"type": "number", "maximum": 2**64},
    {"type": "object", "required": ["a"], "properties": {"a": {"type": "object", "properties": {
        "b": {"type": "integer", "maximum": 0}}}}, "additionalProperties": False},
]
DRAFTS = [None, "http://json-schema.org/draft-07/schema#", "http://json-schema.org/draft-06/schema#",
          "http://json-schema.org/draft-04/schema#"]


def _fast_ok(validate: Any, value: Any) -> bool:
    try:
        validate(value)
    except fastjsonschema.JsonSchemaValueException:
        return False
    return True


@pytest.mark.parametrize("draft", DRAFTS)
@pytest.mark.parametrize("schema", SCHEMAS, ids=json.dumps)
def test_the_native_verdict_is_fastjsonschemas(schema: dict[str, Any], draft: str | None) -> None:
    schema = dict(schema) if draft is None else {**schema, "$schema": draft}
    if draft is not None and "draft-04" in draft and ("exclusiveMinimum" in schema or
                                                      "exclusiveMaximum" in schema):
        pytest.skip("draft 4 spells exclusiveMinimum as a boolean beside minimum")
    verdict = _native_verdict(schema)
    assert verdict is not None
    fast = fastjsonschema.compile(schema)
    for value in VALUES:
        assert verdict(value) is _fast_ok(fast, value), (schema, value)


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"a": {"type": "string", "default": "x"}}},  # fastjsonschema fills it
    {"type": "string", "format": "email"}, {"type": "string", "pattern": "^a"}, {"enum": [1, "a"]},
    {"const": 1}, {"$ref": "#/definitions/a", "definitions": {"a": {"type": "integer"}}},
    {"items": [{"type": "integer"}]}, {"type": "array", "uniqueItems": True}, {"multipleOf": 0.1},
    {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "integer"},
])
def test_a_schema_outside_the_common_keywords_keeps_fastjsonschema(schema: dict[str, Any]) -> None:
    assert _native_verdict(schema) is None


def test_defaults_are_still_filled_in() -> None:
    validate = compile_part("body", {"type": "object", "properties": {"a": {"default": 3}}}, route="POST /x")
    assert validate({}) == {"a": 3}


def test_only_a_body_is_decided_natively() -> None:
    # query values arrive as strings and are coerced first: fastjsonschema's path, unchanged
    validate = compile_part("query", {"type": "object", "properties": {"n": {"type": "integer"}}},
                            route="GET /x")
    assert validate({"n": "4"}) == {"n": 4}


def test_a_refused_body_keeps_its_error_details() -> None:
    validate = compile_part("body", {"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "minLength": 2}}}, route="POST /x")
    body = {"name": "a"}
    assert validate({"name": "ab"}) == {"name": "ab"}
    with pytest.raises(MegaError) as err:
        validate(body)
    assert err.value.code == "validation.failed"
    assert err.value.details == [{"in": "body", "path": "/name", "message": "'a' is too short"}]


async def test_the_route_answers_as_before() -> None:
    schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer", "maximum": 5}},
              "additionalProperties": False}
    app = build_app(lambda r: r.post("/n", lambda req: req.data, body=schema))
    async with asgi_client(app) as client:
        ok = await client.post("/n", json={"n": 5})
        assert ok.status_code == 200 and ok.json()["data"] == {"n": 5}
        too_big = await client.post("/n", json={"n": 6})
        assert too_big.status_code == 400
        assert too_big.json()["error"]["details"] == [{"in": "body", "path": "/n",
                                                       "message": "6 is greater than the maximum of 5"}]
        extra = await client.post("/n", json={"n": 1, "m": 2})
        assert extra.status_code == 400
