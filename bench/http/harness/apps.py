"""Every app the benchmark runs, in run order: the peers (modules in bench/http/peers) and the mega
variants (bench/http/harness/variants.py), with the bodies each must answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .shapes import SHAPES, VARIANT_SHAPES, Shape
from .variants import BASE, START_GRANIAN, VARIANTS, Variant

ENDPOINTS = {s.name: s.path for s in SHAPES}
PEER_BODIES = {s.name: s.answer for s in SHAPES if s.answer is not None}
MEGA_BODIES = {k: {"ok": True, "data": v} for k, v in PEER_BODIES.items()}
ALL_SHAPES = tuple(s.name for s in SHAPES)


@dataclass(frozen=True)
class App:
    name: str
    # "peer": a module in peers/; "peer_megaproto": the same on mega's uvicorn protocol;
    # "mega": a variant of the base project, written to a temp directory at run time
    kind: str
    note: str
    target: str = ""  # the peer's module
    servers: tuple[str, ...] = ("uvicorn", "granian")
    variant: Variant | None = None
    interface: str = "asgi"  # granian's --interface for a peer ("rsgi": bench/http/peers/raw_rsgi.py)
    shape_names: tuple[str, ...] = ALL_SHAPES  # the route shapes it is measured on

    @property
    def shapes(self) -> list[Shape]:
        return [s for s in SHAPES if s.name in self.shape_names]

    @property
    def bodies(self) -> dict[str, Any]:
        return MEGA_BODIES if self.variant is not None else PEER_BODIES

    @property
    def access_log(self) -> bool:
        return self.variant is not None and self.variant.access_log


def _mega(variant: Variant) -> App:
    shapes = ALL_SHAPES if variant.name in (BASE, START_GRANIAN) else VARIANT_SHAPES
    return App(variant.name, "mega", variant.note, servers=variant.servers, variant=variant,
               shape_names=shapes)


PEER_APPS = [
    App("raw", "peer", "raw ASGI, precomputed body + content-type/length (ceiling)", "raw_asgi"),
    App("raw_megaproto", "peer_megaproto", "raw ASGI on mega's own uvicorn protocol, one precomputed "
        "header block (ceiling of `mega start`)", "raw_asgi_megaproto", servers=("uvicorn",),
        shape_names=VARIANT_SHAPES),
    App("raw_rsgi", "peer", "hello-JSON as a native RSGI app on granian (ceiling of an RSGI adapter)",
        "raw_rsgi", servers=("granian",), interface="rsgi", shape_names=("hello",)),
    App("raw_rsgi_shim", "peer", "raw ASGI behind an RSGI -> ASGI adapter written in Python (what an "
        "ASGI-shaped pipeline pays on RSGI)", "raw_rsgi", servers=("granian",), interface="rsgi",
        shape_names=("hello",)),
    App("blacksheep", "peer", "BlackSheep, json() with orjson via json_settings", "blacksheep_app"),
    App("starlette", "peer", "Starlette, JSONResponse subclass rendering with orjson", "starlette_app"),
    App("fastapi", "peer", "FastAPI, return annotation -> pydantic-core dump_json", "fastapi_app"),
    App("litestar", "peer", "Litestar, msgspec (built-in default)", "litestar_app"),
]
PEERS = [a.name for a in PEER_APPS]  # mega_10 ÷ each of these
# the peers whose best deployment (framework x server) mega must beat, per shape
FRAMEWORKS = ("blacksheep", "starlette", "fastapi", "litestar")
_MEGA = [_mega(v) for v in VARIANTS]

# Order matters: raw and mega_10 are adjacent; round 2 runs the list backwards.
ALL_APPS = [PEER_APPS[0], _MEGA[0], *PEER_APPS[1:], *_MEGA[1:]]
VARIANT_APPS = [a.name for a in _MEGA if a.name != BASE]  # each ÷ mega_10
