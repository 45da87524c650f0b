"""Config files run as fresh, private modules: no sharing between projects, no caching between loads."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from mega.config import load_project_config

MakeProject = Callable[..., Path]

# Both projects define the same module-level names; only private modules keep them apart.
SHARED_NAMES = """
import sys
PORT = {port}
_seen = [name for name in sys.modules if name.startswith("_mega_config_")]
config = {{"server": {{"port": PORT}}, "watch": {{"paths": _seen}}}}
"""


def test_two_projects_in_one_process_do_not_share_modules(make_project: MakeProject) -> None:
    first = make_project(SHARED_NAMES.format(port=4001), name="one")
    second = make_project(SHARED_NAMES.format(port=4002), name="two")
    before = set(sys.modules)

    a = load_project_config(first, environ={})
    b = load_project_config(second, environ={})

    assert a.values["server"]["port"] == 4001
    assert b.values["server"]["port"] == 4002
    # while a config file runs, only its own module is registered (none left from the other project)
    assert len(a.values["watch"]["paths"]) == 1
    assert len(b.values["watch"]["paths"]) == 1
    assert a.values["watch"]["paths"] != b.values["watch"]["paths"]
    assert set(sys.modules) == before  # nothing cached after loading


def test_each_load_runs_the_file_again_and_sees_edits(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # as on a developer's machine
    root = make_project("config = {'server': {'port': 4001}}\n")
    path = root / "mega_config.py"
    first = load_project_config(root, environ={})
    stat = path.stat()

    # same size, same mtime: a bytecode cache keyed on those would serve the old file
    path.write_text("config = {'server': {'port': 4002}}\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    second = load_project_config(root, environ={})

    assert first.values["server"]["port"] == 4001
    assert second.values["server"]["port"] == 4002


def test_no_bytecode_is_written_into_the_project(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    root = make_project(apps={"web": "config = {'hosts': ['a.com']}"})

    load_project_config(root, environ={})

    assert list(root.rglob("__pycache__")) == []
    assert list(root.rglob("*.pyc")) == []


def test_config_file_can_define_dataclasses_and_knows_its_path(make_project: MakeProject) -> None:
    # dataclasses look their module up in sys.modules while the class is created
    root = make_project(
        """
        from __future__ import annotations
        from dataclasses import dataclass
        from pathlib import Path

        @dataclass
        class Db:
            url: str

        HERE = Path(__file__).parent
        config = {"services": {"dbs": {"main": {"driver": "sqlite", "url": str(HERE / "var" / "db.sqlite")}}}}
        """
    )

    project = load_project_config(root, environ={})

    assert project.values["services"]["dbs"]["main"]["url"] == str(root / "var" / "db.sqlite")
