"""scripts/rename_internal.py rewrites every form of reference to a renamed module."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "rename_internal.py"
spec = importlib.util.spec_from_file_location("rename_internal", SCRIPT)
assert spec is not None and spec.loader is not None
rename_internal = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rename_internal)

RENAMER = rename_internal.Renamer({"mega.boot.server": "mega.boot._server", "mega.http.routing":
                                   "mega.http._routing", "mega.http.routing.trie": "mega.http.routing._trie"})


def test_imports_strings_and_paths_are_rewritten() -> None:
    source = (
        "from mega.boot.server import run\n"
        "import mega.boot.server as srv\n"
        "from mega.boot import server, stages\n"
        "from mega.boot import (\n    server as s,\n    stages,\n)\n"
        'patch("mega.boot.server.run")  # see src/mega/boot/server.py\n'
        "from mega.http.routing.trie import RouteTable\n"
        "COMMANDS = {'start': 'mega.boot.serverless:x', 'db': 'mega.boot.server:run'}\n"
    )
    rewritten, count = RENAMER.text(source)
    assert rewritten == (
        "from mega.boot._server import run\n"
        "import mega.boot._server as srv\n"
        "from mega.boot import _server as server, stages\n"
        "from mega.boot import (\n    _server as s,\n    stages,\n)\n"
        'patch("mega.boot._server.run")  # see src/mega/boot/_server.py\n'
        "from mega.http._routing._trie import RouteTable\n"
        "COMMANDS = {'start': 'mega.boot.serverless:x', 'db': 'mega.boot._server:run'}\n"
    )
    assert count == 8


def test_a_mapping_that_moves_a_module_to_another_package_is_refused() -> None:
    with pytest.raises(SystemExit, match="only the last part may change"):
        rename_internal.Renamer({"mega.boot.server": "mega._server"})


def test_the_default_mapping_names_modules_that_exist_under_one_of_their_names() -> None:
    root = SCRIPT.parents[1]
    for old, new in rename_internal.INTERNAL.items():
        assert new.rpartition(".")[2].startswith("_"), new
        if old in rename_internal.PENDING:  # added or moved by another branch of the same change
            continue
        found = rename_internal.module_path(root, old) or rename_internal.module_path(root, new)
        assert found is not None, f"{old} is neither at its old nor at its new name: update INTERNAL"
