"""An in-memory todo list: the business logic, kept out of the controller."""

from __future__ import annotations

import itertools
import threading
from typing import Any

from mega import NotFoundError

_lock = threading.Lock()
_items: dict[int, dict[str, Any]] = {}
_ids = itertools.count(1)


class Todos:
    """One instance per request (ctx.services.todos); the data lives at module level."""

    def __init__(self, ctx):
        self.log = ctx.log

    def all(self, *, done: bool | None = None) -> list[dict[str, Any]]:
        items = list(_items.values())
        return [i for i in items if done is None or i["done"] is done]

    def get(self, todo_id: int) -> dict[str, Any]:
        item = _items.get(todo_id)
        if item is None:
            raise NotFoundError("todo.not_found", f"no todo with id {todo_id}", details={"id": todo_id})
        return item

    def add(self, title: str) -> dict[str, Any]:
        with _lock:
            item = {"id": next(_ids), "title": title, "done": False}
            _items[item["id"]] = item
        self.log.info("todo %s added", item["id"])
        return item

    def update(self, todo_id: int, changes: dict[str, Any]) -> dict[str, Any]:
        item = self.get(todo_id)
        item.update(changes)
        return item

    def remove(self, todo_id: int) -> None:
        self.get(todo_id)
        _items.pop(todo_id, None)

    @staticmethod
    def reset() -> None:
        global _ids
        _items.clear()
        _ids = itertools.count(1)
