"""The mega variants: one base project (bench/http/project) and, per variant, what changes in it.

A variant is measured against `mega_10` (the base project as it is) in the same round; the writer
(`project.materialise`) applies the changes to a temp copy, so no variant has a project tree of its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

BASE = "mega_10"
BASE_FILLER_ROUTES = 8

# apps/bench/routes/main.py per handler style; "plain" is the base project's own file.
HANDLER_SOURCES = {
    "ctx_idle": '''\
"""Lazy-ctx evidence: handlers take (req, reply, ctx) and never touch reply or ctx."""


async def hello(req, reply, ctx):
    return {"hello": "world"}


async def user(req, reply, ctx):
    return {"id": req.params["id"]}


def routes(router):
    router.get("/", hello)
    router.get("/users/{id:int}", user)
''',
    "ctx_used": '''\
"""Lazy-ctx evidence: handlers touch ctx.log (builds the per-request child logger; nothing is
emitted) and set ctx.user."""


async def hello(req, reply, ctx):
    log = ctx.log
    ctx.user = {"id": 1}
    assert log is not None
    return {"hello": "world"}


async def user(req, reply, ctx):
    log = ctx.log
    ctx.user = {"id": 1}
    assert log is not None
    return {"id": req.params["id"]}


def routes(router):
    router.get("/", hello)
    router.get("/users/{id:int}", user)
''',
}
HANDLERS = ("plain", *HANDLER_SOURCES)
# "mega": `mega start` on uvicorn (or mega.server.run, see --launcher), and `granian ... mega.asgi:app` on
# granian; "stock_uvicorn": `uvicorn mega.asgi:app`; "uvicorn_http": `uvicorn mega.asgi:app --http
# mega.server:HardenedHttpProtocol` (uvicorn's CLI with mega's protocol class); "start_granian":
# `mega start --server granian`.
LAUNCHES = ("mega", "stock_uvicorn", "uvicorn_http", "start_granian")
START_GRANIAN = "mega_start_granian"  # measured on every shape, like mega_10


@dataclass(frozen=True)
class Variant:
    name: str
    note: str  # what the app is (results: meta.apps, meta.variants)
    shows: str = ""  # what its ratio to mega_10 shows (the variants table)
    filler_routes: int = BASE_FILLER_ROUTES
    handlers: str = "plain"
    project_config: Mapping[str, Any] = field(default_factory=dict)  # merged into mega_config.py
    app_config: Mapping[str, Any] = field(default_factory=dict)  # merged into apps/bench/app_config.py
    launch: str = "mega"
    servers: tuple[str, ...] = ("uvicorn", "granian")

    def __post_init__(self) -> None:
        if self.handlers not in HANDLERS:
            raise ValueError(f"variant {self.name}: handlers {self.handlers!r} is not one of {HANDLERS}")
        if self.launch not in LAUNCHES:
            raise ValueError(f"variant {self.name}: launch {self.launch!r} is not one of {LAUNCHES}")

    @property
    def access_log(self) -> bool:
        logger = self.project_config.get("logger", {})
        return isinstance(logger, Mapping) and bool(logger.get("access_log"))

    def changes(self) -> dict[str, Any]:
        """What this variant changes in the base project, for the results (empty for mega_10)."""
        out: dict[str, Any] = {}
        if self.filler_routes != BASE_FILLER_ROUTES:
            out["filler_routes"] = self.filler_routes
        if self.handlers != "plain":
            out["handlers"] = self.handlers
        if self.project_config:
            out["mega_config"] = dict(self.project_config)
        if self.app_config:
            out["app_config"] = dict(self.app_config)
        if self.launch != "mega":
            out["launch"] = self.launch
        return out


VARIANTS = (
    Variant(BASE, "mega defaults (secure headers, CSRF, rate limit counting), 2 routes + 8 filler routes"),
    Variant("mega_1000", "mega, 2 routes + 998 filler routes",
            "route count: 1000 routes ÷ 10 routes", filler_routes=998),
    Variant("mega_ctx_idle", "mega, handlers take (req, reply, ctx), never touch them",
            "lazy ctx: (req, reply, ctx) untouched ÷ default", handlers="ctx_idle"),
    Variant("mega_ctx_used", "mega, handlers read ctx.log and set ctx.user",
            "lazy ctx: ctx.log + ctx.user touched ÷ default", handlers="ctx_used"),
    Variant("mega_access_log", "mega_10 with logger.access_log = True",
            "access log on ÷ default (off)", project_config={"logger": {"access_log": True}}),
    Variant("mega_nosec", "mega_10 with helmet, CSRF and the rate limit off",
            "security defaults off ÷ on (headers, CSRF, rate limit)",
            app_config={"helmet": False, "csrf": False, "rate_limit": False}),
    Variant("mega_stock_uvicorn", "mega_10 via `uvicorn mega.asgi:app` (stock protocol, not mega's own)",
            "stock uvicorn protocol ÷ mega's own protocol", launch="stock_uvicorn", servers=("uvicorn",)),
    Variant("mega_uvicorn_http",
            "mega_10 via `uvicorn mega.asgi:app --http mega.server:HardenedHttpProtocol`",
            "uvicorn CLI + mega's protocol class ÷ mega start", launch="uvicorn_http", servers=("uvicorn",)),
    Variant(START_GRANIAN, "mega_10 via `mega start --server granian` (granian's embedded server over RSGI)",
            "mega start --server granian (RSGI) ÷ granian mega.asgi:app (ASGI)", launch="start_granian",
            servers=("granian",)),
)
BY_NAME = {v.name: v for v in VARIANTS}
