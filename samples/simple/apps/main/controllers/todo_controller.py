"""HTTP handlers for todos: parse the request, call the service, return data."""

from __future__ import annotations

from pydantic import BaseModel, Field, TypeAdapter


class NewTodo(BaseModel):
    title: str = Field(min_length=1, max_length=200)


class TodoChanges(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    done: bool | None = None


class Todo(BaseModel):
    id: int
    title: str
    done: bool


TODO_LIST = TypeAdapter(list[Todo])


LIST_QUERY = {
    "type": "object",
    "properties": {"done": {"type": "boolean"}},
    "additionalProperties": False,
}


class TodoController:
    @staticmethod
    async def index(req, reply, ctx):
        done = req.validated["query"].get("done")
        return ctx.services.todos.all(done=done)

    @staticmethod
    async def show(req, reply, ctx):
        return ctx.services.todos.get(req.params["id"])

    @staticmethod
    async def create(req, reply, ctx):
        return ctx.services.todos.add(req.data.title)

    @staticmethod
    async def update(req, reply, ctx):
        return ctx.services.todos.update(req.params["id"], req.data.model_dump(exclude_none=True))

    @staticmethod
    async def destroy(req, reply, ctx):
        ctx.services.todos.remove(req.params["id"])
