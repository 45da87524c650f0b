"""FastAPI, idiomatic: decorators, a typed path parameter and a return annotation.

JSON: pydantic-core. With a return annotation FastAPI serialises straight to JSON bytes via
Pydantic's Rust core (its documented fast path; ORJSONResponse is deprecated in FastAPI 0.165).
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/")
async def hello() -> dict[str, str]:
    return {"hello": "world"}


@app.get("/users/{id}")
async def user(id: int) -> dict[str, int]:
    return {"id": id}
