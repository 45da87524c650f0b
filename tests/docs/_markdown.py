"""Read a markdown page into its fenced blocks and the walker's `<!-- docs: ... -->` directives.

The conventions are described in docs/README.md. This module only parses; `_page` runs.
"""

from __future__ import annotations

import re
import shlex
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

SHELL = frozenset({"sh", "bash", "shell", "console"})
PYTHON = frozenset({"python", "py", "python3"})

PAGE_KEYS = frozenset({"project", "env", "needs"})
BLOCK_KEYS = frozenset({"skip", "reason", "needs", "env", "file", "in", "check", "cwd", "timeout"})
CHECKS = frozenset({"boot", "config", "syntax"})
SERVICES = frozenset({"postgres", "maria", "redis", "nats"})

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_OPEN = "<!-- docs:"
# `# apps/main/routes/users.py` on a line of its own: the block (or the part below it) is that file.
FILE_HEADER = re.compile(r"^#\s+(?P<path>(?:[\w.-]+/)*[\w-][\w.-]*\.(?:py|toml|ini|cfg|txt|json|env))\s*$")


@dataclass
class Directive:
    line: int
    words: dict[str, str | list[str] | bool]
    body: str | None = None  # a hidden block's text (a multi-line directive whose first word is a language)
    lang: str | None = None


@dataclass
class Block:
    page: str  # the page's path relative to the repository, e.g. docs/reference/lock.md
    line: int  # 1-based line of the opening fence (of the comment, for a hidden block)
    lang: str
    text: str
    first_text_line: int  # 1-based line of the block's first line of text
    attrs: dict[str, str | list[str] | bool] = field(default_factory=dict)
    hidden: bool = False

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}" + ("(hidden)" if self.hidden else "")

    @property
    def runnable(self) -> bool:
        return self.lang in SHELL or self.lang in PYTHON

    def attr(self, key: str) -> str | None:
        value = self.attrs.get(key)
        return value if isinstance(value, str) else None

    def listed(self, key: str) -> list[str]:
        value = self.attrs.get(key)
        if isinstance(value, list):
            return value
        return [] if value is None or isinstance(value, bool) else [value]


@dataclass
class Page:
    path: Path
    rel: str
    setup: dict[str, str | list[str] | bool] = field(default_factory=dict)
    blocks: list[Block] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def project(self) -> str:
        value = self.setup.get("project", "new")
        return value if isinstance(value, str) else "new"

    def listed(self, key: str) -> list[str]:
        value = self.setup.get(key)
        if isinstance(value, list):
            return value
        return [] if value is None or isinstance(value, bool) else [value]


def _words(text: str, where: str, problems: list[str]) -> dict[str, str | list[str] | bool]:
    """`skip reason="a b" env=A=1 env=B=2` -> {"skip": True, "reason": "a b", "env": ["A=1", "B=2"]}."""
    words: dict[str, str | list[str] | bool] = {}
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        problems.append(f"{where}: cannot read the directive ({exc})")
        return words
    for token in tokens:
        key, eq, value = token.partition("=")
        if not eq:
            words[key] = True
        elif key in ("env", "needs"):
            items = value.split(",") if key == "needs" else [value]
            previous = words.get(key)
            words[key] = (previous if isinstance(previous, list) else []) + [i for i in items if i]
        else:
            words[key] = value
    return words


def parse(path: Path, rel: str, text: str | None = None) -> Page:
    """The page at `path` (`text`: its content, when it is not the file's own, e.g. a rendered template)."""
    page = Page(path, rel)
    lines = (path.read_text(encoding="utf-8") if text is None else text).splitlines()
    pending: Directive | None = None  # a directive waiting for the next fence
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith(_OPEN):
            directive, i = _read_directive(lines, i, page)
            if directive is None:
                continue
            if directive.lang is not None:
                _add_hidden(page, directive)
            elif "project" in directive.words:  # the page's setup: `<!-- docs: project=new -->`
                _page_setup(page, directive)
            else:
                if pending is not None:
                    page.problems.append(f"{rel}:{pending.line}: a docs directive must be followed by a "
                                         "fenced block")
                pending = directive
            continue
        match = _FENCE.match(line)
        if match:
            block, i = _read_block(lines, i, match, page)
            if pending is not None:
                block.attrs = pending.words
                _check_block_words(page, block, pending.line)
                pending = None
            page.blocks.append(block)
            continue
        if stripped and pending is not None:
            page.problems.append(f"{rel}:{pending.line}: a docs directive must be followed by a fenced block "
                                 "(only blank lines between)")
            pending = None
        i += 1
    if pending is not None:
        page.problems.append(f"{rel}:{pending.line}: a docs directive must be followed by a fenced block")
    return page


