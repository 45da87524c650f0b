"""One app's templates: a Jinja2 environment built at boot over `apps/<name>/views/`.

Every template is compiled once, at boot (a broken one is logged there, and answers 500 when
rendered). Without auto-reload the compiled templates are kept in a dict: rendering never looks at
the disk. With it (development, by default) Jinja re-reads a template whose file changed.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mega.errors import MegaError
from mega.http.response import HTMLResponse
from mega.sessions.flash import view_flashes
from mega.views._settings import ViewsSettings

if TYPE_CHECKING:
    from jinja2 import Environment, Template

    from mega.app.ctx import Ctx

__all__ = ["Views", "load_views", "no_views", "template_helpers"]


def template_helpers(ctx: Ctx) -> dict[str, Any]:
    """The names every template sees beside its data, one line each: a new helper is added here."""
    return {
        "ctx": ctx,
        "request": ctx.req,
        "t": ctx.t,
        "csrf_token": ctx.csrf_token,
        "url_for": ctx.url_for,
        "static_url": ctx.static_url,
        "flashes": lambda: view_flashes(ctx),
    }


class Views:
    """Renders an app's templates by name (`users/show.html`, relative to the views folder)."""

    __slots__ = ("_compiled", "_env", "_folder", "_label", "_names", "_reload", "app", "layout")

    def __init__(self, folder: Path, settings: ViewsSettings, *, app: str, label: str, reload: bool,
                 log: logging.Logger) -> None:
        self.app = app
        self.layout = settings.layout
        self._folder = folder = folder.resolve()  # Jinja names template frames by this path: see _where
        self._label = label  # the folder as messages show it: apps/<name>/views
        self._reload = reload
        self._env: Environment | None = None
        self._compiled: dict[str, Template] = {}
        self._names: frozenset[str] = frozenset()
        if not any(p.is_file() and not p.name.startswith(".") for p in folder.rglob("*")):
            return  # an empty views folder (a new project's .gitkeep) imports Jinja on its first render only
        from jinja2 import TemplateSyntaxError

        env = self._environment()
        self._names = frozenset(env.list_templates())
        for name in sorted(self._names):
            try:
                self._compiled[name] = env.get_template(name)
            except TemplateSyntaxError as exc:  # rendering it answers 500 with the same place
                log.error("template %s has an error at line %s: %s", self._file(exc.name or name),
                          exc.lineno, exc.message)
            except UnicodeDecodeError as exc:
                log.error("template %s is not UTF-8: %s", self._file(name), exc)

    def _environment(self) -> Environment:
        env = self._env
        if env is None:
            from jinja2 import Environment, FileSystemLoader

            env = self._env = Environment(loader=FileSystemLoader(self._folder), autoescape=True,
                                          auto_reload=self._reload, cache_size=-1)
        return env

    def has(self, name: str) -> bool:
        """Whether template `name` exists (looked up on disk only when reloading)."""
        if self._reload:
            return (self._folder / name).is_file()
        return name in self._names

    def response(self, ctx: Ctx, view: str, data: Mapping[str, Any] | None, *, status: int | None,
                 headers: dict[str, str] | None, layout: str | None) -> HTMLResponse:
        """What `ctx.render` returns: the view rendered with the helpers, `layout` and `data`."""
        if status is None:
            status = ctx.reply.status_code if ctx.reply is not None else 200
        elif not isinstance(status, int) or not 100 <= status <= 599:
            raise MegaError("response.invalid_status", f"status must be an integer 100-599, got {status!r}")
        context = template_helpers(ctx)
        context["layout"] = layout or self.layout
        if data:
            context.update(data)
        return HTMLResponse(self.render(view, context), status, headers)

    def render(self, name: str, context: dict[str, Any]) -> str:
        """Template `name` rendered with `context`; any failure is `view.render_failed`."""
        try:
            template = self._environment().get_template(name) if self._reload else self._compiled.get(name)
            if template is None:
                template = self._environment().get_template(name)  # raises: missing, or broken at boot
            return template.render(context)
        except MegaError as exc:
            if exc.code.startswith("view."):
                raise
            raise self._failed(name, exc, keep_code=True) from exc  # a helper's own error (flash.not_loaded)
        except Exception as exc:
            raise self._failed(name, exc) from exc

    def _failed(self, name: str, exc: Exception, *, keep_code: bool = False) -> MegaError:
        from jinja2 import TemplateNotFound

        file, line = self._where(exc)
        if isinstance(exc, TemplateNotFound):  # Jinja's message lists absolute search paths
            problem = f"template {self._label}/{exc.name} does not exist"
        else:
            problem = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
        at = f" at {file}:{line}" if file is not None and line is not None else \
            (f" in {file}" if file is not None else "")
        details: dict[str, Any] = {"view": name, "file": file, "line": line, "error": problem}
        if keep_code and isinstance(exc, MegaError):
            return MegaError(exc.code, f"view {name!r} of app '{self.app}'{at}: {exc.message}",
                             details=details, status=exc.status, hint=exc.hint)
        return MegaError("view.render_failed", f"view {name!r} of app '{self.app}' failed{at}: {problem}",
                         details=details,
                         hint=f"templates live in {self._label}/; fix the template at that line"
                         if file is not None else f"add {self._label}/{name} or fix the name")

    def _where(self, exc: Exception) -> tuple[str | None, int | None]:
        """The template file and line an error comes from (Jinja maps its frames to template lines)."""
        from jinja2 import TemplateSyntaxError

        if isinstance(exc, TemplateSyntaxError) and exc.name is not None:
            return self._file(exc.name), exc.lineno
        folder = str(self._folder) + os.sep
        found: tuple[str | None, int | None] = (None, None)
        for frame, line in traceback.walk_tb(exc.__traceback__):
            path = frame.f_code.co_filename
            if path.startswith(folder):  # a template's frame: the innermost one wins
                found = (self._file(Path(path[len(folder):]).as_posix()), line)
        return found

    def _file(self, name: str) -> str:
        return f"{self._label}/{name}"


def load_views(directory: Path | None, settings: ViewsSettings, *, app: str, env: str,
               log: logging.Logger) -> Views | None:
    """The app's Views, or None when it has no views folder."""
    if directory is None:
        return None
    folder = directory / settings.folder
    if not folder.is_dir():
        return None
    label = f"apps/{app}/{settings.folder}" if directory.parent.name == "apps" else str(folder)
    return Views(folder, settings, app=app, label=label, reload=settings.reloads(env), log=log)


def no_views(app: str, directory: Path | None, settings: ViewsSettings) -> MegaError:
    """`ctx.render` in an app without a views folder."""
    where = f"apps/{app}/{settings.folder}/" if directory is None or directory.parent.name == "apps" \
        else f"{directory / settings.folder}/"
    return MegaError("view.render_failed", f"app '{app}' has no views folder ({where})",
                     details={"view": None, "file": None, "line": None}, hint=f"create {where} with the "
                     "templates ctx.render names")
