"""Load an app's conventional folders: middlewares/, services/, routes/ (in that order)."""

from __future__ import annotations

import importlib
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from mega.app.app import MegaApp
from mega.errors import MegaError
from mega.http.router import Router

_loaded_root: Path | None = None


def use_project_root(root: Path) -> None:
    """Make `apps.<name>...` importable from `root`; forget modules of a previously loaded project."""
    global _loaded_root
    root = root.resolve()
    if _loaded_root is not None and _loaded_root != root:
        for name in [m for m in sys.modules if m == "apps" or m.startswith("apps.")]:
            del sys.modules[name]
    root_s = str(root)
    if root_s not in sys.path:
        sys.path.insert(0, root_s)
    importlib.invalidate_caches()
    _loaded_root = root


def forget_project_modules() -> None:
    """Drop the project's modules so the next boot re-imports them (tests, reload)."""
    global _loaded_root
    for name in [m for m in sys.modules if m == "apps" or m.startswith("apps.")]:
        del sys.modules[name]
    _loaded_root = None


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.py") if not p.name.startswith("_"))


def _import(app: MegaApp, kind: str, path: Path) -> ModuleType:
    module_name = f"apps.{app.name}.{kind}.{path.stem}"
    try:
        return importlib.import_module(module_name)
    except MegaError as exc:
        # Raised while the module ran (a decorator such as @on, a model field): name where.
        where = _where(exc, path)
        if where:
            exc.message = f"{where}: {exc.message}"
            exc.args = (exc.message,)
        raise
    except Exception as exc:
        raise MegaError("boot.import_failed", f"cannot import {_rel(path)}{_line(exc, path)}: "
                        f"{type(exc).__name__}: {exc}", cause=exc) from exc


def _line(exc: BaseException, path: Path) -> str:
    """', line N' of the deepest frame in `path`, then ' (in FILE, line N)' if a deeper frame is in
    another file of the project (a module `path` imports), else ''."""
    where = _where(exc, path)
    if not where:
        return ""
    mine = f", line {_last_line(exc, str(path))}" if _last_line(exc, str(path)) else ""
    return mine if where.startswith(f"{_rel(path)}, line ") else f"{mine} (in {where})"


def _where(exc: BaseException, path: Path) -> str:
    """'FILE, line N' of the deepest frame (or syntax error) in the project's apps/, else ''."""
    apps = str(path.parents[2])
    if isinstance(exc, SyntaxError) and exc.lineno and exc.filename and exc.filename.startswith(apps):
        return f"{_rel(Path(exc.filename))}, line {exc.lineno}"
    found = ""
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name.startswith(apps):
            found = f"{_rel(Path(name))}, line {tb.tb_lineno}"
        tb = tb.tb_next
    return found


def _last_line(exc: BaseException, filename: str) -> int | None:
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        return exc.lineno
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _camel(stem: str) -> str:
    return "".join(part.capitalize() for part in stem.split("_"))


def load_middlewares(app: MegaApp, app_dir: Path) -> None:
    for path in _files(app_dir / "middlewares"):
        module = _import(app, "middlewares", path)
        fn = getattr(module, path.stem, None) or getattr(module, "middleware", None)
        if not callable(fn):
            raise MegaError("middleware.invalid_file", f"{_rel(path)} must define a callable named "
                            f"'{path.stem}' or 'middleware'",
                            hint=f"async def {path.stem}(req, reply, ctx): ...")
        app.middlewares[path.stem] = fn


def load_services(app: MegaApp, app_dir: Path) -> None:
    for path in _files(app_dir / "services"):
        module = _import(app, "services", path)
        cls = _service_class(module, path)
        name = path.stem[: -len("_service")] if path.stem.endswith("_service") else path.stem
        app.services.add(name, cls, source=_rel(path))


def _service_class(module: ModuleType, path: Path) -> type:
    stem = path.stem
    for candidate in (_camel(stem), _camel(stem) + "Service"):
        cls = getattr(module, candidate, None)
        if inspect.isclass(cls):
            return cls
    own = [c for _, c in inspect.getmembers(module, inspect.isclass)
           if c.__module__ == module.__name__ and c.__name__.endswith("Service")]
    if len(own) == 1:
        return own[0]
    raise MegaError("service.invalid_file", f"{_rel(path)} must define class {_camel(stem)} (or exactly one "
                    "class whose name ends in 'Service')")


def load_routes(app: MegaApp, app_dir: Path) -> None:
    for path in _files(app_dir / "routes"):
        module = _import(app, "routes", path)
        declare: Any = getattr(module, "routes", None)
        if not callable(declare):
            raise MegaError("route.invalid_file", f"{_rel(path)} must define routes(router)",
                            hint="def routes(router):\n    router.get('/', handler)")
        rel = _rel(path)
        router = Router(source=rel)
        try:
            declare(router)
        except MegaError as exc:
            # Name the file and the line of the call (a message that names the file already gets the line).
            rest = exc.message[len(rel):] if exc.message.startswith(rel) else f": {exc.message}"
            exc.message = f"{rel}{_line(exc, path)}{rest}"
            exc.args = (exc.message,)
            raise
        except Exception as exc:
            raise MegaError("boot.routes_failed", f"routes() in {_rel(path)}{_line(exc, path)} raised "
                            f"{type(exc).__name__}: {exc}", cause=exc) from exc
        app.add_routes(router.routes)
        if router.ws_routes:
            app.add_ws_routes(router.ws_routes)


def load_app(app: MegaApp, app_dir: Path) -> None:
    load_middlewares(app, app_dir)
    load_services(app, app_dir)
    load_routes(app, app_dir)
