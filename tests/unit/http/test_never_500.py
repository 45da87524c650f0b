"""Random path segments, query strings, headers and bodies against every route of samples/simple,
and against an app with every converter and body type: the answer is always 2xx, 3xx or 4xx, and
every JSON body is a valid envelope. Requests are ASGI scopes built by hand, so paths, query bytes
and header values can be anything a server might hand over."""

from __future__ import annotations

import itertools
import json
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

from mega.testing import running
from tests.conftest import build_app

pytestmark = pytest.mark.asyncio(loop_scope="module")

SIMPLE = Path(__file__).resolve().parents[3] / "samples" / "simple"
# MEGA_FUZZ_EXAMPLES=5000 for a longer search; the suite runs 150 per test.
EXAMPLES = settings(max_examples=int(os.environ.get("MEGA_FUZZ_EXAMPLES", "150")), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow], database=None)


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    qty: int = Field(ge=0, le=1000)
    tags: list[str] = []


SCHEMA = {"type": "object", "required": ["id"], "additionalProperties": False,
          "properties": {"id": {"type": "integer"}, "note": {"type": "string", "maxLength": 10}}}
QUERY = {"type": "object", "additionalProperties": False,
         "properties": {"n": {"type": "integer"}, "on": {"type": "boolean"}, "kind": {"enum": ["a", "b"]}}}


async def echo_json(req: Any) -> Any:
    return await req.json()


async def body_size(req: Any) -> int:
    return len(await req.body())


def params(req: Any) -> dict[str, Any]:
    return {k: str(v) for k, v in req.params.items()}


def every_kind(r: Any) -> None:
    """One route per converter and per body type mega reads."""
    r.get("/n/{n:int}", params)
    r.get("/u/{u:uuid}", params)
    r.get("/s/{s}", params)
    r.get("/p/{rest:path}", params)
    r.get("/m/{a:int}/{b}/{c:uuid}", params)
    r.delete("/n/{n:int}", params)
    r.get("/q", lambda req: req.validated["query"], query=QUERY)
    r.post("/model", lambda req: req.data, body=Item)
    r.post("/schema", lambda req: req.data, body=SCHEMA)
    r.post("/json", echo_json)
    r.put("/raw", body_size)


# -- strategies -------------------------------------------------------------------------------

numbers = st.one_of(st.integers(), st.integers(min_value=2**62, max_value=2**70).map(str),
                    st.sampled_from(["-0", "007", "+5", "1e3", "١٢", "²", "9" * 400, "0x10", " 1"]))
segments = st.one_of(numbers.map(str), st.text(max_size=40), st.uuids().map(str),
                     st.uuids().map(lambda u: u.hex.upper()),
                     st.sampled_from(["", ".", "..", "%", "%2F", "a/b"]))
prefixes = st.sampled_from(["/", "/todos", "/todos/", "/n/", "/u/", "/s/", "/p/", "/m/", "/q", "/model",
                            "/schema", "/json", "/raw", "/health/", "/missing/"])
paths = st.builds(lambda p, segs, tail: p + "/".join(segs) + tail, prefixes,
                  st.lists(segments, max_size=3), st.sampled_from(["", "/", "//"]))
queries = st.one_of(st.binary(max_size=60),
                    st.dictionaries(st.sampled_from(["done", "n", "on", "kind", "x", "page"]),
                                    st.one_of(numbers.map(str), st.text(max_size=10),
                                              st.sampled_from(["true", "false", "a", "1.5"])),
                                    max_size=3).map(lambda d: "&".join(f"{k}={v}" for k, v in d.items())
                                                    .encode("utf-8", "surrogatepass")))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63, max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