def _read_directive(lines: list[str], i: int, page: Page) -> tuple[Directive | None, int]:
    start = i
    first = lines[i].strip()[len(_OPEN):]
    where = f"{page.rel}:{start + 1}"
    if first.rstrip().endswith("-->"):
        return Directive(start + 1, _words(first.rstrip()[:-3], where, page.problems)), i + 1
    body: list[str] = []
    i += 1
    while i < len(lines) and lines[i].strip() != "-->":
        body.append(lines[i])
        i += 1
    if i == len(lines):
        page.problems.append(f"{page.rel}:{start + 1}: the docs comment is not closed by a line '-->'")
        return None, i
    head = first.split(None, 1)
    if not head:
        page.problems.append(f"{page.rel}:{start + 1}: a multi-line docs comment starts with the hidden "
                             "block's language (`<!-- docs: python`)")
        return None, i + 1
    words = _words(head[1] if len(head) > 1 else "", f"{page.rel}:{start + 1}", page.problems)
    return Directive(start + 1, words, body="\n".join(body), lang=head[0]), i + 1


def _read_block(lines: list[str], i: int, match: re.Match[str], page: Page) -> tuple[Block, int]:
    start, indent, fence = i, match["indent"], match["fence"]
    info = match["info"].strip()
    body: list[str] = []
    i += 1
    while i < len(lines):
        close = _FENCE.match(lines[i])
        if close and close["fence"].startswith(fence[0] * len(fence)) and not close["info"].strip():
            break
        body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i].lstrip())
        i += 1
    else:
        page.problems.append(f"{page.rel}:{start + 1}: the fence is never closed")
    lang = info.split()[0].lower() if info else ""
    if not lang:
        page.problems.append(f"{page.rel}:{start + 1}: the fence names no language: use `text` for output "
                             "and listings, `sh` for commands, `python` for code")
    return Block(page.rel, start + 1, lang, "\n".join(body), start + 2), i + 1


def _add_hidden(page: Page, directive: Directive) -> None:
    assert directive.lang is not None and directive.body is not None
    block = Block(page.rel, directive.line, directive.lang.lower(), textwrap.dedent(directive.body),
                  directive.line + 1, directive.words, hidden=True)
    if not block.runnable:
        page.problems.append(f"{block.id}: a hidden block must be python or sh, not {block.lang!r}")
    _check_block_words(page, block, directive.line)
    page.blocks.append(block)


def _page_setup(page: Page, directive: Directive) -> None:
    unknown = sorted(set(directive.words) - PAGE_KEYS)
    if unknown:
        page.problems.append(f"{page.rel}:{directive.line}: unknown page key(s) {', '.join(unknown)} "
                             f"(a page takes {', '.join(sorted(PAGE_KEYS))})")
    if page.blocks or page.setup:
        page.problems.append(f"{page.rel}:{directive.line}: the page directive comes once, before the "
                             "first block")
    page.setup.update(directive.words)
    _check_needs(page, directive.words, f"{page.rel}:{directive.line}")


def _check_block_words(page: Page, block: Block, line: int) -> None:
    where = f"{page.rel}:{line}"
    unknown = sorted(set(block.attrs) - BLOCK_KEYS)
    if unknown:
        page.problems.append(f"{where}: unknown key(s) {', '.join(unknown)} (a block takes "
                             f"{', '.join(sorted(BLOCK_KEYS))})")
    if block.attrs.get("skip") is True:
        reason = block.attrs.get("reason")
        if not isinstance(reason, str) or not reason.strip():
            page.problems.append(f"{where}: `skip` needs a reason: <!-- docs: skip reason=\"why\" -->")
    elif "skip" in block.attrs:
        page.problems.append(f"{where}: write `skip reason=\"...\"`, not skip=...")
    check = block.attrs.get("check")
    if check is not None and check not in CHECKS:
        page.problems.append(f"{where}: check={check} is not one of {', '.join(sorted(CHECKS))}")
    _check_needs(page, block.attrs, where)


def _check_needs(page: Page, words: dict[str, str | list[str] | bool], where: str) -> None:
    needs = words.get("needs")
    for name in needs if isinstance(needs, list) else []:
        if name not in SERVICES:
            page.problems.append(f"{where}: needs={name} is not one of {', '.join(sorted(SERVICES))}")


def split_files(text: str) -> list[tuple[str, str]]:
    """A block whose first line is `# path` is that file; each later `# path` line starts another file."""
    lines = text.splitlines()
    if not lines or not FILE_HEADER.match(lines[0]):
        return []
    files: list[tuple[str, list[str]]] = []
    for line in lines:
        header = FILE_HEADER.match(line)
        if header:
            files.append((header["path"], []))
        else:
            files[-1][1].append(line)
    return [(path, "\n".join(body).strip("\n") + "\n") for path, body in files]
