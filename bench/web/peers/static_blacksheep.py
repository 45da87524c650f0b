"""BlackSheep, idiomatic: `app.serve_files` at /static over the folder in $STATIC_DIR."""

import os

from blacksheep import Application

app = Application()
app.serve_files(os.environ["STATIC_DIR"], root_path="static")
