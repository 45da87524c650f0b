"""Lock and bus benchmarks in one run: one table, and bench/results/lockbus.json.

    .venv/bin/python bench/lockbus/run.py [--n 10000] [--duration 5] [--only bus,lock,cluster]

The lock bench (`lock_bench.run(duration)`) runs when its module is present; `cluster`
(`cluster_bench.run(duration)`) compares the cluster lock and bus with memory, redis
and nats. Each bench returns a dict;
`variants` (name → figures) become table rows, other scalar keys are listed under the bench's name.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "results" / "lockbus.json"


def _load(name: str) -> Any:
    path = HERE / f"{name}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"lockbus_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(bench: str, result: dict[str, Any]) -> list[list[str]]:
    rows = []
    for variant, figures in (result.get("variants") or {}).items():
        if isinstance(figures, dict):
            shown = ", ".join(f"{k} {v}" for k, v in figures.items())
        else:
            shown = str(figures)
        rows.append([bench, str(variant), shown])
    for key, value in result.items():
        if key != "variants" and isinstance(value, str | int | float | bool):
            rows.append([bench, key, str(value)])
    return rows


def _table(rows: list[list[str]]) -> str:
    head = ["bench", "case", "figures"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(3)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(out)


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="bus: requests per variant")
    parser.add_argument("--duration", type=float, default=5.0, help="lock: seconds per case")
    parser.add_argument("--only", default="lock,bus,cluster")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    wanted = set(args.only.split(","))
    results: dict[str, Any] = {}
    if "lock" in wanted:
        lock = _load("lock_bench")
        if lock is None:
            print("lock: bench/lockbus/lock_bench.py is not there yet, skipped", file=sys.stderr)
        else:
            results["lock"] = lock.run(args.duration)
    if "bus" in wanted:
        results["bus"] = _load("bus_bench").run(args.n)
    if "cluster" in wanted:
        results["cluster"] = _load("cluster_bench").run(args.duration)
    rows = [row for name, result in results.items() for row in _rows(name, result)]
    print(_table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "python": platform.python_version(),
            "machine": platform.machine(), "argv": sys.argv[1:], "commit": _commit()}
    args.out.write_text(json.dumps({"meta": meta, **results}, indent=2) + "\n")
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
