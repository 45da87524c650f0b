"""The route shapes every app answers: request, expected status and body (peers answer the bare
value, mega wraps it in its envelope). The 1 KiB JSON body of the two POST shapes is built here once
and sent by wrk through a Lua script."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson


def _item() -> dict[str, Any]:
    item: dict[str, Any] = {"name": "widget", "price": 12.5, "tags": [f"tag-{i}" for i in range(20)],
                            "description": ""}
    pad = 1024 - len(orjson.dumps(item))
    item["description"] = "x" * pad
    return item


ITEM = _item()
ITEM_BODY = orjson.dumps(ITEM)
assert len(ITEM_BODY) == 1024
ITEM_ANSWER = {"name": ITEM["name"], "tags": len(ITEM["tags"])}


@dataclass(frozen=True)
class Shape:
    name: str
    path: str
    answer: Any  # the bare JSON value (None: a 404, whose body each framework words its own way)
    method: str = "GET"
    body: bytes | None = None
    status: int = 200
    note: str = ""


SHAPES: tuple[Shape, ...] = (
    Shape("hello", "/", {"hello": "world"}, note="hello-JSON"),
    Shape("params", "/users/42", {"id": 42}, note="one int path parameter"),
    Shape("query", "/search?q=mega", {"q": "mega"}, note="one query parameter"),
    Shape("post_pydantic", "/items/pydantic", ITEM_ANSWER, "POST", ITEM_BODY,
          note="1 KiB JSON body validated by a pydantic model"),
    Shape("post_schema", "/items/schema", ITEM_ANSWER, "POST", ITEM_BODY,
          note="1 KiB JSON body validated by a JSON Schema"),
    Shape("not_found", "/no/such/route", None, status=404, note="a 404"),
    Shape("cached", "/cached", {"value": "hello from the cache"},
          note="a value read from the memory cache (peers: a module-level dict)"),
)
BY_NAME = {s.name: s for s in SHAPES}
VARIANT_SHAPES = ("hello", "params")  # the mega variants are compared with mega_10 on these two


def wrk_script(shape: Shape) -> str | None:
    """The Lua script wrk needs to send `shape` (None for a plain GET)."""
    if shape.method == "GET":
        return None
    body = shape.body.decode() if shape.body is not None else ""
    escaped = body.replace("\\", "\\\\").replace('"', '\\"')
    return (f'wrk.method = "{shape.method}"\n'
            f'wrk.body = "{escaped}"\n'
            'wrk.headers["Content-Type"] = "application/json"\n')
