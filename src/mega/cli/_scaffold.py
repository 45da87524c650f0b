"""Templates and how they become files: one folder, one token set, for `mega new` and every `mega g KIND`.

`templates/<kind>/` mirrors the project: its files land at the same relative paths. A file ends in
`.tmpl` (dropped), a leading `dot-` stands for `.` (so packaging never drops dotfiles), and `{{token}}`
is replaced in paths and contents alike. Every token is in `TOKENS`; a template that uses one the
command did not give is a bug in mega, reported as such.

Writing is all or nothing: every target is checked before any is written (an existing file is refused
unless `force`, except a `reusable` one whose content is already the same: it is left alone), and a
failure midway removes the files written and puts back the ones overwritten.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from mega.errors import MegaError

SUFFIX = ".tmpl"
DOT_PREFIX = "dot-"
SHOWN = 3  # existing files named in the error; details has them all

# The one token set. Name tokens come from NAME; the others are given by the commands that need them.
TOKENS = {
    "name": "NAME as given (`mega new`: the project's name; `mega g locale`: the language tag)",
    "Name": "the class spelling: UserProfile",
    "camel": "the camelCase spelling: userProfile",
    "snake": "the module spelling: user_profile",
    "kebab": "the URL spelling: user-profile",
    "app": "the app the files go to",
    "host": "a host name that reaches the app (`testserver` for an app without hosts)",
    "hosts": "the app's hosts as a Python list (`mega g app`)",
    "table": "the model's table (`mega g model`)",
    "catalog": "the new catalog's JSON (`mega g locale`)",
    "number": "the ADR's number, 4 digits (`mega g adr`)",
    "title": "the ADR's title (`mega g adr`)",
    "date": "today, YYYY-MM-DD (`mega g adr`)",
    "dist_name": "the project's distribution name (`mega new`)",
    "mega_bound": "the version range of mega the project needs (`mega new`)",
}
_TOKEN = re.compile(r"\{\{(" + "|".join(TOKENS) + r")\}\}")


def template_root() -> Traversable:
    return files("mega.cli").joinpath("templates")


def render(text: str, tokens: Mapping[str, str], *, where: str = "") -> str:
    """Replace each `{{token}}` of TOKENS (no spaces inside); anything else, such as a Jinja view's
    `{{ title }}`, is left as it is."""

    def value(match: re.Match[str]) -> str:
        token = match.group(1)
        if token not in tokens:
            raise RuntimeError(f"template {where} uses {{{{{token}}}}}, which this command does not give")
        return tokens[token]

    return _TOKEN.sub(value, text)


def tokens_of(text: str) -> set[str]:
    """The TOKENS a text uses (for the test that every template's tokens are known)."""
    return set(_TOKEN.findall(text))


@dataclass(frozen=True)
class Planned:
    """One file to write: where (relative to the project root) and what."""

    path: str
    content: str
    reusable: bool = False  # an existing file with this very content is kept, not a conflict


def plan(kind: str, tokens: Mapping[str, str], *, reusable: bool = False) -> list[Planned]:
    """The files of `templates/<kind>/`, rendered."""
    source = template_root().joinpath(kind)
    if not source.is_dir():
        raise RuntimeError(f"mega has no templates/{kind}/ folder")  # a packaging bug
    return sorted(_walk(source, "", tokens, kind, reusable), key=lambda p: p.path)


def _walk(folder: Traversable, prefix: str, tokens: Mapping[str, str], kind: str,
          reusable: bool) -> Iterator[Planned]:
    for entry in folder.iterdir():
        name = entry.name
        if name == "__pycache__":
            continue
        where = f"{kind}/{prefix}{name}"
        if entry.is_dir():
            yield from _walk(entry, f"{prefix}{render(name, tokens, where=where)}/", tokens, kind, reusable)
        elif name.endswith(SUFFIX):
            out = name[: -len(SUFFIX)]
            if out.startswith(DOT_PREFIX):
                out = "." + out[len(DOT_PREFIX):]
            text = entry.read_text(encoding="utf-8")
            yield Planned(prefix + render(out, tokens, where=where), render(text, tokens, where=where),
                          reusable)


@dataclass(frozen=True)
class Outcome:
    """What happened (or would happen) to one planned file."""

    path: str
    action: str  # "create", "overwrite" or "identical"


def check(root: Path, planned: list[Planned], *, force: bool) -> list[Outcome]:
    """Each file's action; an existing file with other content is refused unless `force`."""
    outcomes: list[Outcome] = []
    existing: list[str] = []
    for item in planned:
        target = root / item.path
        if not target.exists():
            outcomes.append(Outcome(item.path, "create"))
        elif item.reusable and target.is_file() and _same(target, item.content):
            outcomes.append(Outcome(item.path, "identical"))
        elif force and target.is_file():
            outcomes.append(Outcome(item.path, "overwrite"))
        else:
            existing.append(item.path)
            outcomes.append(Outcome(item.path, "conflict"))
    if existing:
        many = len(existing) > 1
        shown = ", ".join(existing[:SHOWN])
        if len(existing) > SHOWN:
            shown += f" and {len(existing) - SHOWN} more"
        raise MegaError("generate.file_exists",
                        f"{shown} already exist{'' if many else 's'}: nothing was written",
                        details={"paths": existing},
                        hint="pass --force to overwrite, or choose another name (--dry-run shows what "
                             "would be written)")
    return outcomes


def write(root: Path, planned: list[Planned], outcomes: list[Outcome]) -> None:
    """Write the files `check` cleared; on any failure, undo (remove what this call created, put back what
    it overwrote) and re-raise."""
    created_files: list[Path] = []
    created_dirs: list[Path] = []
    overwritten: dict[Path, bytes] = {}
    try:
        for item, outcome in zip(planned, outcomes, strict=True):
            if outcome.action == "identical":
                continue
            target = root / item.path
            created_dirs.extend(_make_parents(target.parent))
            if outcome.action == "create":
                created_files.append(target)
            else:
                overwritten[target] = target.read_bytes()
            _write_atomically(target, item.content)
    except BaseException:
        for target, old in overwritten.items():
            with contextlib.suppress(OSError):
                target.write_bytes(old)
        for path in reversed(created_files):
            with contextlib.suppress(OSError):  # never written (the failure itself)
                path.unlink()
        for folder in reversed(created_dirs):
            with contextlib.suppress(OSError):  # not empty: something else wrote there meanwhile
                folder.rmdir()
        raise


def _same(path: Path, content: str) -> bool:
    try:
        return path.read_text(encoding="utf-8") == content
    except (OSError, UnicodeDecodeError):
        return False


def _make_parents(folder: Path) -> list[Path]:
    """mkdir -p, returning the folders it made (outermost first) so a failure can remove them."""
    missing: list[Path] = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for made in reversed(missing):
        made.mkdir()
    return list(reversed(missing))


def _write_atomically(target: Path, content: str) -> None:
    # Written aside and renamed: an overwritten file is never seen half-written.
    temp = target.with_name(f".{target.name}.tmp-{os.urandom(4).hex()}")
    try:
        temp.write_text(content, encoding="utf-8")
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
