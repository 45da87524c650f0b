"""HTML handlers: the same service as the JSON API, rendered with a template."""

from __future__ import annotations


class PageController:
    @staticmethod
    async def board(req, reply, ctx):
        todos = ctx.services.todos.all(done=None)
        return ctx.render("board.html", {"todos": todos, "left": sum(not t["done"] for t in todos)})
