"""The document of samples/simple: valid OpenAPI 3.1, and schemathesis finds no 5xx and no answer that
breaks it, over every operation with positive and negative examples and its stateful links."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from openapi_spec_validator import validate
from schemathesis.generation import GenerationMode

pytestmark = pytest.mark.integration

EXAMPLES = 25  # per operation and mode: the whole file runs in well under a minute on 2 cores
OPERATIONS = {("GET", "/"), ("GET", "/todos"), ("POST", "/todos"), ("GET", "/todos/{id}"),
              ("PATCH", "/todos/{id}"), ("DELETE", "/todos/{id}")}


@pytest.fixture(scope="session")
def document(simple_url: str) -> dict[str, Any]:
    response = httpx.get(f"{simple_url}/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture(scope="session")
def simple_schema(simple_url: str) -> Any:
    loaded = schemathesis.openapi.from_url(f"{simple_url}/openapi.json")
    loaded.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                                    max_examples=EXAMPLES)
    return loaded


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    validate(document)  # raises on the first violation of the OpenAPI 3.1 schema
    assert document["openapi"] == "3.1.0"
    listed = {(method.upper(), path) for path, ops in document["paths"].items() for method in ops}
    assert listed == OPERATIONS  # HEAD is not listed apart, the docs routes are not in the document


def test_the_document_has_stateful_links(document: dict[str, Any]) -> None:
    created = document["paths"]["/todos"]["post"]["responses"]["201"]
    targets = {link["operationId"] for link in created["links"].values()}
    assert targets == {"TodoController_show", "TodoController_update", "TodoController_destroy"}
    assert all(link["parameters"] == {"id": "$response.body#/data/id"} for link in created["links"].values())


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_every_operation_answers_as_documented(simple_schema: Any, mode: GenerationMode) -> None:
    # Every check: no 5xx, status codes, content types, headers and bodies as documented; in negative
    # mode, input the document refuses must be refused with a documented 4xx.
    operations = [result.ok() for result in simple_schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == OPERATIONS
    for operation in operations:
        raw = operation.definition.raw
        if mode is GenerationMode.NEGATIVE and not (raw.get("parameters") or raw.get("requestBody")):
            continue  # nothing to send wrong: `GET /` takes no input

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  database=None)
        def run(case: Any) -> None:
            case.call_and_validate()

        run()


def test_stateful_runs_follow_the_links(simple_schema: Any, simple_url: str) -> None:
    class Workflow(simple_schema.as_state_machine()):  # type: ignore[misc]
        def setup(self) -> None:
            # Each scenario starts from an empty list, so a replayed scenario meets the same state.
            for todo in httpx.get(f"{simple_url}/todos").json()["data"]:
                assert httpx.delete(f"{simple_url}/todos/{todo['id']}").status_code == 204

    Workflow.run(settings=settings(max_examples=EXAMPLES, deadline=None, stateful_step_count=6,
                                   database=None, suppress_health_check=list(HealthCheck)))
