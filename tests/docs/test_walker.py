"""The docs walker itself: what it refuses in a page, and how a failing block is reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.docs._markdown import Page, parse, split_files
from tests.docs._page import BlockFailed, PageRun, PageStopped, _console_commands, _free_names


def _page(tmp_path: Path, text: str) -> Page:
    path = tmp_path / "page.md"
    path.write_text(text)
    return parse(path, "page.md")


def test_a_skip_needs_a_reason(tmp_path: Path) -> None:
    page = _page(tmp_path, '<!-- docs: skip -->\n```sh\nmega start\n```\n'
                           '<!-- docs: skip reason="" -->\n```sh\nmega start\n```\n')
    assert page.problems == ['page.md:1: `skip` needs a reason: <!-- docs: skip reason="why" -->',
                             'page.md:5: `skip` needs a reason: <!-- docs: skip reason="why" -->']


def test_a_reasoned_skip_is_kept_on_its_block(tmp_path: Path) -> None:
    page = _page(tmp_path, '<!-- docs: skip reason="serves forever" -->\n\n```sh\nmega start\n```\n')
    assert not page.problems
    assert page.blocks[0].attrs == {"skip": True, "reason": "serves forever"}


@pytest.mark.parametrize(("text", "problem"), [
    ("```\nmega\n```\n", "page.md:1: the fence names no language"),
    ("```sh\nmega\n", "page.md:1: the fence is never closed"),
    ("<!-- docs: skipp reason=x -->\n```sh\nmega\n```\n", "page.md:1: unknown key(s) skipp"),
    ("<!-- docs: check=config -->\ntext\n```python\nx = 1\n```\n", "page.md:1: a docs directive must be "
                                                                      "followed by a fenced block"),
    ("<!-- docs: needs=mongo -->\n```sh\nmega\n```\n", "page.md:1: needs=mongo is not one of"),
    ("<!-- docs: check=boots -->\n```python\nx = 1\n```\n", "page.md:1: check=boots is not one of"),
    ("```sh\nmega\n```\n<!-- docs: project=new -->\n", "page.md:4: the page directive comes once, before"),
    ("<!-- docs: python\nx = 1\n", "page.md:1: the docs comment is not closed"),
])
def test_page_problems(tmp_path: Path, text: str, problem: str) -> None:
    assert any(p.startswith(problem) for p in _page(tmp_path, text).problems), _page(tmp_path, text).problems


def test_hidden_blocks_and_page_setup(tmp_path: Path) -> None:
    page = _page(tmp_path, "<!-- docs: project=none env=A=1 env=B=2 -->\n# Title\n\n"
                           "<!-- docs: python needs=redis\n    x = 1\n-->\n```text\nout\n```\n")
    assert not page.problems
    assert page.project == "none" and page.listed("env") == ["A=1", "B=2"]
    hidden, text = page.blocks
    assert (hidden.id, hidden.lang, hidden.text, hidden.listed("needs")) == (
        "page.md:4(hidden)", "python", "x = 1", ["redis"])
    assert not text.runnable


def test_a_block_headed_by_paths_is_those_files() -> None:
    assert split_files("# mega_config.py\nconfig = {}\n\n# apps/web/app_config.py\nconfig = {}\n") == [
        ("mega_config.py", "config = {}\n"), ("apps/web/app_config.py", "config = {}\n")]
    assert split_files("# a comment\nx = 1\n") == []


def test_free_names_leave_out_what_the_block_binds() -> None:
    source = ("async def hook(rt):\n    client = await make()\n    rt.close(client)\n"
              "import os\nx = [ctx.db() for _ in os.environ]\nf = lambda p: app.bus\n")
    assert _free_names(source) == {"make", "ctx", "app"}


def test_console_blocks_run_their_prompt_lines() -> None:
    assert _console_commands("$ mega new shop \\\n    --dir x\ncreated x\n$ mega test\n2 passed\n") == (
        "mega new shop \\\n    --dir x\nmega test")


def test_a_failing_block_is_named_and_stops_its_page(tmp_path: Path) -> None:
    page = _page(tmp_path, "<!-- docs: project=none -->\n```python\nx = 1\n```\n\n```python\n"
                           "y = x + undefined\n```\n\n```sh\necho never\n```\n")
    run = PageRun(page, tmp_path / "scratch", tmp_path / "unused")
    try:
        run.run_until(0)
        with pytest.raises(BlockFailed) as failed:
            run.run_until(1)
        assert str(failed.value).startswith("page.md:6 raised NameError")
        assert "line 7" in str(failed.value) and "name 'undefined' is not defined" in str(failed.value)
        with pytest.raises(PageStopped, match=r"page\.md:6 failed"):
            run.run_until(2)
    finally:
        run.close()


def test_a_failing_shell_block_shows_its_output(tmp_path: Path) -> None:
    page = _page(tmp_path, "<!-- docs: project=none -->\n```sh\nmkdir d && cd d\necho out; exit 3\n```\n"
                           "```sh\npwd\n```\n")
    run = PageRun(page, tmp_path / "scratch", tmp_path / "unused")
    try:
        with pytest.raises(BlockFailed) as failed:
            run.run_until(0)
        assert str(failed.value).startswith("page.md:2: exit 3")
        assert "--- stdout ---\nout" in str(failed.value)
        assert run.cwd.name == "d"  # the next block would start where this one stopped
    finally:
        run.close()


def test_a_file_block_that_does_not_boot_fails(tmp_path: Path) -> None:
    from mega.cli._new import create_project, project_tokens

    template = tmp_path / "template" / "shop"
    template.parent.mkdir()
    create_project(template, project_tokens("shop"))
    page = _page(tmp_path, "```python\n# apps/main/routes/bad.py\ndef routes(router):\n"
                           "    router.get('/x', handler, colour='red')\n```\n")
    run = PageRun(page, tmp_path / "scratch", template)
    try:
        with pytest.raises(BlockFailed, match=r"page\.md:1 raised BootError"):
            run.run_until(0)
    finally:
        run.close()


def test_a_page_can_run_in_a_copy_of_a_sample(tmp_path: Path) -> None:
    page = _page(tmp_path, "<!-- docs: project=samples/simple -->\n```python\n"
                           "home = await client.get('/')\n"
                           "assert home.json()['data']['name'] == 'mega simple sample'\n```\n")
    run = PageRun(page, tmp_path / "scratch", tmp_path / "unused")
    try:
        run.run_until(0)
        assert run.root == tmp_path / "scratch" / "page.md" / "simple" and run.runtime is not None
    finally:
        run.close()
