"""Todo routes: a JSON API with validation on query and body, documented at /openapi.json and /docs."""

from apps.main.controllers.todo_controller import (
    LIST_QUERY,
    TODO_LIST,
    NewTodo,
    Todo,
    TodoChanges,
    TodoController,
)


def routes(router):
    todos = router.group("/todos", tags=["todos"])
    todos.get("", TodoController.index, query=LIST_QUERY, response=TODO_LIST, summary="List todos",
              description="Every todo, or only those whose `done` matches the query.")
    todos.post("", TodoController.create, body=NewTodo, response=Todo, status=201, summary="Add a todo")
    todos.get("/{id:int}", TodoController.show, response=Todo, summary="One todo")
    todos.patch("/{id:int}", TodoController.update, body=TodoChanges, response=Todo,
                summary="Change a todo's title or done flag")
    todos.delete("/{id:int}", TodoController.destroy, status=204, summary="Remove a todo")