shaped = st.fixed_dictionaries({}, optional={
    "title": st.one_of(st.text(max_size=250), st.integers(), st.none()),
    "done": st.one_of(st.booleans(), st.text(max_size=5), st.integers()),
    "name": st.text(max_size=25), "qty": st.one_of(st.integers(), st.text(max_size=4)),
    "tags": st.lists(st.text(max_size=5), max_size=3), "id": numbers, "note": st.text(max_size=12),
})
bodies = st.one_of(st.binary(max_size=120), json_values.map(lambda v: json.dumps(v).encode()),
                   shaped.map(lambda v: json.dumps(v).encode()),
                   st.sampled_from([b"", b"{", b"[" * 3000, b'{"title": "\xff\xfe"}', b"1e999"]))
content_types = st.sampled_from([None, b"application/json", b"application/json; charset=utf-8",
                                 b"application/problem+json", b"text/plain",
                                 b"application/x-www-form-urlencoded", b"multipart/form-data; boundary=x",
                                 b"\xff/\xfe", b""])
methods = st.sampled_from(["GET", "POST", "PATCH", "PUT", "DELETE", "OPTIONS", "HEAD"])
extra_headers = st.lists(st.tuples(st.sampled_from([b"accept", b"x-request-id", b"origin", b"content-length",
                                                    b"content-length", b"cookie", b"host",
                                                    b"access-control-request-method"]),
                                   st.one_of(st.binary(max_size=40),
                                             st.sampled_from([b"*/*", b"text/html", b"GET", b"\xb2",
                                                              b"9" * 5000, b"http://evil.example"]))),
                         max_size=3)
_PARAM = re.compile(r"\{[^}]*\}")


def _filled(template: str, values: list[str]) -> str:
    parts = iter(values)
    return _PARAM.sub(lambda _: next(parts), template)


def routed(routes: list[tuple[str, str]]) -> st.SearchStrategy[tuple[str, str]]:
    """(method, path) of a declared route, its parameters filled with random segments; sometimes
    another method on it."""
    def fill(route: tuple[str, str]) -> st.SearchStrategy[tuple[str, str]]:
        method, template = route
        count = len(_PARAM.findall(template))
        return st.tuples(st.sampled_from([method]) | methods,
                         st.lists(segments, min_size=count, max_size=count).map(
                             lambda values: _filled(template, values)))
    return st.sampled_from(routes).flatmap(fill)


def requests(routes: list[tuple[str, str]]) -> st.SearchStrategy[dict[str, Any]]:
    targets = st.one_of(routed(routes), routed(routes), routed(routes), st.tuples(methods, paths))
    return st.builds(lambda target, **rest: {"method": target[0], "path": target[1], **rest}, targets,
                     query=queries, body=bodies, ctype=content_types, headers=extra_headers)


SIMPLE_ROUTES = [("GET", "/"), ("GET", "/todos"), ("POST", "/todos"), ("GET", "/todos/{id}"),
                 ("PATCH", "/todos/{id}"), ("DELETE", "/todos/{id}"), ("GET", "/health/ready")]
EVERY_KIND_ROUTES = [("GET", "/n/{n}"), ("DELETE", "/n/{n}"), ("GET", "/u/{u}"), ("GET", "/s/{s}"),
                     ("GET", "/p/{rest}"), ("GET", "/m/{a}/{b}/{c}"), ("GET", "/q"), ("POST", "/model"),
                     ("POST", "/schema"), ("POST", "/json"), ("PUT", "/raw")]


# -- the check --------------------------------------------------------------------------------

_clients = itertools.count(1)


def _next_client() -> tuple[str, int]:
    """A new address per request: the rate limit (per IP) would answer 429 to everything after 1,000."""
    n = next(_clients)
    return f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", 5000


