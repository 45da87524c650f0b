"""Point mega's fixtures at this sample, whatever directory pytest runs from."""

from pathlib import Path

import pytest


@pytest.fixture
def mega_project_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def fresh_todos(mega_runtime):
    from apps.main.services.todos import Todos

    Todos.reset()
    yield
