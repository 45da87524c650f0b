"""Run the blocks of one page, in order, in a scratch directory of their own (conventions: docs/README.md).

Python blocks run in this process, in one namespace per page and on one event loop per page (top-level
`await` works); shell blocks run in bash with the repository's `.venv/bin` first on PATH. A page's
blocks share its scratch directory, its files and, for shell blocks, the last working directory.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import importlib
import inspect
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import services
from tests.docs._markdown import PYTHON, SHELL, Block, Page, split_files

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
_repo_venv = REPO / ".venv" / "bin"
VENV_BIN = _repo_venv if (_repo_venv / "mega").exists() else Path(sys.executable).parent
PROJECT_NAME = "shop"  # what `mega new` is called for pages with project=new (guide 01 makes `shop` too)

# Names a python block may use without defining them; the walker binds them to the page's booted project.
PROJECT_NAMES = frozenset({"runtime", "app", "ctx", "client"})
# Local services named in a block (a URL on this machine): the block needs that service.
_SERVICE_URLS = {
    "postgres": re.compile(r"postgres(?:ql)?(?:\+\w+)?://[^\s\"']*(?:127\.0\.0\.1|localhost)"),
    "maria": re.compile(r"(?:mysql|mariadb)(?:\+\w+)?://[^\s\"']*(?:127\.0\.0\.1|localhost)"),
    "redis": re.compile(r"redis://[^\s\"']*(?:127\.0\.0\.1|localhost)"),
    "nats": re.compile(r"nats://[^\s\"']*(?:127\.0\.0\.1|localhost)"),
}
SKIP_EXIT = 77  # a shell shim's "cannot run this here" (printed reason on a `docs-walker-skip:` line)
# Process-wide registries a page may extend (add_stage, register_driver, ...): put back after the page.
_GLOBALS = (("mega.boot.stages", "STAGES"), ("mega.adapters.registry", "_classes"),
            ("mega.config.sections", "_SECTIONS"))
_LOGGERS = ("mega", "uvicorn", "uvicorn.error", "uvicorn.access")


class BlockFailed(AssertionError):
    """A block failed: the message is the traceback from the page's own lines down, or the shell's output."""

    @classmethod
    def shell(cls, message: str) -> BlockFailed:
        failed = cls.__new__(cls)
        AssertionError.__init__(failed, message)
        return failed

    def __init__(self, block: Block, exc: BaseException) -> None:
        frames = traceback.extract_tb(exc.__traceback__)
        first = next((i for i, f in enumerate(frames) if f.filename.endswith(".md")), None)
        if first is None:  # raised by mega (a file that does not boot): its messages say it all
            lines = [f"{type(e).__name__}: {e}\n" for e in _chain(exc)]
        else:
            lines = traceback.format_list(frames[first:]) + traceback.format_exception_only(exc)
        super().__init__(f"{block.id} raised {type(exc).__name__}\n" + "".join(lines).rstrip())


def _chain(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


class PageStopped(Exception):
    """An earlier block of the page failed: later blocks cannot run on its state."""


def needed_services(page: Page, block: Block) -> list[str]:
    found = set(page.listed("needs")) | set(block.listed("needs"))
    text = "\n".join([block.text, *page.listed("env"), *block.listed("env")])
    found |= {name for name, pattern in _SERVICE_URLS.items() if pattern.search(text)}
    return sorted(found)


class PageRun:
    """The state of one page being walked: its directory, environment, namespace, loop and project."""

    def __init__(self, page: Page, scratch: Path, template: Path) -> None:
        self.page = page
        self.dir = scratch / re.sub(r"[^\w.-]+", "_", page.rel)
        self.dir.mkdir(parents=True)
        project = page.project
        if project == "new":
            self.root: Path | None = self.dir / PROJECT_NAME
            shutil.copytree(template, self.root, symlinks=True)
        elif project == "none":
            self.root = None
        else:
            source = (REPO / project).resolve()
            if not (source / "mega_config.py").is_file():
                raise ValueError(f"{page.rel}: project={project}: no mega_config.py in {source}")
            self.root = self.dir / source.name
            shutil.copytree(source, self.root, ignore=shutil.ignore_patterns("var", ".env", "__pycache__"))
        self.cwd = self.root or self.dir
        self.env = {k: v for k, v in (e.split("=", 1) for e in page.listed("env"))}
        self.ns: dict[str, Any] = {"__name__": "__docs__", "mount": self._mount}
        self.loop = asyncio.new_event_loop()
        self.runtime: Any = None
        self.booted_files: dict[str, tuple[int, int]] = {}  # the project's files when it booted
        self.bound: set[str] = set()  # names of PROJECT_NAMES the walker put into ns
        self.bound_to: Any = None  # the runtime they belong to
        self.clients: list[httpx.AsyncClient] = []
        self.needs: set[str] = set()
        self.done = 0  # blocks run so far
        self.stopped: str | None = None
        self._saved = _save_globals()

    # -- walking ---------------------------------------------------------------------------------

    def run_until(self, index: int) -> None:
        """Run the blocks before `index` that have not run (as setup), then block `index` itself."""
        if index < self.done:
            raise PageStopped(f"{self.page.blocks[index].id} already ran")
        while self.done <= index:
            if self.stopped is not None:
                raise PageStopped(self.stopped)
            block = self.page.blocks[self.done]
            current = self.done == index
            self.done += 1
            try:
                self.run_block(block)
            except pytest.skip.Exception:
                # Nothing to undo: a skipped block changed nothing, and a service it needed is needed by
                # every later block too (self.needs).
                if current:
                    raise
            except BaseException as exc:
                self.stopped = f"not run: {block.id} failed"
                if current:
                    raise
                raise BlockFailed.shell(f"{block.id}, run first as this block's setup, failed:\n"
                                        f"{exc}") from exc

    def run_block(self, block: Block) -> None:
        if not block.runnable:
            return
        if block.attrs.get("skip") is True:
            pytest.skip(f"{block.id}: marked not runnable: {block.attr('reason')}")
        self.needs |= set(needed_services(self.page, block))
        for name in sorted(self.needs):
            services.require(name)
        if block.lang in SHELL:
            self._shell(block)
        elif block.lang in PYTHON:
            with self._environ(block):
                self._python(block)

    def close(self) -> None:
        try:
            if not self.loop.is_closed():
                self.loop.run_until_complete(self._shutdown())
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
                self.loop.close()
        finally:
            _restore_globals(self._saved)
            if self.root is not None and str(self.root) in sys.path:
                sys.path.remove(str(self.root))

    # -- python ----------------------------------------------------------------------------------

    def _python(self, block: Block) -> None:
        files = self._files(block)
        if not files:
            self._exec(block)
            return
        for rel, text in files:
            base = self.root or self.cwd
            path = (base / rel).resolve()
            if not path.is_relative_to(self.dir):
                raise AssertionError(f"{block.id}: {rel} is outside the page's directory")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if path.suffix == ".py":
                try:
                    compile(text, str(path), "exec", dont_inherit=True)
                except SyntaxError as exc:
                    raise BlockFailed(block, exc) from None
        check = block.attr("check") or ("boot" if self.root is not None else "syntax")
        if check == "syntax":
            return
        if self.root is None:
            raise AssertionError(f"{block.id}: check={check} needs a project (this page has project=none)")
        try:
            if check == "config":
                self._check_config()
            else:
                self._await(self._boot(), timeout=60)
        except Exception as exc:
            raise BlockFailed(block, exc) from None

    def _files(self, block: Block) -> list[tuple[str, str]]:
        into = block.attr("in")
        if into is not None:  # an excerpt of a config dict: written as the whole `config`
            return [(into, "config = {\n" + textwrap.indent(block.text, "    ") + "\n}\n")]
        target = block.attr("file")
        if target is not None:
            return [(target, block.text + "\n")]
        return split_files(block.text)

    def _check_config(self) -> None:
        """Load and validate the config, and build every adapter (options checked, nothing connected)."""
        from mega.adapters._manager import AdapterManager
        from mega.config import load_dotenv_file, load_project_config

        assert self.root is not None
        environ = dict(os.environ)
        load_dotenv_file(self.root, environ)
        config = load_project_config(self.root, environ=environ)
        AdapterManager(config.values.get("services"), root=self.root)

    def _exec(self, block: Block) -> None:
        # Padded so that tracebacks name the page's own lines.
        source = "\n" * (block.first_text_line - 1) + block.text
        try:
            code = compile(source, str(self.page.path), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                           dont_inherit=True)
        except SyntaxError as exc:
            raise BlockFailed(block, exc) from None
        wanted = _free_names(block.text) & PROJECT_NAMES
        wanted -= {name for name in wanted if name in self.ns and name not in self.bound}
        timeout = float(block.attr("timeout") or 60)

        async def run() -> None:
            if wanted:
                await self._bind(block)
            try:
                result = eval(code, self.ns)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                raise BlockFailed(block, exc) from None

        with _chdir(self.cwd):
            self._await(run(), timeout=timeout)

    def _await(self, coro: Any, *, timeout: float) -> Any:
        return self.loop.run_until_complete(asyncio.wait_for(coro, timeout))

    async def _bind(self, block: Block) -> None:
        if self.root is None:
            raise AssertionError(f"{block.id} uses the booted project (ctx, app, runtime, client), but the "
                                 "page has project=none")
        if self._stale():
            await self._boot()
        if self.bound_to is not self.runtime:
            self._rebind()

    def _main_app(self) -> Any:
        apps = self.runtime.apps
        return apps["main"] if "main" in apps else next(iter(apps.values()))

    def _rebind(self) -> None:
        """Point the names the walker provides at the current runtime (unless the page defined them)."""
        from mega.app.ctx import Ctx
        from mega.testing import make_client

        app = self._main_app()
        client = make_client(self.runtime)
        self.clients.append(client)
        provided = {"runtime": self.runtime, "app": app, "ctx": Ctx(app, None, None), "client": client}
        for name, value in provided.items():
            if name in self.bound or name not in self.ns:
                self.ns[name] = value
                self.bound.add(name)
        self.bound_to = self.runtime

    async def _boot(self) -> None:
        from mega.testing import boot_for_test

        await self._close_runtime()
        assert self.root is not None
        importlib.invalidate_caches()
        files = self._files_now()
        with _chdir(self.root):
            self.runtime = await boot_for_test(self.root)
        self.booted_files = files

    def _stale(self) -> bool:
        """No runtime yet, or a file of the project changed since it booted (whoever changed it)."""
        return self.runtime is None or self._files_now() != self.booted_files

    def _files_now(self) -> dict[str, tuple[int, int]]:
        assert self.root is not None
        found: dict[str, tuple[int, int]] = {}
        for path in self.root.rglob("*"):
            rel = path.relative_to(self.root)
            if rel.parts[0] == "var" or "__pycache__" in rel.parts or not path.is_file():
                continue
            stat = path.stat()
            found[rel.as_posix()] = (stat.st_mtime_ns, stat.st_size)
        return found

    async def _close_runtime(self) -> None:
        from mega.boot._loader import forget_project_modules

        for client in self.clients:
            await client.aclose()
        self.clients.clear()
        if self.runtime is not None:
            runtime, self.runtime = self.runtime, None
            await runtime.close()
            forget_project_modules()
        for name in self.bound:
            self.ns.pop(name, None)
        self.bound, self.bound_to = set(), None

    async def _shutdown(self) -> None:
        await self._close_runtime()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _mount(self, routes: Callable[[Any], None], *,
                     middlewares: dict[str, Callable[..., Any]] | None = None) -> httpx.AsyncClient:
        """For hidden checks: an httpx client over an app compiled from a `routes(router)` function. On a
        page with a project it shares the booted `main` app's adapters, lock, bus and sessions, so the
        handlers' `ctx.cache()`, `ctx.lock`, `ctx.session`... work."""
        from mega.app.app import MegaApp
        from mega.http.router import Router

        router = Router()
        routes(router)
        app = MegaApp("main")
        if self.root is not None:
            if self._stale():
                await self._boot()
            if self.bound_to is not self.runtime:
                self._rebind()
            main = self._main_app()
            app.env = main.env
            app.adapters, app.sessions = main.adapters, main.sessions
            app.lock, app.bus = main.lock, main.bus
        app.middlewares.update(middlewares or {})
        app.add_routes(router.routes)
        app.compile()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        self.clients.append(client)
        return client

    @contextlib.contextmanager
    def _environ(self, block: Block) -> Iterator[None]:
        """The page's and the block's `env=` values in os.environ while a python block runs."""
        values = dict(self.env)
        values.update(e.split("=", 1) for e in block.listed("env"))
        saved = {k: os.environ.get(k) for k in values}
        os.environ.update(values)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    # -- shell -----------------------------------------------------------------------------------

    def _shell(self, block: Block) -> None:
        in_repo = block.attr("cwd") == "repo"
        if block.attr("cwd") not in (None, "repo"):
            raise AssertionError(f"{block.id}: cwd={block.attr('cwd')}: only cwd=repo is known")
        cwd = REPO if in_repo else self.cwd
        state = self.dir / ".docs-cwd"
        body = _console_commands(block.text) if block.lang == "console" else block.text
        script = "\n".join([
            "set -eo pipefail",
            f"source {shlex.quote(str(HERE / '_prelude.sh'))}",
            f"trap 'pwd > {shlex.quote(str(state))}' EXIT",
            f"cd {shlex.quote(str(cwd))}",
            body,
            "",
        ])
        env = self._shell_env(block)
        timeout = float(block.attr("timeout") or 120)
        started = time.monotonic()
        try:
            result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                                    stdin=subprocess.DEVNULL, timeout=timeout, start_new_session=True)
        except subprocess.TimeoutExpired as exc:
            raise BlockFailed.shell(f"{block.id}: still running after {timeout:.0f} s (timeout=N to allow "
                                    f"more, or skip it with a reason)\n{_text(exc.stdout)}"
                                    f"{_text(exc.stderr)}") from None
        if not in_repo and state.exists():
            self.cwd = Path(state.read_text().strip())
        if result.returncode == SKIP_EXIT:
            reasons = [ln.split(":", 1)[1].strip() for ln in result.stdout.splitlines()
                       if ln.startswith("docs-walker-skip:")]
            if reasons:
                pytest.skip(reasons[-1])
        if result.returncode != 0:
            raise BlockFailed.shell(
                f"{block.id}: exit {result.returncode} after {time.monotonic() - started:.1f} s, in {cwd}\n"
                f"--- block ---\n{body}\n--- stdout ---\n{result.stdout[-6000:]}\n"
                f"--- stderr ---\n{result.stderr[-6000:]}")

    def _shell_env(self, block: Block) -> dict[str, str]:
        # What a user's shell has: no pytest or test-run variables, the venv's bin first.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("PYTEST_", "MEGA_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
        env.update(DOCS_TMP=str(self.dir), DOCS_PYTHON=str(VENV_BIN / "python"),
                   DOCS_PROBE=str(HERE / "_probe.py"), NO_COLOR="1")
        env.update(self.env)
        env.update(e.split("=", 1) for e in block.listed("env"))
        return env


