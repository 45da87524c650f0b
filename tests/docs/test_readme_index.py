"""README's Documentation section names every page of docs/reference/, so a newcomer finds the page of
each feature (channels, the hub, cluster mode...) from the README."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_readme_names_every_reference_page() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    line = next(ln for ln in readme.splitlines() if ln.startswith("- `docs/reference/`"))
    missing = [p.name for p in sorted((REPO / "docs" / "reference").glob("*.md"))
               if p.stem.lower() not in line.lower()]
    assert missing == [], f"README's docs/reference/ entry does not name: {', '.join(missing)}"
