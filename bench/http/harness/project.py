"""Write a variant of the base project into a directory, and hash what was written."""

from __future__ import annotations

import ast
import hashlib
import pprint
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .variants import HANDLER_SOURCES, Variant

BASE_PROJECT = Path(__file__).resolve().parent.parent / "project"
MAIN = "apps/bench/routes/main.py"
FILLER = "apps/bench/routes/filler.py"
PROJECT_CONFIG = "mega_config.py"
APP_CONFIG = "apps/bench/app_config.py"
_COUNT = re.compile(r"^COUNT = \d+$", re.M)


def materialise(variant: Variant, dest: Path) -> dict[str, Any]:
    """Copy the base project to `dest` (which must not exist), apply the variant's changes, and return
    its record for the results: note, changes, file count and sha256."""
    shutil.copytree(BASE_PROJECT, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    if variant.filler_routes != _count(dest / FILLER):
        text = (dest / FILLER).read_text()
        (dest / FILLER).write_text(_COUNT.sub(f"COUNT = {variant.filler_routes}", text, count=1))
    if variant.handlers != "plain":
        (dest / MAIN).write_text(HANDLER_SOURCES[variant.handlers])
    if variant.project_config:
        _merge_config(dest / PROJECT_CONFIG, variant.project_config, variant.name)
    if variant.app_config:
        _merge_config(dest / APP_CONFIG, variant.app_config, variant.name)
    digest, count = tree_hash(dest)
    return {"note": variant.note, "changes": variant.changes(), "files": count, "sha256": digest}


def tree_hash(root: Path) -> tuple[str, int]:
    """sha256 over every file's relative path and bytes, in path order (bytecode caches excluded)."""
    digest = hashlib.sha256()
    files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for f in files:
        digest.update(f.relative_to(root).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest(), len(files)


def _count(path: Path) -> int:
    found = _COUNT.search(path.read_text())
    if found is None:  # the writer would silently measure the base route count
        raise ValueError(f"{path}: no `COUNT = <n>` line for the filler route count")
    return int(found.group().split("=")[1])


def _merge_config(path: Path, overrides: Mapping[str, Any], name: str) -> None:
    """Merge `overrides` into the literal `config = {...}` of `path`, keeping the file's comments (and
    saying below them that this is no longer the base file's config)."""
    text = path.read_text()
    node = next((n for n in ast.parse(text).body if isinstance(n, ast.Assign)
                 and [getattr(t, "id", None) for t in n.targets] == ["config"]), None)
    if node is None:
        raise ValueError(f"{path}: no top-level `config = {{...}}` to merge the variant into")
    merged = _deep_merge(ast.literal_eval(node.value), overrides)
    lines = text.splitlines(keepends=True)
    start, end = node.lineno - 1, node.end_lineno or node.lineno
    lines[start:end] = [f"# {name}: the base config with {dict(overrides)!r} merged in\n",
                        f"config = {pprint.pformat(merged, sort_dicts=False)}\n"]
    path.write_text("".join(lines))


def _deep_merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
