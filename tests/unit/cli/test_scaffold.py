"""Templates: one folder, one token set, and writing that is all or nothing."""

from __future__ import annotations

from importlib.resources.abc import Traversable
from pathlib import Path

import pytest

from mega.cli import _scaffold as scaffold
from mega.cli._generate import g
from mega.cli._scaffold import Planned, check, plan, render, tokens_of, write
from mega.errors import MegaError

KINDS = ["adr", "app", "channel", "controller", "job", "locale", "middleware", "model", "new", "route",
         "schedule", "service", "worker"]


def walk(folder: Traversable) -> list[Traversable]:
    out = []
    for entry in folder.iterdir():
        out.extend(walk(entry) if entry.is_dir() else [entry])
    return out


def test_one_folder_per_kind_and_each_generator_has_its_folder() -> None:
    folders = sorted(e.name for e in scaffold.template_root().iterdir() if e.is_dir())
    assert folders == KINDS
    # migration is made from the migration writer (a timestamped name), not a template folder.
    assert sorted(g.commands) == sorted([k for k in KINDS if k != "new"] + ["migration"])


@pytest.mark.parametrize("kind", KINDS)
def test_templates_use_only_known_tokens(kind: str) -> None:
    root = scaffold.template_root().joinpath(kind)
    for entry in walk(root):
        assert entry.name.endswith(scaffold.SUFFIX), entry.name
        text = entry.read_text(encoding="utf-8")
        unknown = {t for t in _bare_tokens(text + entry.name)} - set(scaffold.TOKENS)
        assert unknown == set(), f"{kind}/{entry.name} uses unknown tokens {unknown}"


def _bare_tokens(text: str) -> set[str]:
    import re

    return set(re.findall(r"\{\{([A-Za-z_]+)\}\}", text))


def test_render_replaces_tokens_and_leaves_other_braces() -> None:
    assert render("{{Name}} {{ title }} {{other}}", {"Name": "Post"}) == "Post {{ title }} {{other}}"
    assert tokens_of("{{snake}}_{{app}} {{x}}") == {"snake", "app"}
    with pytest.raises(RuntimeError, match=r"uses \{\{app\}\}, which this command does not give"):
        render("{{app}}", {})


def test_paths_are_rendered_and_dot_files_named() -> None:
    tokens = {"app": "shop", "hosts": '["shop.localhost"]', "host": "shop.localhost"}
    paths = [p.path for p in plan("app", tokens)]
    assert "apps/shop/app_config.py" in paths and "apps/shop/views/.gitkeep" in paths
    assert "tests/test_shop_app.py" in paths
    assert all("{{" not in p.content for p in plan("app", tokens))


def test_check_refuses_every_existing_file_before_writing(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("mine")
    (tmp_path / "b.py").write_text("same")
    planned = [Planned("a.py", "new"), Planned("b.py", "same"), Planned("c/d.py", "new")]
    with pytest.raises(MegaError) as caught:
        check(tmp_path, planned, force=False)
    assert caught.value.code == "generate.file_exists"
    assert caught.value.details == {"paths": ["a.py", "b.py"]}
    assert not (tmp_path / "c").exists()
    outcomes = check(tmp_path, planned, force=True)
    assert [o.action for o in outcomes] == ["overwrite", "overwrite", "create"]
    reused = check(tmp_path, [Planned("b.py", "same", reusable=True)], force=False)
    assert [o.action for o in reused] == ["identical"]


def test_a_failed_write_removes_what_it_created(tmp_path: Path) -> None:
    (tmp_path / "keep.py").write_text("old")
    (tmp_path / "blocker").write_text("a file where a folder is needed")
    planned = [Planned("keep.py", "new"), Planned("x/y/new.py", "new"), Planned("blocker/z.py", "new")]
    outcomes = check(tmp_path, planned, force=True)
    with pytest.raises(OSError):
        write(tmp_path, planned, outcomes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "keep.py"]  # x/ and x/y/ removed
    assert (tmp_path / "keep.py").read_text() == "old"  # what --force overwrote is put back


@pytest.mark.parametrize("color", [True, False])
def test_the_list_is_coloured_on_a_terminal_only(tmp_path: Path, color: bool) -> None:
    from click.testing import CliRunner

    from mega.cli._new import create_project, project_tokens
    from mega.cli.main import cli

    create_project(tmp_path / "p", project_tokens("p"))
    result = CliRunner().invoke(cli, ["--root", str(tmp_path / "p"), "g", "service", "billing"], color=color)
    assert result.exit_code == 0, result.output
    plain = ["created apps/main/services/billing.py", "created tests/test_main_billing_service.py"]
    if color:
        assert result.output.splitlines()[0] == "\x1b[32m\x1b[1mcreated\x1b[0m apps/main/services/billing.py"
    else:
        assert result.output.splitlines() == plain
