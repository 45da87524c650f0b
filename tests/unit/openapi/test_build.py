"""build_document on route declarations: forms, schema names that collide, bad route options."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from openapi_spec_validator import validate

from mega.errors import MegaError
from mega.http.router import RouteDef, Router
from mega.openapi._document import RouteSecurity, build_document
from mega.openapi._settings import default_settings

OPEN = RouteSecurity(csrf=False, rate_limited=False)


async def handler(req: Any) -> None:
    return None


def document(declare: Any) -> dict[str, Any]:
    router = Router()
    declare(router)
    return build_document("main", default_settings("test"), router.routes, lambda route: OPEN)


def test_a_form_route_takes_multipart_and_urlencoded_when_it_has_no_file() -> None:
    form = {"type": "object", "required": ["title"],
            "properties": {"title": {"type": "string"}, "photo": {"type": "string", "format": "binary"}}}
    # `form=` is read from the route's options, whoever declared it.
    route = RouteDef("POST", "/upload", handler, {"form": form})
    built = build_document("main", default_settings("test"), [route], lambda r: OPEN)
    validate(built)
    body = built["paths"]["/upload"]["post"]["requestBody"]
    assert body["required"] is True
    assert set(body["content"]) == {"multipart/form-data"}  # a file travels in multipart only
    assert body["content"]["multipart/form-data"]["schema"]["properties"]["photo"]["format"] == "binary"
    assert set(built["paths"]["/upload"]["post"]["responses"]) == {"200", "400", "413", "415", "500"}
    by_reference = RouteDef("POST", "/scan", handler, {"form": {
        "type": "object", "properties": {"page": {"$ref": "#/$defs/File"}},
        "$defs": {"File": {"type": "string", "format": "binary"}}}})
    built = build_document("main", default_settings("test"), [by_reference], lambda r: OPEN)
    assert set(built["paths"]["/scan"]["post"]["requestBody"]["content"]) == {"multipart/form-data"}
    text_only = RouteDef("POST", "/note", handler, {"form": {"type": "object", "properties": {
        "text": {"type": "string"}}}})
    built = build_document("main", default_settings("test"), [text_only], lambda r: OPEN)
    assert set(built["paths"]["/note"]["post"]["requestBody"]["content"]) == {
        "application/x-www-form-urlencoded", "multipart/form-data"}


def test_dict_defs_of_the_same_name_but_another_shape_get_distinct_components() -> None:
    def schema(kind: str) -> dict[str, Any]:
        return {"type": "object", "properties": {"tag": {"$ref": "#/$defs/Tag"}},
                "$defs": {"Tag": {"type": kind}}}

    built = document(lambda r: (r.post("/a", handler, body=schema("string")),
                                r.post("/b", handler, body=schema("integer")),
                                r.post("/c", handler, body=schema("string"))))
    validate(built)
    components = built["components"]["schemas"]
    assert components["Tag"] == {"type": "string"} and components["Tag2"] == {"type": "integer"}

    def ref(path: str) -> str:
        body = built["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        return str(body["properties"]["tag"]["$ref"])

    assert (ref("/a"), ref("/b"), ref("/c")) == ("#/components/schemas/Tag", "#/components/schemas/Tag2",
                                                 "#/components/schemas/Tag")


def test_two_pydantic_models_of_one_name_stay_apart() -> None:
    first = pydantic.create_model("Item", name=(str, ...))
    second = pydantic.create_model("Item", price=(int, ...))
    built = document(lambda r: (r.post("/a", handler, body=first), r.post("/b", handler, body=second)))
    validate(built)
    item_schemas = [s for name, s in built["components"]["schemas"].items() if "Item" in name]
    assert sorted(next(iter(s["properties"])) for s in item_schemas) == ["name", "price"]


@pytest.mark.parametrize(("options", "text"), [
    ({"openapi": "no"}, "option openapi= has the wrong type (str)"),
    ({"responses": {"409": None}}, "responses= has status '409', not an integer 100-599"),
    ({"tags": "users"}, "option tags= has the wrong type (str)"),
    ({"operation_id": ""}, "operation_id= is empty"),
])
def test_a_bad_documentation_option_fails_naming_the_route(options: dict[str, Any], text: str) -> None:
    with pytest.raises(MegaError) as info:
        document(lambda r: r.get("/x", handler, **options))
    assert info.value.code == "route.invalid_option"
    assert text in info.value.message and "route GET /x" in info.value.message


def test_a_schema_that_is_neither_dict_nor_model_fails() -> None:
    with pytest.raises(MegaError) as info:
        document(lambda r: r.post("/x", handler, body=[1, 2]))
    assert info.value.code == "route.invalid_schema" and "got list" in info.value.message
    assert "a pydantic BaseModel subclass or a pydantic TypeAdapter" in info.value.message


def test_a_model_named_like_the_error_envelope_fails() -> None:
    clash = pydantic.create_model("ErrorEnvelope", x=(int, ...))
    with pytest.raises(MegaError) as info:
        document(lambda r: r.post("/x", handler, body=clash))
    assert info.value.code == "openapi.schema_conflict"
