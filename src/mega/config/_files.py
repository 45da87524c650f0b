"""Run a config file (plain Python) and take its `config` dict, reporting failures instead of raising."""

from __future__ import annotations

import importlib.util
import sys
import traceback
import uuid
from pathlib import Path
from typing import Any

from mega.config._specs import Context


def read_config_file(path: Path, ctx: Context) -> dict[Any, Any] | None:
    """The file's `config` dict, or None after reporting why there is none."""
    namespace = _execute(path, ctx)
    if namespace is None:
        return None
    if "config" not in namespace:
        ctx.report(
            "config.invalid_type",
            "",
            f"{ctx.file} defines no `config`; it must define a dict named `config`",
            "add `config = {...}` at the top level of the file",
        )
        return None
    config = namespace["config"]
    if not isinstance(config, dict):
        ctx.report(
            "config.invalid_type",
            "",
            f"{ctx.file}: `config` must be a dict, got {config!r} ({type(config).__name__})",
            "write `config = {...}`",
        )
        return None
    return config


def _execute(path: Path, ctx: Context) -> dict[str, Any] | None:
    # A unique name so two projects (or two loads of one) never share a module object.
    name = f"_mega_config_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None:
        _report_failure(ctx, path, OSError(f"cannot load {path}"))
        return None
    module = importlib.util.module_from_spec(spec)
    try:
        # Compiled from source every time: no .pyc in the project, and an edit is always seen
        # (a .pyc is keyed on mtime in whole seconds, which fast edits in watch mode can defeat).
        code = compile(path.read_bytes(), str(path), "exec", dont_inherit=True)
        # Registered only while it runs: dataclasses and typing look their module up by name.
        sys.modules[name] = module
        exec(code, module.__dict__)
    except Exception as exc:
        _report_failure(ctx, path, exc)
        return None
    finally:
        sys.modules.pop(name, None)
    return module.__dict__


def _report_failure(ctx: Context, path: Path, exc: Exception) -> None:
    line = _line_of(exc, path)
    where = f"{ctx.file}, line {line}" if line else ctx.file
    detail = exc.msg if isinstance(exc, SyntaxError) else str(exc)
    detail = " ".join(detail.split())  # one line per problem, whatever the exception says
    message = f"could not load {where}: {type(exc).__name__}" + (f": {detail}" if detail else "")
    ctx.report(
        "config.load_failed",
        "",
        message,
        f"fix {ctx.file}: it is plain Python run at boot and must define a dict named `config`",
    )


def _line_of(exc: Exception, path: Path) -> int | None:
    """The line in the config file itself (not in a module it imported) where the error arose."""
    if isinstance(exc, SyntaxError) and exc.filename == str(path):
        return exc.lineno
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == str(path)]
    return frames[-1].lineno if frames else None
