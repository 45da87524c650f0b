"""FastAPI, idiomatic: decorators, typed path and query parameters, a pydantic body parameter and
return annotations; the JSON Schema route reads the body and validates it with the compiled schema.

JSON: pydantic-core. With a return annotation FastAPI serialises straight to JSON bytes via
Pydantic's Rust core (its documented fast path; ORJSONResponse is deprecated in FastAPI 0.165).
"""

from typing import Any

import orjson
from _shapes import CACHE, Item, SchemaError, answer, validate_item
from fastapi import FastAPI, HTTPException, Request

app = FastAPI()


@app.get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


@app.get("/users/{id}")
async def user(id: int) -> dict[str, int]:
    return {"id": id}


@app.get("/search")
async def search(q: str) -> dict[str, str]:
    return {"q": q}


@app.post("/items/pydantic")
async def item_pydantic(item: Item) -> dict[str, Any]:
    return answer(item.name, item.tags)


@app.post("/items/schema")
async def item_schema(request: Request) -> dict[str, Any]:
    try:
        item = validate_item(orjson.loads(await request.body()))
    except (SchemaError, orjson.JSONDecodeError) as exc:
        raise HTTPException(400, str(exc)) from None
    return answer(item["name"], item["tags"])


@app.get("/cached")
async def cached() -> dict[str, str]:
    return {"value": CACHE["greeting"]}
