"""The docs walker: every shell and python block of README.md, docs/guide/*.md, docs/reference/*.md and
the README `mega new` writes runs, in page order, one test per block (`docs/reference/lock.md:8`).
Conventions: docs/README.md.

A page's blocks share one scratch directory (a copy of a `mega new` project unless the page says
otherwise), one python namespace and one event loop; selecting a single block (`-k 'lock.md:150'`) runs
the blocks before it first, as its setup.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docs._markdown import Page, parse
from tests.docs._page import PROJECT_NAME, REPO, BlockFailed, PageRun, PageStopped

GENERATED_README = REPO / "src" / "mega" / "cli" / "templates" / "new" / "README.md.tmpl"


def _pages() -> list[Page]:
    paths = [REPO / "README.md", *sorted((REPO / "docs" / "guide").glob("*.md")),
             *sorted((REPO / "docs" / "reference").glob("*.md"))]
    return [*(parse(path, path.relative_to(REPO).as_posix()) for path in paths), _generated_readme()]


def _generated_readme() -> Page:
    """The README `mega new` writes, walked in the project it describes. Its setup is declared here, not
    in comments that every new project would carry: the install block is not run."""
    from mega.cli._new import project_tokens, render

    text = render(GENERATED_README.read_text(encoding="utf-8"), project_tokens(PROJECT_NAME))
    page = parse(GENERATED_README, GENERATED_README.relative_to(REPO).as_posix(), text)
    for block in page.blocks:
        if "pip install" in block.text:
            block.attrs = {"skip": True, "reason": "installs into a new virtualenv: "
                                                   "tests/e2e/test_lean_install.py does"}
    return page


PAGES = _pages()
BLOCKS = [(page, index) for page in PAGES for index, block in enumerate(page.blocks) if block.runnable]


@pytest.mark.parametrize("page", PAGES, ids=[p.rel for p in PAGES])
def test_page_is_well_formed(page: Page) -> None:
    """Fences name their language; directives are known, attached to a block, and skips give a reason."""
    if page.problems:
        pytest.fail("\n".join(page.problems), pytrace=False)


class Walker:
    """One PageRun at a time: a page's run is closed when the walk moves to another page."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.template: Path | None = None
        self.current: PageRun | None = None

    def run(self, page: Page) -> PageRun:
        if self.current is not None and self.current.page is page:
            return self.current
        self.close()
        if self.template is None:
            from mega.cli._new import create_project, project_tokens

            self.template = self.scratch / "template" / PROJECT_NAME
            self.template.parent.mkdir()
            create_project(self.template, project_tokens(PROJECT_NAME))
        self.current = PageRun(page, self.scratch / "pages", self.template)
        return self.current

    def close(self) -> None:
        if self.current is not None:
            current, self.current = self.current, None
            current.close()


@pytest.fixture(scope="module")
def walker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walker]:
    walker = Walker(tmp_path_factory.mktemp("docs"))
    yield walker
    walker.close()


@pytest.mark.parametrize(("page", "index"), BLOCKS, ids=[p.blocks[i].id for p, i in BLOCKS])
def test_block_runs(walker: Walker, page: Page, index: int) -> None:
    run = walker.run(page)
    if index < run.done:  # the block already ran as setup of a later one (an odd -k selection): start over
        walker.close()
        run = walker.run(page)
    try:
        run.run_until(index)
    except PageStopped as exc:
        pytest.skip(str(exc))
    except BlockFailed as exc:
        failure = str(exc)
    else:
        return
    pytest.fail(failure, pytrace=False)  # outside the except: the message alone, not the walker's frames
