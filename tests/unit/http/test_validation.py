"""Validation of params, query, headers, body and response; body limits and media types."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from mega.errors import MegaError
from tests.conftest import build_app

ITEM = {
    "type": "object",
    "required": ["name", "qty"],
    "properties": {"name": {"type": "string", "minLength": 1}, "qty": {"type": "integer", "minimum": 1}},
    "additionalProperties": False,
}


class Item(BaseModel):
    name: str = Field(min_length=1)
    qty: int = Field(ge=1)


def declare(r):
    r.post("/schema", lambda req: req.data, body=ITEM)
    r.post("/model", lambda req: {"cls": type(req.data).__name__, "qty": req.data.qty}, body=Item)
    r.get("/q", lambda req: req.validated["query"],
          query={"type": "object", "properties": {"page": {"type": "integer", "minimum": 1},
                                                  "all": {"type": "boolean"}}, "required": ["page"]})
    r.get("/h", lambda req: req.validated["headers"]["x-token"],
          headers={"type": "object", "required": ["x-token"],
                   "properties": {"x-token": {"type": "string", "pattern": "^[a-z]+$"}}})
    r.get("/p/{id:int}", lambda req: req.params,
          params={"type": "object", "properties": {"id": {"type": "integer", "maximum": 10}}})
    r.get("/bad-response", lambda: {"name": 5}, response={"type": "object",
                                                          "properties": {"name": {"type": "string"}}})
    r.get("/good-response", lambda: {"name": "x", "qty": 2}, response=Item)
    r.post("/many", lambda req: req.data, body={"type": "array", "items": {"type": "integer"}})
    r.post("/small", lambda req: len(req.data), body={"type": "string"}, body_limit=10)
    r.post("/raw", lambda req: req.json())


@pytest.fixture
async def client(make_client):
    async with make_client(declare) as http:
        yield http


async def test_json_schema_body_accepts_and_rejects_with_details(client):
    r = await client.post("/schema", json={"name": "pen", "qty": 2})
    assert r.status_code == 200 and r.json()["data"] == {"name": "pen", "qty": 2}
    r = await client.post("/schema", json={"name": "", "qty": 0, "extra": 1})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "validation.failed"
    paths = {(d["in"], d["path"]) for d in err["details"]}
    assert ("body", "/name") in paths and ("body", "/qty") in paths and ("body", "") in paths
    assert all(set(d) == {"in", "path", "message"} for d in err["details"])


async def test_pydantic_body(client):
    r = await client.post("/model", json={"name": "pen", "qty": "3"})
    assert r.json()["data"] == {"cls": "Item", "qty": 3}
    r = await client.post("/model", json={"name": "pen", "qty": 0})
    err = r.json()["error"]
    assert r.status_code == 400 and err["code"] == "validation.failed"
    assert err["details"] == [
        {"in": "body", "path": "/qty", "message": "Input should be greater than or equal to 1"}]


async def test_details_are_capped_at_20(client):
    r = await client.post("/many", json=["x"] * 50)
    details = r.json()["error"]["details"]
    assert r.status_code == 400 and len(details) == 20
    assert details[0]["path"] == "/0"


async def test_query_headers_params_are_coerced_and_validated(client):
    r = await client.get("/q", params={"page": "2", "all": "true"})
    assert r.json()["data"] == {"page": 2, "all": True}
    r = await client.get("/q", params={"page": "zero"})
    assert r.status_code == 400 and r.json()["error"]["details"][0]["in"] == "query"
    r = await client.get("/q")
    assert r.json()["error"]["details"][0]["message"] == "'page' is a required property"
    assert (await client.get("/h", headers={"x-token": "abc"})).json()["data"] == "abc"
    r = await client.get("/h", headers={"x-token": "ABC"})
    assert r.status_code == 400 and r.json()["error"]["details"][0] == {
        "in": "headers", "path": "/x-token", "message": "'ABC' does not match '^[a-z]+$'"}
    assert (await client.get("/p/3")).json()["data"] == {"id": 3}
    r = await client.get("/p/11")
    assert r.status_code == 400 and r.json()["error"]["details"][0]["in"] == "params"


async def test_response_validation_is_a_server_error(client):
    r = await client.get("/bad-response")
    assert r.status_code == 500 and r.json()["error"]["code"] == "response.invalid"
    assert (await client.get("/good-response")).json()["data"] == {"name": "x", "qty": 2}


async def test_malformed_json_is_400(client):
    r = await client.post("/schema", content=b"{nope", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "body.invalid_json"
    r = await client.post("/schema", content=b"", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "body.invalid_json"


async def test_wrong_media_type_is_415(client):
    r = await client.post("/schema", content=b"<name>a</name>", headers={"content-type": "application/xml"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "body.unsupported_media_type"
    # text/plain is what a cross-site form can send: a JSON-only route refuses it before CSRF runs,
    # a route that may read any body keeps CSRF first.
    r = await client.post("/schema", content=b'{"name":"a","qty":1}', headers={"content-type": "text/plain"})
    assert r.status_code == 415 and r.json()["error"]["code"] == "body.unsupported_media_type"
    r = await client.post("/raw", content=b'{"name":"a","qty":1}', headers={"content-type": "text/plain"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "csrf.token_missing"
    r = await client.post("/schema", content=b'{"name":"a","qty":1}',
                          headers={"content-type": "application/vnd.api+json"})
    assert r.status_code == 200


async def test_body_limit_413_by_declared_length_and_by_stream(client, make_client):
    r = await client.post("/small", json="x" * 50)
    assert r.status_code == 413 and r.json()["error"]["code"] == "body.too_large"
    assert r.json()["error"]["details"] == {"limit": 10}

    async def chunks():
        for _ in range(5):
            yield b'"xxxxxxxx'
        yield b'"'

    r = await client.post("/small", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


async def test_default_body_limit_is_one_mebibyte(client):
    big = b'"' + b"x" * (1024 * 1024) + b'"'
    r = await client.post("/raw", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    ok = b'"' + b"x" * 1000 + b'"'
    r = await client.post("/raw", content=ok, headers={"content-type": "application/json"})
    assert r.status_code == 200


def test_invalid_schema_fails_at_boot():
    with pytest.raises(MegaError) as info:
        build_app(lambda r: r.post("/", lambda: 1, body={"type": "nonsense"}))
    assert info.value.code == "route.invalid_schema"
    assert "POST /" in info.value.message
    with pytest.raises(MegaError) as info:
        build_app(lambda r: r.post("/", lambda: 1, body=42))
    assert info.value.code == "route.invalid_schema"


def test_a_schema_of_the_wrong_kind_names_every_kind_accepted():
    with pytest.raises(MegaError) as info:
        build_app(lambda r: r.post("/", lambda: 1, body=list[int]))
    assert info.value.code == "route.invalid_schema"
    assert info.value.message == ("body schema of route 'POST /' must be a JSON Schema dict, a pydantic "
                                  "BaseModel subclass or a pydantic TypeAdapter, got GenericAlias")
    assert "TypeAdapter(...)" in (info.value.hint or "")
