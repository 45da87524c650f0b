"""Starlette, idiomatic: Jinja2Templates.TemplateResponse over the same views folder."""

from page_data import PAGE, VIEWS
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.templating import Jinja2Templates

templates = Jinja2Templates(directory=str(VIEWS))


async def page(request):
    return templates.TemplateResponse(request, "page.html", PAGE)


app = Starlette(routes=[Route("/page", page)])
