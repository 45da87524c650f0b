"""No import circle in src/mega, and no function-local import that hides one.

Every `import mega...` statement is an edge of the graph, wherever it sits (module level or inside a
function), except under `if TYPE_CHECKING:` (never run). The graph must have no cycle, so moving an
import into a function cannot dodge a circle. A function-local import is allowed only for lazy loading
of a heavy or optional dependency, and each is listed in LAZY with its reason.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# Function-local imports that load something heavy or optional on first use: (importer, imported).
LAZY: dict[tuple[str, str], str] = {
    ("mega.server._serve", "mega.server._uvicorn_protocol"): "uvicorn/httptools, only when serving",
    ("mega.server._serve", "mega.server._granian"): "granian (an optional extra), only for --server granian",
    ("mega.server._serve", "mega.server._uvicorn_ws"): "uvicorn's websockets protocol, only when serving",
    ("mega.ws._endpoint", "mega.ws._deflate"): "the websockets library, only for an app with ws.compression",
    ("mega.boot.stages", "mega.data.migrations._scan"): "SQLAlchemy, only for projects with models",
    ("mega.boot.stages", "mega.data.migrations._validate"): "SQLAlchemy, only for projects with models",
    ("mega.boot.stages", "mega.asp._http"): "cryptography, only for apps that turn ASP on",
    ("mega.data.migrations._stage", "mega.data.migrations.check"):
        "SQLAlchemy and the runner, only for projects with models or migrations",
    ("mega.bus._manager", "mega.bus.nats"): "nats-py (~0.2 s), only for apps on NATS",
    ("mega.bus._stage", "mega.adapters.nats"): "nats-py (~0.2 s), only for apps on NATS",
    ("mega.lock._manager", "mega.lock.redis"): "redis-py, only for apps with a redis lock",
    ("mega.i18n._stage", "mega.i18n._translator"): "Babel (~20 ms), only for apps with catalogs",
    ("mega.i18n._i18n", "mega.i18n._formats"): "Babel (~20 ms), only once an app without catalogs formats "
                                              "a value",
    ("mega.testing.plugin", "mega.testing._databases"): "the migration runner (Alembic), only when a test "
                                                        "boots a project",
    ("mega.testing.plugin", "mega.testing._isolation"): "SQLAlchemy, only when a test boots a project",
    ("mega.http.request", "mega.forms._parse"): "python-multipart, only for requests that parse a form",
    ("mega.observe._stage", "mega.observe.metrics"): "prometheus_client, only with metrics on",
    ("mega.observe._stage", "mega.observe.tracing"): "OpenTelemetry, only with tracing on",
    ("mega.observe.tracing", "mega.observe._otlp"): "the OTLP/HTTP exporter (requests, protobuf), only with "
                                                    "the 'otlp' exporter",
    ("mega.schedules._schedule", "mega.schedules._cron"): "cronsim, only for projects with schedules",
    ("mega.workers._stage", "mega.workers._pool"): "multiprocessing, only for projects that declare pools",
    ("mega.observe.logging", "mega.observe.telegram"): "urllib.request (http.client, email), only with a "
                                                       "telegram sink",
    ("mega.testing._live", "mega.server._serve"): "uvicorn, only for tests that serve on a real socket",
    ("mega.asp._http", "mega.asp._ws"): "ASP over WebSockets, only for apps with asp.websocket namespaces",
    ("mega.ws.hub._stage", "mega.ws.hub._bridge"): "the hub link (websockets client, tenacity), only "
                                                   "for apps with bridge_hub",
    ("mega.ws.hub._stage", "mega.ws.presence._stage"): "the Redis roster, only for a bridge with a roster",
    ("mega.ws.presence._stage", "mega.adapters.nats"): "nats-py (~0.2 s), only with ws_cluster",
    ("mega.ws.presence._stage", "mega.cache.redis"): "redis-py, only with a Redis roster",
}
# Importers whose function-local imports are all lazy on purpose.
LAZY_PACKAGES: dict[str, str] = {
    "mega.cli": "each command imports what it runs when it runs (`mega --help` stays fast)",
    "mega.cluster._primary": "run by `mega start` in cluster mode: boot, config and the listener when it "
                             "runs",
    "mega.cluster._worker": "run by `mega start` in a cluster worker: boot and metrics when it runs",
    "mega.ws.hub._cli": "`mega ws-hub`: the config loaders when the command runs",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted((SRC / "mega").rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _targets(node: ast.Import | ast.ImportFrom, module: str) -> list[str]:
    """The mega modules an import statement runs (a `from pkg import sub` runs pkg.sub too)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name.split(".")[0] == "mega"]
    base = node.module or ""
    if node.level:  # relative: resolve against the importing package
        package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{base}" if base else package
    if base.split(".")[0] != "mega":
        return []
    return [base, *(f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES)]


def imports_of(module: str) -> list[tuple[str, bool]]:
    """(imported module, function-local?) for every import `module` can run."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, local: bool) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child, local)
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.extend((t, local) for t in _targets(node, module))
            return
        inner = local or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    loaded = _ancestors(module) | {module}  # already being imported when `module` runs
    return [(t, local) for t, local in found if t not in loaded]


def _ancestors(module: str) -> set[str]:
    parts = module.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))}


def import_graph() -> dict[str, set[str]]:
    """module -> the modules importing it can run. A target's parent packages count, except those
    the importer sits in (they are already being imported when it runs)."""
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        own = _ancestors(module) | {module}
        for target, _ in imports_of(module):
            for node in (*sorted(_ancestors(target)), target):
                if node in MODULES and node not in own:
                    graph[module].add(node)
    return graph


def _lazy_allowed(module: str, target: str) -> bool:
    return (module, target) in LAZY or any(module == p or module.startswith(p + ".") for p in LAZY_PACKAGES)


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(_one_cycle(graph, set(component)))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return cycles


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, for the message."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph[node] & component):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    return [start]


def test_src_mega_has_no_import_circle_even_through_function_local_imports() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import circles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_function_local_imports_are_only_the_listed_lazy_loads() -> None:
    unlisted = sorted({(m, t) for m in MODULES for t, local in imports_of(m)
                       if local and not _lazy_allowed(m, t)})
    assert not unlisted, ("function-local imports not in LAZY (import at module level, or list the heavy "
                          f"dependency it defers): {unlisted}")


def test_every_lazy_import_listed_still_exists() -> None:
    local = {(m, t) for m in MODULES for t, is_local in imports_of(m) if is_local}
    assert set(LAZY) <= local, f"stale LAZY entries: {sorted(set(LAZY) - local)}"


@pytest.mark.parametrize(("source", "cyclic"), [
    ("import mega.b\n", True),
    ("from mega import b\n", True),
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import mega.b\n", False),
    ("def f():\n    import mega.b\n", True),
])
def test_the_walker_sees_circles_wherever_the_import_sits(tmp_path: Path, source: str, cyclic: bool,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "mega"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(source)
    (pkg / "b.py").write_text("import mega.a\n")
    this = sys.modules[__name__]
    monkeypatch.setattr(this, "SRC", tmp_path)
    monkeypatch.setattr(this, "MODULES",
                        {_module_name(p): p for p in sorted(pkg.rglob("*.py"))})
    assert bool(find_cycles(import_graph())) is cyclic
