"""Web-layer benchmark, one run: a page rendered with a layout (page.py), a 4 KiB and a 1 MiB static
file (static.py) and a 50 MiB upload (upload.py), each against its peers in the same run. Writes
bench/results/web.json and prints the ratios against the targets of issue 11:

    page    mega ÷ Starlette + Jinja2Templates >= 1.3 (and mega ÷ a bare Jinja2 render, the ceiling)
    static  mega ÷ Starlette StaticFiles >= 1.0 and mega ÷ BlackSheep's static files >= 1.0, both files
    upload  peak RSS growth of the server < 20 MiB for a 50 MiB upload (and the throughput ÷ Starlette)

    .venv/bin/python bench/web/run.py            # 10 s per server and file, 2 rounds (ABBA)
    .venv/bin/python bench/web/run.py --quick    # smoke: short runs, 1 round, no quiet-machine wait

Needs the bench extra (`pip install -e ".[bench]"`) and wrk. Method: bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WEB = Path(__file__).resolve().parent
sys.path.insert(0, str(WEB))

import page  # noqa: E402  (bench/web/page.py; it puts bench/http's harness on the path)
import static  # noqa: E402
import upload  # noqa: E402
from harness.common import RESULTS, log  # noqa: E402
from harness.machine import snapshot_mega, take_lock  # noqa: E402

PAGE_TARGET = 1.3
STATIC_TARGET = 1.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=10.0, help="seconds per server (and per file)")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--quick", action="store_true", help="smoke: 2 s, 1 round, no quiet-machine wait")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    duration, rounds, warmup, quiet = ((2.0, 1, 1.0, 0.0) if args.quick else
                                       (args.duration, args.rounds, 2.0, 600.0))
    workdir = Path(tempfile.mkdtemp(prefix="mega-bench-web-"))
    snapshot = snapshot_mega(workdir / "snapshot")
    log("== page: mega vs Starlette + Jinja2Templates vs a bare Jinja2 render")
    lock = take_lock()  # page.run_page takes none; static.run takes its own
    try:
        page_result = page.run_page(duration=duration, rounds=rounds, warmup=warmup, quiet_wait=quiet,
                                    retries=0 if args.quick else 5, workdir=workdir)
    finally:
        lock.close()
    log("== static: mega vs Starlette StaticFiles vs BlackSheep serve_files")
    static_result = static.run(duration, warmup, rounds, quiet_wait=min(quiet, 30.0))
    log("== upload: 50 MiB multipart, mega vs Starlette request.form()")
    upload_result = upload.run(size_mib=50, rounds=1 if args.quick else 3, peer=True)

    verdict = _verdict(page_result, static_result, upload_result)
    results: dict[str, Any] = {
        "meta": {"finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "duration_s": duration, "rounds": rounds,
                 "quick": args.quick, "mega_snapshot": snapshot},
        "verdict": verdict, "page": page_result, "static": static_result, "upload": upload_result}
    out = args.out or RESULTS / ("web-quick.json" if args.quick else "web.json")
    out.write_text(json.dumps(results, indent=1) + "\n")
    _print(verdict)
    for problem in [*page_result["problems"], *static_result["problems"]]:
        log(f"PROBLEM: {problem}")
    log(f"results: {out}")
    return 0 if all(v["met"] for v in verdict.values()) else 1


def _verdict(page_result: dict[str, Any], static_result: dict[str, Any],
             upload_result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target of the issue: the figure, the bar, met or not."""
    ratios = page_result["summary"]["ratios"]
    out: dict[str, dict[str, Any]] = {
        "page mega/starlette": _bar(ratios.get("mega/starlette"), PAGE_TARGET),
        "page mega/raw_jinja (ceiling)": {"value": ratios.get("mega/raw_jinja"), "target": None, "met": True},
    }
    for file, by_peer in static_result["ratios"].items():
        for peer, value in by_peer.items():
            out[f"static {file} mega/{peer}"] = _bar(value, STATIC_TARGET)
    mega = upload_result["variants"]["mega"]
    out["upload 50 MiB rss growth MiB"] = {"value": mega["rss_growth_mib"],
                                           "target": f"< {upload.RSS_TARGET_MIB}",
                                           "met": bool(upload_result["rss_ok"])}
    out["upload throughput mega/starlette"] = {"value": upload_result.get("mega_vs_starlette_throughput"),
                                               "target": None, "met": True}
    return out


def _bar(value: float | None, target: float) -> dict[str, Any]:
    return {"value": value, "target": f">= {target}", "met": value is not None and value >= target}


def _print(verdict: dict[str, dict[str, Any]]) -> None:
    log("")
    for name, v in verdict.items():
        value = "-" if v["value"] is None else f"{v['value']:.2f}"
        target = v["target"] or "(reported)"
        log(f"{name:36} {value:>8}   target {target:10} {'ok' if v['met'] else 'MISSED'}")


if __name__ == "__main__":
    sys.exit(main())