def _console_commands(text: str) -> str:
    """The `$ ` lines of a console block (with their `\\` continuations); output lines are not run."""
    out: list[str] = []
    continuing = False
    for line in text.splitlines():
        if continuing or line.startswith("$ "):
            out.append(line[2:] if line.startswith("$ ") and not continuing else line)
            continuing = line.endswith("\\")
    return "\n".join(out)


def _free_names(text: str) -> set[str]:
    """Names the block reads without binding them itself (at its top level or in the reading function)."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return set()  # compile() reports it with the page's line numbers
    free: set[str] = set()

    def visit(body: list[ast.AST], args: ast.arguments | None, outer: set[str]) -> None:
        known = outer | _bound_names(body, args)
        for node in _walk_scope(body):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id not in known:
                free.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                inner = node.body if isinstance(node.body, list) else [node.body]
                visit(inner, node.args, known)

    visit(list(tree.body), None, set())
    return free


def _bound_names(body: list[ast.AST], args: ast.arguments | None) -> set[str]:
    names = set()
    if args is not None:
        every = (*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg)
        names = {a.arg for a in every if a is not None}
    for node in _walk_scope(body):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _walk_scope(body: list[ast.AST]) -> Iterator[ast.AST]:
    """Every node of a scope's body, not descending into nested functions (yielded, not entered)."""
    stack = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(reversed([*node.decorator_list] if not isinstance(node, ast.Lambda) else []))
            stack.extend(reversed([d for d in node.args.defaults + node.args.kw_defaults if d is not None]))
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


@contextlib.contextmanager
def _chdir(path: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def _save_globals() -> dict[str, Any]:
    # Load the built-in config sections first: one first imported during a page would be dropped by
    # the restore, and later boots would refuse its key.
    importlib.import_module("mega.config.sections").registered()
    saved: dict[str, Any] = {}
    for module, attr in _GLOBALS:
        value = getattr(importlib.import_module(module), attr)
        saved[f"{module}:{attr}"] = value.copy() if isinstance(value, dict) else value
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        saved[f"logger:{name}"] = (list(logger.handlers), logger.level, logger.propagate, logger.disabled)
    return saved


def _restore_globals(saved: dict[str, Any]) -> None:
    for module, attr in _GLOBALS:
        value = saved[f"{module}:{attr}"]
        current = getattr(importlib.import_module(module), attr)
        if isinstance(current, dict):
            current.clear()
            current.update(value)
        else:
            setattr(importlib.import_module(module), attr, value)
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        handlers, level, propagate, disabled = saved[f"logger:{name}"]
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate, logger.disabled = propagate, disabled
