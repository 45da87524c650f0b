"""HTML pages: the todo board, rendered from apps/main/views/ (a page, not part of the API document)."""

from apps.main.controllers.page_controller import PageController


def routes(router):
    router.get("/board", PageController.board, name="board", openapi=False)