async def call(app: Any, request: dict[str, Any]) -> tuple[int, dict[bytes, bytes], bytes]:
    headers = [(b"host", b"testserver"), *request["headers"]]
    if request["ctype"] is not None:
        headers.append((b"content-type", request["ctype"]))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request["method"],
             "scheme": "http", "path": request["path"],
             "raw_path": request["path"].encode("utf-8", "surrogatepass"),
             "query_string": request["query"], "root_path": "", "headers": headers,
             "client": _next_client(), "server": ("testserver", 80)}
    chunks = [request["body"]]

    async def receive() -> dict[str, Any]:
        if chunks:
            return {"type": "http.request", "body": chunks.pop(), "more_body": False}
        return {"type": "http.disconnect"}

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return starts[0]["status"], dict(starts[0]["headers"]), body


def assert_answer(status: int, headers: dict[bytes, bytes], body: bytes, request: dict[str, Any]) -> None:
    assert 200 <= status < 500, (status, body[:300], request)
    if headers.get(b"content-type", b"").startswith(b"application/json") and request["method"] != "HEAD":
        envelope = orjson.loads(body)
        assert type(envelope) is dict and type(envelope.get("ok")) is bool, envelope
        if envelope["ok"]:
            assert set(envelope) == {"ok", "data"}, envelope
        else:
            assert set(envelope) == {"ok", "error"}, envelope
            error = envelope["error"]
            assert set(error) == {"code", "message", "details"}, error
            assert error["code"] == "internal" or (type(error["code"]) is str and "." in error["code"])
            assert type(error["message"]) is str
    else:
        assert status in (204, 308) or request["method"] == "HEAD" or b"content-length" in headers, status


# -- the apps ---------------------------------------------------------------------------------

@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def simple() -> AsyncIterator[Any]:
    sys.path.insert(0, str(SIMPLE))
    try:
        async with running(SIMPLE) as rt:
            yield rt.host
    finally:
        sys.path.remove(str(SIMPLE))


def _post(path: str, headers: list[tuple[bytes, bytes]], body: bytes = b"{}") -> dict[str, Any]:
    return {"method": "POST", "path": path, "query": b"", "body": body, "ctype": b"application/json",
            "headers": headers}


@given(request=requests(SIMPLE_ROUTES))
@example(request=_post("/todos", [(b"content-length", b"\xb2")]))  # found by this test: '²'.isdigit()
@example(request=_post("/todos", [(b"content-length", b"9" * 5000)]))  # int() refuses 4,300+ digits
@example(request={"method": "GET", "path": "/todos/99999999999999999999999", "query": b"", "body": b"",
                  "ctype": None, "headers": []})
@EXAMPLES
async def test_the_simple_sample_never_answers_5xx(simple: Any, request: dict[str, Any]) -> None:
    assert_answer(*await call(simple, request), request)


@given(request=requests(EVERY_KIND_ROUTES))
@example(request={"method": "GET", "path": "/q", "query": b"n=99999999999999999999", "body": b"",
                  "ctype": None, "headers": []})  # found by this test: a query integer beyond 64 bits
@EXAMPLES
async def test_every_converter_and_body_type_never_answers_5xx(request: dict[str, Any]) -> None:
    app = _every_kind_app()
    assert_answer(*await call(app, request), request)


_APPS: dict[str, Any] = {}


def _every_kind_app() -> Any:
    if "app" not in _APPS:  # compiled once: hypothesis calls the test body many times
        _APPS["app"] = build_app(every_kind, env="production")
    return _APPS["app"]


async def test_the_edges_of_each_converter() -> None:
    app = _every_kind_app()
    key = uuid.uuid4()
    cases = {f"/n/{2**63 - 1}": 200, f"/n/{2**63}": 404, f"/u/{key}": 200, f"/u/{key.hex}": 200,
             "/u/not-a-uuid": 404, "/s/": 404, "/p/a/b/c": 200, f"/m/1/x/{key}": 200,
             f"/m/{10**20}/x/{key}": 404}
    for path, status in cases.items():
        request: dict[str, Any] = {"method": "GET", "path": path, "query": b"", "body": b"", "ctype": None,
                                   "headers": []}
        answer = await call(app, request)
        assert answer[0] == status, path
        assert_answer(*answer, request)
