"""Starlette, idiomatic: a route list and JSONResponse, no middleware added; request bodies parsed by
pydantic (`model_validate_json`) or orjson + the compiled JSON Schema.

JSON: orjson, via the JSONResponse subclass pattern Starlette documents for custom
serialisers (its own JSONResponse uses stdlib json.dumps).
"""

import orjson
from _shapes import CACHE, Item, SchemaError, answer, validate_item
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route


class ORJSONResponse(JSONResponse):
    def render(self, content):
        return orjson.dumps(content)


async def hello(request):
    return ORJSONResponse({"hello": "world"})


async def user(request):
    return ORJSONResponse({"id": request.path_params["id"]})


async def search(request):
    return ORJSONResponse({"q": request.query_params.get("q")})


async def item_pydantic(request):
    try:
        item = Item.model_validate_json(await request.body())
    except ValidationError as exc:
        return ORJSONResponse({"error": exc.errors(include_url=False)}, status_code=422)
    return ORJSONResponse(answer(item.name, item.tags))


async def item_schema(request):
    try:
        item = validate_item(orjson.loads(await request.body()))
    except (SchemaError, orjson.JSONDecodeError) as exc:
        return ORJSONResponse({"error": str(exc)}, status_code=400)
    return ORJSONResponse(answer(item["name"], item["tags"]))


async def cached(request):
    return ORJSONResponse({"value": CACHE["greeting"]})


app = Starlette(routes=[
    Route("/", hello),
    Route("/users/{id:int}", user),
    Route("/search", search),
    Route("/items/pydantic", item_pydantic, methods=["POST"]),
    Route("/items/schema", item_schema, methods=["POST"]),
    Route("/cached", cached),
])
