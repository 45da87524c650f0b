"""Load the project's .env into the environment, without overriding what the real environment sets."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from dotenv import dotenv_values


def load_dotenv_file(root: Path, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Put each key of `root/.env` into `environ` (default `os.environ`) unless already set.

    Returns what was loaded. A missing .env is fine; a malformed line is skipped (python-dotenv logs a
    warning naming it) and the rest still loads.
    """
    target = os.environ if environ is None else environ
    path = root / ".env"
    if not path.is_file():
        return {}
    loaded: dict[str, str] = {}
    for key, value in dotenv_values(path).items():
        # `KEY` with no `=` has no value: there is nothing to set.
        if value is None or key in target:
            continue
        target[key] = value
        loaded[key] = value
    return loaded
