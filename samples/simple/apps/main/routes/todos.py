"""Todo routes: a JSON API with validation on query and body."""

from apps.main.controllers.todo_controller import LIST_QUERY, NewTodo, TodoChanges, TodoController


def routes(router):
    todos = router.group("/todos")
    todos.get("", TodoController.index, query=LIST_QUERY)
    todos.post("", TodoController.create, body=NewTodo)
    todos.get("/{id:int}", TodoController.show)
    todos.patch("/{id:int}", TodoController.update, body=TodoChanges)
    todos.delete("/{id:int}", TodoController.destroy)
