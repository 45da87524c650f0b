"""`import mega`: every exported name resolves, the type checkers' mirror lists the same names, and
importing the package loads none of what those names need."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from pathlib import Path

import pytest

import mega

INIT = Path(mega.__file__)


def test_every_exported_name_resolves_to_mega_code() -> None:
    for name in mega.__all__:
        value = getattr(mega, name)
        if name in ("fields", "shutdown", "testing"):
            assert isinstance(value, types.ModuleType) and value.__name__.startswith("mega."), name
        elif name != "__version__":
            assert value.__module__.startswith("mega."), (name, value)


def test_the_type_checking_mirror_lists_exactly_the_exported_names() -> None:
    tree = ast.parse(INIT.read_text())
    guarded = next(node for node in tree.body if isinstance(node, ast.If)
                   and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING")
    mirrored = sorted(alias.asname or alias.name for node in guarded.body
                      if isinstance(node, ast.ImportFrom) for alias in node.names)
    assert mirrored == sorted(set(mega.__all__) - {"__version__"})


def test_import_mega_loads_nothing_heavy_and_refuses_unknown_names() -> None:
    code = ("import sys, mega\n"
            "heavy = ['sqlalchemy', 'pydantic', 'httpx', 'mega.boot', 'mega.app', 'mega.http', 'mega.data',"
            " 'redis', 'nats']\n"
            "print([m for m in heavy if m in sys.modules])\n"
            "mega.Stage\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "[]"
    assert "AttributeError: module 'mega' has no attribute 'Stage'" in done.stderr


def test_make_client_refuses_a_runtime_that_never_booted(tmp_path: Path) -> None:
    from mega import MegaError, Runtime
    from mega.testing import make_client

    with pytest.raises(MegaError) as err:
        make_client(Runtime(root=tmp_path, environ={}))
    assert err.value.code == "app.not_initialized" and str(tmp_path) in err.value.message
