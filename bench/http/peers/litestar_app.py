"""Litestar, idiomatic: handler decorators with return annotations, typed path and query parameters
(`FromPath`/`FromQuery`; the inferred style is deprecated in Litestar 2.25) and a `JSONBody`
pydantic `data` parameter (its pydantic plugin); the JSON Schema route validates the raw body with the
compiled schema. POST handlers answer 200 like every other app (Litestar's default is 201).

JSON: msgspec (Litestar's built-in default encoder; nothing to configure).
"""

from typing import Any

import orjson
from _shapes import CACHE, Item, SchemaError, answer, validate_item
from litestar import Litestar, Request, get, post
from litestar.exceptions import ValidationException
from litestar.params import FromPath, FromQuery, JSONBody


@get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


@get("/users/{id:int}")
async def user(id: FromPath[int]) -> dict[str, int]:
    return {"id": id}


@get("/search")
async def search(q: FromQuery[str]) -> dict[str, str]:
    return {"q": q}


@post("/items/pydantic", status_code=200)
async def item_pydantic(data: JSONBody[Item]) -> dict[str, Any]:
    return answer(data.name, data.tags)


@post("/items/schema", status_code=200)
async def item_schema(request: Request) -> dict[str, Any]:
    try:
        item = validate_item(orjson.loads(await request.body()))
    except (SchemaError, orjson.JSONDecodeError) as exc:
        raise ValidationException(str(exc)) from None
    return answer(item["name"], item["tags"])


@get("/cached")
async def cached() -> dict[str, str]:
    return {"value": CACHE["greeting"]}


app = Litestar(route_handlers=[hello, user, search, item_pydantic, item_schema, cached])
