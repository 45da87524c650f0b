"""Find the project's models: import `apps/<app>/models/*.py` and collect the Model subclasses."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterable, Mapping
from pathlib import Path

from mega.boot._loader import use_project_root
from mega.data.model import Model
from mega.errors import MegaError

APPS_DIR = "apps"


def app_dirs(root: Path, names: Iterable[str] | None = None) -> dict[str, Path]:
    """App name -> folder: the given names, else every folder under apps/ (not `.x` or `_x`)."""
    base = Path(root) / APPS_DIR
    if names is None:
        names = sorted(p.name for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))) \
            if base.is_dir() else []
    return {name: base / name for name in names}


def scan_models(root: Path, apps: Mapping[str, Path] | None = None) -> list[type[Model]]:
    """Every concrete model declared in the apps' models/ folders, in app then file order.

    Two models on one table fail with `model.invalid` naming both.
    """
    use_project_root(Path(root))
    found: list[type[Model]] = []
    for app, folder in (apps if apps is not None else app_dirs(root)).items():
        for path in sorted((folder / "models").glob("*.py")):
            if path.name.startswith("_"):
                continue
            module = _load(f"{APPS_DIR}.{app}.models.{path.stem}", path)
            for value in vars(module).values():
                if (isinstance(value, type) and issubclass(value, Model) and value is not Model
                        and not value.__dict__.get("__abstract__", False)
                        and value.__module__ == module.__name__ and value not in found):
                    found.append(value)
    _check_tables(found)
    return found


def _check_tables(models: list[type[Model]]) -> None:
    owners: dict[str, type[Model]] = {}
    problems = []
    for model in models:
        table = model.spec().table
        first = owners.setdefault(table, model)
        if first is not model:
            problems.append(f"{_label(model)}: table '{table}' is already the table of {_label(first)}")
    if problems:
        raise MegaError("model.invalid", "invalid models:\n  " + "\n  ".join(problems),
                        details={"problems": [{"reason": p} for p in problems]},
                        hint="give one of them another Meta.table")


def _label(model: type[Model]) -> str:
    return f"{model.__module__}.{model.__name__}"


def _load(name: str, path: Path) -> types.ModuleType:
    """Import the model file from its source: a model edited since the last import must be seen."""
    module = sys.modules.get(name)
    if module is not None:
        seen = getattr(module, "__mega_scan_source__", None)
        if seen is None or seen == _source(path):  # imported by other code, or unchanged: keep its classes
            return module
    parent = name.rpartition(".")[0]
    importlib.import_module(parent)  # apps.<app>.models, a package or a namespace package
    try:
        source = _source(path)
        code = compile(source, str(path), "exec")
        module = types.ModuleType(name)
        module.__file__ = str(path)
        module.__package__ = parent
        sys.modules[name] = module
        exec(code, module.__dict__)
        module.__dict__["__mega_scan_source__"] = source
    except MegaError:
        sys.modules.pop(name, None)
        raise
    except Exception as exc:
        sys.modules.pop(name, None)
        raise MegaError("boot.import_failed", f"cannot import {path}: {type(exc).__name__}: {exc}",
                        cause=exc) from exc
    return module


def _source(path: Path) -> str:
    return path.read_text(encoding="utf-8")
