"""Tiny projects written into tmp_path, and a helper that loads one expecting it to fail."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from mega.config import ConfigError, ConfigProblem, load_project_config

# app name -> app_config.py text, or None for an app folder without app_config.py
Apps = Mapping[str, str | None]
MakeProject = Callable[..., Path]
Problems = Callable[..., list[ConfigProblem]]

EMPTY = "config = {}\n"


@pytest.fixture
def make_project(tmp_path: Path) -> MakeProject:
    """`make_project(global_text, {app: text}, name=..., dotenv=...)` -> project root."""

    def make(
        global_text: str | None = EMPTY,
        apps: Apps | None = None,
        *,
        name: str = "project",
        dotenv: str | None = None,
    ) -> Path:
        root = tmp_path / name
        root.mkdir()
        if global_text is not None:
            (root / "mega_config.py").write_text(textwrap.dedent(global_text))
        for app, text in ({"web": EMPTY} if apps is None else apps).items():
            (root / "apps" / app).mkdir(parents=True)
            if text is not None:
                (root / "apps" / app / "app_config.py").write_text(textwrap.dedent(text))
        if dotenv is not None:
            (root / ".env").write_text(textwrap.dedent(dotenv))
        return root

    return make


@pytest.fixture
def problems_of() -> Problems:
    """Load a project that must fail (with an empty environment unless given) and return its problems."""

    def load(root: Path, environ: Mapping[str, str] | None = None) -> list[ConfigProblem]:
        with pytest.raises(ConfigError) as caught:
            load_project_config(root, environ={} if environ is None else environ)
        return caught.value.problems

    return load
