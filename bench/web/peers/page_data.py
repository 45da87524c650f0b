"""The data every server renders the page with: the same template and data, the same bytes out."""

import json
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent / "page_project"
VIEWS = PROJECT / "apps" / "bench" / "views"
PAGE = json.loads((PROJECT / "page_data.json").read_text(encoding="utf-8"))
