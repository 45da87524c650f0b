"""Medians over rounds, same-round ratios, and the tables printed at the end of a run."""

from __future__ import annotations

import statistics
from typing import Any

from .apps import ENDPOINTS, PEERS, VARIANT_APPS, App
from .common import log
from .variants import BASE, BY_NAME


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _app_summary(valid: list[dict[str, Any]], server: str, app: str) -> dict[str, Any]:
    out = {}
    for ep in ENDPOINTS:
        runs = [r for r in valid if r["server"] == server and r["app"] == app and r["endpoint"] == ep]
        if runs:
            out[ep] = {
                "rps_median": median([r["rps"] for r in runs]),
                "p99_ms_median": median([r["p99_ms"] for r in runs]),
                "server_cpu_us_per_req_median": median([r["server_cpu_us_per_req"] for r in runs
                                                        if r["server_cpu_us_per_req"]]),
                "rps_runs": [r["rps"] for r in runs],
                "rounds": [r["round"] for r in runs],
            }
    return out


def paired(valid: list[dict[str, Any]], server: str, num: str, den: str, ep: str) -> dict[str, Any] | None:
    """Median over rounds of num/den measured in the same round."""
    by_round: dict[int, dict[str, float]] = {}
    for r in valid:
        if r["server"] == server and r["endpoint"] == ep and r["app"] in (num, den):
            by_round.setdefault(r["round"], {})[r["app"]] = r["rps"]
    per = [v[num] / v[den] for v in by_round.values() if num in v and den in v]
    if not per:
        return None
    return {"ratio": round(statistics.median(per), 4), "per_round": [round(x, 4) for x in per]}


def summarise(runs: list[dict[str, Any]], servers: list[str], apps: list[App]) -> dict[str, Any]:
    valid = [r for r in runs if "invalid" not in r]
    names = [a.name for a in apps]
    summary: dict[str, Any] = {}
    ratios: dict[str, Any] = {}
    for server in servers:
        summary[server] = {}
        for name in names:
            if found := _app_summary(valid, server, name):
                summary[server][name] = found
        rt = ratios[server] = {"mega_10_over": {}, "variants_over_mega_10": {}}
        if BASE not in names:
            continue
        for peer in PEERS:
            if peer in names:
                rt["mega_10_over"][peer] = {ep: paired(valid, server, BASE, peer, ep) for ep in ENDPOINTS}
        for var in VARIANT_APPS:
            if var in names:
                rt["variants_over_mega_10"][var] = {ep: paired(valid, server, var, BASE, ep)
                                                    for ep in ENDPOINTS}
    return {"summary": summary, "ratios": ratios}


def fmt_ratio(entry: dict[str, Any] | None) -> str:
    return f"{entry['ratio']:.3f}" if entry else "  -  "


def print_tables(report: dict[str, Any], servers: list[str], apps: list[App], rounds: int) -> None:
    summary, ratios = report["summary"], report["ratios"]
    for server in servers:
        s, rt = summary.get(server, {}), ratios.get(server, {})
        log("")
        log(f"=== {server} === req/s and p99: median of {rounds} round(s); "
            "ratios: median of per-round ratios")
        log(f"{'app':20} {'endpoint':8} {'req/s':>10} {'p99 ms':>8} {'srv µs/req':>10} {'mega_10 ÷ app':>14}")
        for app in apps:
            if server in app.servers and app.name in s:
                _print_app(s[app.name], rt, app.name)
        if rt.get("variants_over_mega_10"):
            log(f"--- {server}: mega variants ÷ mega_10 (same round) ---")
            for var, eps in rt["variants_over_mega_10"].items():
                log(f"{BY_NAME[var].shows:50} hello {fmt_ratio(eps['hello'])}   "
                    f"params {fmt_ratio(eps['params'])}")


def _print_app(entries: dict[str, Any], rt: dict[str, Any], name: str) -> None:
    for ep in ENDPOINTS:
        e = entries.get(ep)
        if e is None:
            log(f"{name:20} {ep:8} {'(no valid run)':>10}")
            continue
        ratio = ""
        if name in rt["mega_10_over"]:
            ratio = fmt_ratio(rt["mega_10_over"][name][ep])
        elif name == BASE:
            ratio = "1.000"
        cpu = e["server_cpu_us_per_req_median"]
        log(f"{name:20} {ep:8} {e['rps_median']:>10,.0f} {e['p99_ms_median']:>8.2f} "
            f"{(f'{cpu:.1f}' if cpu else '-'):>10} {ratio:>14}")
