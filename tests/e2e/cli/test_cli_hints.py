"""Every `mega <command>` that mega's own text names (hints, CLI messages, templates) exists.

The strings are read from src/mega (every string literal but docstrings, f-strings with their
fields blanked, and the project templates). A mention is `mega WORD` where WORD is a command:
written in backticks, holding a `:` (`db:migrate`), an existing command's name, or followed by an
option or a placeholder (`mega check --deploy`, `mega frob NAME`). Any other `mega WORD` is prose
("after mega boots the project"). For a group (`mega g app NAME`) the next word is its subcommand.
Each command named is run as `mega <command> --help`.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import mega

from .conftest import mega as run_mega

SRC = Path(mega.__file__).parent
MENTION = re.compile(r"(`?)\bmega ((?:[a-z][a-z0-9_-]*:)?[a-z][a-z0-9_-]*)(?: ([^\s`()]+))?")
PLACEHOLDER = re.compile(r"[A-Z][A-Z_]*|-\S+")
GROUPS = {"g"}  # commands whose next word is a subcommand


def strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            yield node.lineno, "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
            for value in node.values:  # its literal parts are listed on their own too: skip them
                docstrings.add(id(value))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


def texts() -> Iterator[tuple[str, str]]:
    for path in sorted(SRC.rglob("*.py")):
        for line, text in strings(ast.parse(path.read_text(encoding="utf-8"))):
            yield f"{path.relative_to(SRC.parent)}:{line}", text
    for path in sorted(SRC.rglob("*.tmpl")):
        yield str(path.relative_to(SRC.parent)), path.read_text(encoding="utf-8")


def mentions(known: set[str]) -> dict[tuple[str, ...], str]:
    """Command path -> where it is first named."""
    found: dict[tuple[str, ...], str] = {}
    for where, text in texts():
        for tick, word, after in MENTION.findall(text):
            after = after.rstrip(".,:;'\"")
            if not (tick or ":" in word or word in known or PLACEHOLDER.fullmatch(after or "")):
                continue  # prose
            path = (word, after) if word in GROUPS and after and after != "{}" else (word,)
            found.setdefault(path, f"{where}: {text.strip()[:120]!r}")
    return found


def test_every_command_named_in_a_hint_or_message_exists(tmp_path: Path) -> None:
    listed = run_mega("--help", cwd=tmp_path)
    assert listed.returncode == 0
    known = set(re.findall(r"^  ([a-z][a-z0-9:_-]*)\s", listed.stdout, re.MULTILINE))
    assert {"new", "start", "g", "db:migrate"} <= known

    named = mentions(known)
    assert ("g", "migration") in named and ("new",) in named  # the scan sees hints and messages
    missing = []
    for path, where in sorted(named.items()):
        result = run_mega(*path, "--help", cwd=tmp_path)
        if result.returncode != 0:
            missing.append(f"mega {' '.join(path)} (named at {where}): {result.stderr.strip()}")
    assert not missing, "\n".join(missing)
