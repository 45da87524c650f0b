"""GET /page: one page rendered with a layout and a partial (bench/web/page.py)."""

import json
from pathlib import Path

PAGE = json.loads((Path(__file__).resolve().parents[3] / "page_data.json").read_text(encoding="utf-8"))
del PAGE["layout"]  # mega passes the app's `views.layout` itself


async def page(req, reply, ctx):
    return ctx.render("page.html", PAGE)


def routes(router):
    router.get("/page", page)
