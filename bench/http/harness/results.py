"""The results file: meta (machine, method, commands, variants), then what the run measured."""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .apps import ENDPOINTS, App
from .common import REPO, SERVER_CPU, WRK_CONNECTIONS, WRK_CPU, WRK_THREADS, cmd_out
from .project import BASE_PROJECT
from .server import server_command
from .shapes import SHAPES

PACKAGES = ("mega", "uvicorn", "uvloop", "httptools", "granian", "blacksheep", "starlette", "fastapi",
            "litestar", "pydantic", "pydantic-core", "msgspec", "orjson")


@dataclass
class Results:
    meta: dict[str, Any]
    runs: list[dict[str, Any]] = field(default_factory=list)
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def write(self, path: Path, report: dict[str, Any]) -> None:
        out = {"meta": self.meta, **report, "problems": self.problems, "responses": self.responses,
               "runs": self.runs}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions: dict[str, str | None] = {}
    for pkg in PACKAGES:
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    dirty = cmd_out(["git", "status", "--porcelain", "--", "src"], cwd=REPO)
    return {
        "cpu_model": cpu,
        "cpu_count": os.cpu_count(),
        "hypervisor": "yes" if "hypervisor" in Path("/proc/cpuinfo").read_text() else "no",
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "packages": versions,
        "wrk": cmd_out(["wrk", "-v"]).splitlines()[0],
        "git_commit": cmd_out(["git", "rev-parse", "HEAD"], cwd=REPO),
        "git_src_dirty_files": len([ln for ln in dirty.splitlines() if ln.strip()]),
    }


def _relative(text: str, prefixes: dict[str, str]) -> str:
    for prefix, replacement in prefixes.items():
        text = text.replace(prefix, replacement)
    return text


def build_meta(args: argparse.Namespace, servers: list[str], apps: list[App], workdir: Path,
               variants: dict[str, Any]) -> dict[str, Any]:
    # Paths relative to the repository (results must not name the machine's checkout), and the run's
    # temp directory as <tmp>.
    rel = {str(workdir): "<tmp>", str(REPO) + "/": "", str(REPO): "."}
    commands = {}
    for server in servers:
        for app in apps:
            if server in app.servers:
                cmd, cwd, env = server_command(server, app, args.port, args.launcher, workdir / "projects")
                mega_env = {k: v for k, v in env.items() if k.startswith("MEGA_")}
                commands[f"{server}/{app.name}"] = {
                    "cmd": [_relative(c, rel) for c in cmd],
                    "cwd": _relative(str(cwd), rel),
                    "env": {k: _relative(v, rel) for k, v in mega_env.items()},
                }
    return {
        "machine": machine_info(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "method": {
            "server_cpu": SERVER_CPU, "wrk_cpu": WRK_CPU, "pinned": shutil.which("taskset") is not None,
            "wrk": f"-t{WRK_THREADS} -c{WRK_CONNECTIONS} --latency",
            "duration_s": args.duration, "warmup_s_per_endpoint": args.warmup, "rounds": args.rounds,
            "order": "per round, every server: round 1 forward (servers and apps), round 2 "
                     "reversed, ... (ABBA)",
            "stat": "req/s and p99: median over rounds; ratios: median over rounds of the same-round ratio",
            "endpoints": ENDPOINTS, "mega_launcher_uvicorn": args.launcher,
            "shapes": {s.name: {"method": s.method, "path": s.path, "status": s.status, "note": s.note,
                                "body_bytes": len(s.body or b"")} for s in SHAPES},
            "quick": args.quick, "noise_threshold": args.noise, "quiet_wait_s": args.quiet_wait,
            "retries": args.retries,
        },
        "apps": {a.name: {"note": a.note, "servers": list(a.servers), "shapes": list(a.shape_names)}
                 for a in apps},
        "base_project": _relative(str(BASE_PROJECT), rel),
        "variants": variants,
        "commands": commands,
    }
