"""Each app's /openapi.json, built at boot from its routes: every kind of schema, components, per-app
documents by host, off in production unless enabled, and the boot errors."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from mega.boot.stages import BootError
from mega.testing import make_client, running, write_project

FULL = Path(__file__).resolve().parents[2] / "fixtures" / "projects" / "openapi_full"
ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}


def ok(data: Any) -> dict[str, Any]:
    return {"application/json": {"schema": {"type": "object", "required": ["ok", "data"],
                                            "properties": {"ok": {"const": True}, "data": data}}}}


async def fetch_documents() -> dict[str, dict[str, Any]]:
    async with running(FULL) as rt:
        out = {}
        async with make_client(rt, host="api.test") as api:
            out["api"] = (await api.get("/openapi.json")).json()
        async with make_client(rt, host="admin.test") as admin:
            out["admin"] = (await admin.get("/api/openapi.json")).json()
        return out


@pytest.fixture(scope="module")
def documents() -> dict[str, dict[str, Any]]:
    """Both documents of the fixture project, booted once for the module."""
    return asyncio.run(fetch_documents())


async def test_both_documents_are_valid_openapi_3_1(documents: dict[str, dict[str, Any]]) -> None:
    for document in documents.values():
        validate(document)
        assert document["openapi"] == "3.1.0"


async def test_info_servers_and_tags_come_from_the_app_config(documents: dict[str, dict[str, Any]]) -> None:
    api = documents["api"]
    assert api["info"] == {"title": "Shop API", "version": "2.1.0", "description": "Users and notes."}
    assert api["servers"] == [{"url": "https://api.example.com", "description": "production"}, {"url": "/"}]
    assert api["tags"] == [{"name": "api"}, {"name": "users"}]  # the app's name unless a route says
    assert documents["admin"]["info"] == {"title": "admin", "version": "1.0.0"}


async def test_each_app_documents_only_its_own_routes(documents: dict[str, dict[str, Any]]) -> None:
    assert set(documents["admin"]["paths"]) == {"/stats"}
    assert documents["admin"]["paths"]["/stats"]["get"]["tags"] == ["admin"]
    assert set(documents["api"]["paths"]) == {"/", "/files/{key}", "/raw/{rest}", "/names/{name}", "/users",
                                              "/users/{id}", "/whoami", "/notes"}


async def test_hidden_routes_head_and_the_docs_routes_are_not_listed(
        documents: dict[str, dict[str, Any]]) -> None:
    api = documents["api"]
    assert "/secret" not in api["paths"]  # openapi=False
    assert all("head" not in ops for ops in api["paths"].values())
    assert "/openapi.json" not in api["paths"] and "/docs" not in api["paths"]


async def test_path_parameters_take_their_converter_and_params_schema(
        documents: dict[str, dict[str, Any]]) -> None:
    paths = documents["api"]["paths"]

    def param(path: str) -> dict[str, Any]:
        (only,) = paths[path]["get"]["parameters"]
        assert only["in"] == "path" and only["required"] is True
        schema: dict[str, Any] = only["schema"]
        return schema

    assert param("/users/{id}") == {"type": "integer", "format": "int64", "minimum": 1,
                                    "maximum": 2**63 - 1}  # {id:int} narrowed by params=
    assert param("/files/{key}") == {"type": "string", "format": "uuid"}
    assert param("/names/{name}") == {"type": "string", "minLength": 1}
    assert param("/raw/{rest}")["type"] == "string"
    assert "404" in paths["/users/{id}"]["get"]["responses"]  # a value the converter refuses


async def test_query_and_header_schemas_become_parameters(documents: dict[str, dict[str, Any]]) -> None:
    paths = documents["api"]["paths"]
    limit, q = paths["/users"]["get"]["parameters"]
    assert (limit["name"], limit["in"], limit["required"]) == ("limit", "query", False)
    assert limit["schema"]["maximum"] == 100 and limit["description"] == "how many at most"
    assert (q["name"], q["in"]) == ("q", "query")
    (key,) = paths["/whoami"]["get"]["parameters"]
    assert key == {"name": "x-api-key", "in": "header", "required": True, "description": "the caller's key",
                   "schema": {"type": "string", "description": "the caller's key"}}
    assert paths["/whoami"]["get"]["deprecated"] is True


async def test_pydantic_models_are_components_and_dict_defs_are_hoisted(
        documents: dict[str, dict[str, Any]]) -> None:
    api = documents["api"]
    schemas = api["components"]["schemas"]
    assert {"Address", "NewUser", "User", "Tag", "ErrorEnvelope"} <= set(schemas)
    assert schemas["User"]["properties"]["address"] == {"$ref": "#/components/schemas/Address"}
    assert schemas["Tag"] == {"type": "string", "minLength": 1}
    create = api["paths"]["/users"]["post"]
    assert create["requestBody"] == {"required": True, "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/NewUser"}}}}
    note = api["paths"]["/notes"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert note["properties"]["tags"]["items"] == {"$ref": "#/components/schemas/Tag"}
    assert "$defs" not in note


async def test_responses_wrap_the_envelope_and_list_each_error_the_route_can_answer(
        documents: dict[str, dict[str, Any]]) -> None:
    paths = documents["api"]["paths"]
    create = paths["/users"]["post"]
    assert create["description"] == "Adds a **user**." and "summary" not in create
    assert create["responses"]["201"]["content"] == ok({"$ref": "#/components/schemas/User"})
    # validates (400), CSRF on an unsafe method (403), a body (413, 415), rate limited (429), 500,
    # and its own 409 (with its details) and 202 (no body)
    assert set(create["responses"]) == {"201", "202", "400", "403", "409", "413", "415", "429", "500"}
    conflict = create["responses"]["409"]["content"]["application/json"]["schema"]
    assert conflict["allOf"][0] == ENVELOPE
    assert "content" not in create["responses"]["202"]
    assert set(paths["/whoami"]["get"]["responses"]) == {"200", "400", "500"}  # rate_limit=False
    # csrf=False: no 403
    assert set(paths["/notes"]["post"]["responses"]) == {"200", "400", "413", "415", "429", "500"}
    assert set(paths["/"]["get"]["responses"]) == {"200", "429", "500"}
    assert paths["/users"]["get"]["responses"]["200"]["content"] == ok(
        {"type": "array", "items": {"$ref": "#/components/schemas/User"}})
    responses = documents["api"]["components"]["responses"]
    assert responses["BadRequest"]["content"]["application/json"]["schema"] == ENVELOPE
    assert set(responses["TooManyRequests"]["headers"]) == {"X-Request-Id", "Retry-After"}


async def test_operation_ids_are_unique_and_named_after_handlers(
        documents: dict[str, dict[str, Any]]) -> None:
    ids = {(method, path): op["operationId"] for path, ops in documents["api"]["paths"].items()
           for method, op in ops.items()}
    assert len(set(ids.values())) == len(ids)
    assert ids["get", "/users/{id}"] == "getUser"  # operation_id=
    assert ids["get", "/raw/{rest}"] == "raw"
    # three handlers named `index` (two modules, one of them on two methods): method and path appended
    assert ids["get", "/files/{key}"] == "index_get_files_key"
    assert ids["get", "/"] == "index_get" and ids["put", "/"] == "index_put"
    assert ids["get", "/users"] == "index_get_users"


async def test_a_created_resource_links_to_the_operations_on_it(documents: dict[str, dict[str, Any]]) -> None:
    links = documents["api"]["paths"]["/users"]["post"]["responses"]["201"]["links"]
    assert links == {"getUser": {"operationId": "getUser", "parameters": {"id": "$response.body#/data/id"}}}


async def test_the_document_is_served_with_an_etag_and_revalidated(tmp_path: Path) -> None:
    async with running(FULL) as rt, make_client(rt, host="api.test") as client:
        first = await client.get("/openapi.json")
        assert first.headers["cache-control"] == "no-cache"
        again = await client.get("/openapi.json", headers={"if-none-match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        head = await client.head("/openapi.json")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["etag"] == first.headers["etag"]
    async with running(FULL) as rt, make_client(rt, host="admin.test") as admin:
        assert (await admin.get("/docs")).status_code == 404  # docs_path None: the document only


def project(root: Path, app_config: str = "config = {}", routes: str = "") -> Path:
    return write_project(root, {
        "mega_config.py": "config = {}\n",
        "apps/main/app_config.py": app_config,
        "apps/main/routes/home.py": routes or """
            async def home(req, reply, ctx):
                return "home"

            def routes(router):
                router.get("/", home)
        """,
    })


@pytest.mark.parametrize(("app_config", "served"), [
    ("config = {}", False),
    ("config = {'openapi': {'enabled': True}}", True),
])
async def test_production_serves_it_only_when_enabled(tmp_path: Path, app_config: str, served: bool) -> None:
    root = project(tmp_path, app_config)
    environ = {**os.environ, "MEGA_ENV": "production", "SESSION_SECRET": "s" * 32}
    async with running(root, environ=environ) as rt, \
            make_client(rt) as client:
        for path in ("/openapi.json", "/docs"):
            assert (await client.get(path)).status_code == (200 if served else 404)


async def test_development_and_test_serve_it_unless_disabled(tmp_path: Path) -> None:
    for env in ("development", "test"):
        async with running(project(tmp_path / env), environ={**os.environ, "MEGA_ENV": env}) as rt, \
                make_client(rt) as client:
            assert (await client.get("/openapi.json")).status_code == 200
    async with running(project(tmp_path / "off", "config = {'openapi': False}")) as rt, \
            make_client(rt) as client:
        assert (await client.get("/openapi.json")).status_code == 404


@pytest.mark.parametrize("path", ["/docs", "/{page}", "/docs/{rest:path}"])
async def test_a_route_on_an_openapi_path_fails_boot(tmp_path: Path, path: str) -> None:
    root = project(tmp_path, routes=f"""
        async def mine(req, reply, ctx):
            return "mine"

        def routes(router):
            router.get({path!r}, mine)
    """)
    with pytest.raises(BootError) as info:
        async with running(root):
            pass
    cause = info.value.original
    assert cause.code == "openapi.path_conflict"
    assert f"route GET {path}" in cause.message and "where openapi serves its" in cause.message
    assert "docs_path" in (cause.hint or "") or "'path'" in (cause.hint or "")


async def test_the_same_explicit_operation_id_twice_fails_boot(tmp_path: Path) -> None:
    root = project(tmp_path, routes="""
        async def a(req, reply, ctx):
            return 1

        def routes(router):
            router.get("/a", a, operation_id="same")
            router.get("/b", a, operation_id="same")
    """)
    with pytest.raises(BootError) as info:
        async with running(root):
            pass
    assert info.value.original.code == "openapi.duplicate_operation_id"
    assert "'same'" in info.value.original.message


@pytest.mark.parametrize(("section", "message"), [
    ("{'path': 'openapi.json'}",
     "openapi.path must be a URL path such as '/openapi.json', got 'openapi.json'"),
    ("{'path': '/doc', 'docs_path': '/doc'}", "openapi.docs_path is '/doc', the path of the document too"),
    ("{'servers': [42]}", "must be a URL or {'url': ..., 'description': ...}, got 42"),
    ("{'enabeld': True}", "did you mean 'openapi.enabled'?"),
])
async def test_bad_openapi_config_fails_boot_naming_the_key(tmp_path: Path, section: str,
                                                            message: str) -> None:
    root = project(tmp_path, f"config = {{'openapi': {section}}}")
    with pytest.raises(BootError) as info:
        async with running(root):
            pass
    assert message in str(info.value)
