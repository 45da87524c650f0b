"""Litestar, idiomatic: handler decorators with return annotations.

JSON: msgspec (Litestar's built-in default encoder; nothing to configure).
"""

from litestar import Litestar, get


@get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


@get("/users/{id:int}")
async def user(id: int) -> dict[str, int]:
    return {"id": id}


app = Litestar(route_handlers=[hello, user])
