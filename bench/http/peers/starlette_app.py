"""Starlette, idiomatic: a route list and JSONResponse, no middleware added.

JSON: orjson, via the JSONResponse subclass pattern Starlette documents for custom
serialisers (its own JSONResponse uses stdlib json.dumps).
"""

import orjson
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


app = Starlette(routes=[
    Route("/", hello),
    Route("/users/{id:int}", user),
])
