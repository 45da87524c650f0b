"""Starlette, idiomatic: `StaticFiles` mounted at /static over the folder in $STATIC_DIR."""

import os

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

app = Starlette(routes=[Mount("/static", StaticFiles(directory=os.environ["STATIC_DIR"]))])
