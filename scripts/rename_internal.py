"""Give mega's internal modules a leading `_`: `git mv` each one and rewrite every reference to it.

    python scripts/rename_internal.py              # the default mapping below, in this checkout
    python scripts/rename_internal.py --dry-run    # print what would change, change nothing
    python scripts/rename_internal.py --only mega.boot.server,mega.boot.host

Public modules keep their names: the package `__init__`s, the modules users import or that the docs
name as the home of an API (`mega.errors`, `mega.testing.*`, `mega.observe.logging`, ...), the
contract and driver modules driver authors and configs name (`mega.cache.contract`,
`mega.cache.redis`, ...), the entry points (`mega.asgi`, `mega.cli.main`, `mega.testing.plugin`)
and the modules defining what `import mega` exports (`mega.app.ctx`, `mega.http.request`, ...).
Everything else is only imported by mega itself, and is listed in INTERNAL.

References are rewritten in src/, tests/, docs/, samples/, bench/ and the top-level project files:
dotted names anywhere (imports, strings such as "mega.cli.start:start" or patch targets),
`from mega.boot import server` (becomes `from mega.boot import _server as server`, so the code
using the name is unchanged) and paths (`src/mega/boot/server.py`). Import blocks of the
rewritten files are re-sorted with `ruff --select I --fix` when ruff is installed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

# Internal modules (or packages) by their old dotted name; each becomes `_<name>` in its package.
_MODULES = (
    # connections: the manager and boot stage behind ctx.db()/ctx.cache(), SQL plumbing
    "mega.adapters.manager", "mega.adapters.stage", "mega.adapters.sql.compiler",
    "mega.adapters.sql.connection", "mega.adapters.sql.errors", "mega.adapters.sql.pool",
    "mega.adapters.sql.transaction", "mega.adapters.sql.urls",
    "mega.app.services",
    # boot machinery (mega.boot.stages stays: Runtime, BootError, boot_project, add_stage)
    "mega.boot.host", "mega.boot.loader", "mega.boot.protocol", "mega.boot.server",
    "mega.boot.shutdown",
    "mega.bus.errors", "mega.bus.manager", "mega.bus.stage",
    # one module per CLI command, reached through mega.cli.main's lazy COMMANDS map
    "mega.cli.console", "mega.cli.db", "mega.cli.generate", "mega.cli.new", "mega.cli.routes",
    "mega.cli.start", "mega.cli.test",
    "mega.config.loader", "mega.config.problems", "mega.config.project",
    "mega.data.crud", "mega.data.query", "mega.data.sqlstore",
    # migrations: files import from the package; generate, runner, partition are documented
    "mega.data.migrations.database", "mega.data.migrations.ddl", "mega.data.migrations.differ",
    "mega.data.migrations.loader", "mega.data.migrations.lock", "mega.data.migrations.operations",
    "mega.data.migrations.questioner", "mega.data.migrations.recorder", "mega.data.migrations.scan",
    "mega.data.migrations.schema", "mega.data.migrations.snapshot", "mega.data.migrations.validate",
    "mega.data.migrations.writer",
    "mega.http.health", "mega.http.pipeline", "mega.http.validation", "mega.http.routing",
    "mega.lock.manager", "mega.lock.stage",
    "mega.observe.formatters",
    # security settings are config keys and route options; hashing and brute_force are public
    "mega.security.client_ip", "mega.security.cors", "mega.security.csrf", "mega.security.headers",
    "mega.security.policy", "mega.security.rate_limit",
    "mega.sessions.factory", "mega.sessions.manager",
)
# Modules other branches of the same change add, move or already renamed: skipped when absent.
PENDING = frozenset({
    "mega.data.sqlstore", "mega.adapters.sql.store", "mega.data.spec", "mega.http.dispatch",
    "mega.http.failure", "mega.http.lifespan", "mega.http.settings", "mega.http.wire",
    "mega.boot.server", "mega.boot.protocol",
})
INTERNAL: dict[str, str] = {
    old: old.rpartition(".")[0] + "._" + old.rpartition(".")[2] for old in sorted({*_MODULES, *PENDING})
}

ROOTS = ("src", "tests", "docs", "samples", "bench")
TOP_FILES = ("pyproject.toml", "README.md", "Makefile")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".tmpl", ".txt", ".ini", ".cfg", ".yml", ".yaml", ".sh", ".pyi"}
SKIP_PARTS = {"results", "__pycache__", ".venv"}

DOTTED = re.compile(r"(?<![\w.])mega(?:\.[A-Za-z_]\w*)+")
PATH = re.compile(r"(?<![\w.])mega(?:/[A-Za-z_]\w*)+(?:\.py)?")
FROM_IMPORT = re.compile(r"^([ \t]*from[ \t]+)(mega(?:\.\w+)*)([ \t]+import[ \t]+)(\([^)]*\)|[^\n#]+)",
                         re.MULTILINE)
NAME = re.compile(r"\b([A-Za-z_]\w*)(\s+as\s+\w+)?")


class Renamer:
    """Rewrites references to the old module names; counts what it changed."""

    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.last = {}  # old dotted name -> its new last segment
        for old, new in mapping.items():
            parent, _, name = old.rpartition(".")
            new_parent, _, new_name = new.rpartition(".")
            if new_parent != parent or not new_name.isidentifier() or new_name == name:
                raise SystemExit(f"mapping {old} -> {new}: only the last part may change")
            self.last[old] = new_name

    def dotted(self, name: str, sep: str = ".") -> str:
        suffix = ".py" if sep == "/" and name.endswith(".py") else ""
        parts = name[: len(name) - len(suffix)].split(sep)
        out = list(parts)
        for i in range(2, len(parts) + 1):
            new_name = self.last.get(".".join(parts[:i]))
            if new_name is not None:
                out[i - 1] = new_name
        return sep.join(out) + suffix

    def text(self, source: str) -> tuple[str, int]:
        count = 0

        def names(match: re.Match[str]) -> str:
            nonlocal count
            package, body = match[2], match[4]

            def one(name: re.Match[str]) -> str:
                nonlocal count
                new_name = self.last.get(f"{package}.{name[1]}")
                if new_name is None:
                    return name[0]
                count += 1
                return new_name + (name[2] or f" as {name[1]}")

            return match[1] + package + match[3] + NAME.sub(one, body)

        def dotted(match: re.Match[str]) -> str:
            nonlocal count
            new = self.dotted(match[0])
            count += new != match[0]
            return new

        def path(match: re.Match[str]) -> str:
            nonlocal count
            new = self.dotted(match[0], "/")
            count += new != match[0]
            return new

        source = FROM_IMPORT.sub(names, source)
        source = DOTTED.sub(dotted, source)
        source = PATH.sub(path, source)
        return source, count


def module_path(root: Path, dotted: str) -> Path | None:
    """The file (`x.py`) or package directory of a dotted name under src/, if it exists."""
    base = root / "src" / Path(*dotted.split("."))
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    if (base / "__init__.py").is_file():
        return base
    return None


def text_files(root: Path) -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", *ROOTS,
                             *TOP_FILES], cwd=root, check=True, capture_output=True, text=True).stdout
    out = []
    for rel in sorted(set(listed.splitlines())):
        path = root / rel
        if (path.suffix in TEXT_SUFFIXES or path.name in TOP_FILES) and path.is_file() \
                and not SKIP_PARTS.intersection(path.parts):
            out.append(path)
    return out


def move(root: Path, mapping: Mapping[str, str], *, dry_run: bool) -> dict[str, str]:
    """`git mv` each module that exists; returns the part of `mapping` that was (or would be) moved."""
    moves = {}
    for old, new in sorted(mapping.items()):
        source = module_path(root, old)
        if source is None:
            print(f"skip   {old}: no such module under src/ (renamed or removed already?)")
            continue
        target = source.with_name(new.rpartition(".")[2] + source.suffix)
        if target.exists():
            raise SystemExit(f"stop: {target.relative_to(root)} exists already")
        moves[old] = new
        print(f"git mv {source.relative_to(root)} {target.relative_to(root)}")
        if not dry_run:
            subprocess.run(["git", "mv", str(source), str(target)], cwd=root, check=True)
    return moves


def rewrite(root: Path, renamer: Renamer, *, dry_run: bool) -> list[Path]:
    changed = []
    for path in text_files(root):
        try:
            source = path.read_text()
        except UnicodeDecodeError:
            continue
        new, count = renamer.text(source)
        if count:
            changed.append(path)
            print(f"edit   {path.relative_to(root)}: {count} reference(s)")
            if not dry_run:
                path.write_text(new)
    return changed


def sort_imports(root: Path, files: Iterable[Path]) -> None:
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    python_files = [str(p) for p in files if p.suffix == ".py"]
    if not python_files or not Path(ruff).exists():
        print("ruff not found: re-sort the import blocks of the edited files yourself")
        return
    done = subprocess.run([ruff, "check", "--select", "I", "--fix", "--quiet", *python_files], cwd=root,
                          capture_output=True, text=True)
    print(f"ruff   import blocks re-sorted in the edited files (exit {done.returncode})")
    if done.stdout.strip():
        print(done.stdout.strip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    parser.add_argument("--only", help="comma-separated old module names (default: all of INTERNAL)")
    args = parser.parse_args(argv)
    mapping = INTERNAL
    if args.only:
        wanted = [name.strip() for name in args.only.split(",") if name.strip()]
        unknown = [name for name in wanted if name not in INTERNAL]
        if unknown:
            parser.error(f"not in INTERNAL: {', '.join(unknown)}")
        mapping = {name: INTERNAL[name] for name in wanted}
    root = args.root.resolve()
    moves = move(root, mapping, dry_run=args.dry_run)
    if not moves:
        print("nothing to rename")
        return 0
    changed = rewrite(root, Renamer(moves), dry_run=args.dry_run)
    if not args.dry_run:
        sort_imports(root, changed)
    print(f"done: {len(moves)} module(s) renamed, {len(changed)} file(s) edited"
          + (" (dry run: nothing written)" if args.dry_run else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
