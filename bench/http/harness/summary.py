"""Medians over rounds, same-round ratios, and the tables printed at the end of a run."""

from __future__ import annotations

import statistics
from typing import Any

from .apps import FRAMEWORKS, PEERS, VARIANT_APPS, App
from .common import log
from .shapes import SHAPES, VARIANT_SHAPES
from .variants import BASE, BY_NAME, START_GRANIAN

# mega's deployments, by what a user runs: `mega start` (uvicorn and mega's protocol), `mega start
# --server granian`, and `granian mega.asgi:app`.
MEGA_DEPLOYMENTS = {"mega_start": ("uvicorn", BASE), "mega_start_gr": ("granian", START_GRANIAN),
                    "mega_granian": ("granian", BASE)}
CEILING = ("granian", "raw")


def median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _app_summary(valid: list[dict[str, Any]], server: str, app: str) -> dict[str, Any]:
    out = {}
    for shape in SHAPES:
        ep = shape.name
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


def paired_between(valid: list[dict[str, Any]], num: tuple[str, str], den: tuple[str, str],
                   ep: str) -> dict[str, Any] | None:
    """Median over rounds of num/den (each a (server, app) deployment) measured in the same round."""
    by_round: dict[int, dict[tuple[str, str], float]] = {}
    for r in valid:
        key = (r["server"], r["app"])
        if r["endpoint"] == ep and key in (num, den):
            by_round.setdefault(r["round"], {})[key] = r["rps"]
    per = [v[num] / v[den] for v in by_round.values() if num in v and den in v]
    if not per:
        return None
    return {"ratio": round(statistics.median(per), 4), "per_round": [round(x, 4) for x in per]}


def paired(valid: list[dict[str, Any]], server: str, num: str, den: str, ep: str) -> dict[str, Any] | None:
    """Median over rounds of num/den on one server, measured in the same round."""
    return paired_between(valid, (server, num), (server, den), ep)


def best_peer(valid: list[dict[str, Any]]) -> dict[str, Any]:
    """Per shape: the fastest framework deployment (peer x server, by median req/s), mega's deployments
    against it and against raw ASGI on granian (same-round ratios), and the p99 of each."""
    out: dict[str, Any] = {}
    for shape in SHAPES:
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in valid:
            if r["endpoint"] == shape.name:
                runs.setdefault((r["server"], r["app"]), []).append(r)

        def stats(key: tuple[str, str],
                  runs: dict[tuple[str, str], list[dict[str, Any]]] = runs) -> dict[str, Any]:
            got = runs[key]
            return {"deployment": f"{key[1]}@{key[0]}", "rps": median([r["rps"] for r in got]),
                    "p99_ms": median([r["p99_ms"] for r in got if r["p99_ms"] is not None])}

        peers = [k for k in runs if k[1] in FRAMEWORKS]
        if not peers:
            continue
        best = max(peers, key=lambda k: median([r["rps"] for r in runs[k]]) or 0.0)
        entry: dict[str, Any] = {"best_peer": stats(best)}
        if CEILING in runs:
            entry["raw_granian"] = stats(CEILING)
        for label, key in MEGA_DEPLOYMENTS.items():
            if key in runs:
                mega = stats(key)
                mega["over_best_peer"] = paired_between(valid, key, best, shape.name)
                mega["over_raw_granian"] = paired_between(valid, key, CEILING, shape.name)
                p99, peer_p99 = mega["p99_ms"], entry["best_peer"]["p99_ms"]
                mega["p99_not_worse"] = None if p99 is None or peer_p99 is None else p99 <= peer_p99
                entry[label] = mega
        out[shape.name] = entry
    return out


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
                rt["mega_10_over"][peer] = {s.name: paired(valid, server, BASE, peer, s.name) for s in SHAPES}
        for var in VARIANT_APPS:
            if var in names:
                rt["variants_over_mega_10"][var] = {ep: paired(valid, server, var, BASE, ep)
                                                    for ep in VARIANT_SHAPES}
    return {"summary": summary, "ratios": ratios, "best_peer": best_peer(valid)}


def fmt_ratio(entry: dict[str, Any] | None) -> str:
    return f"{entry['ratio']:.3f}" if entry else "  -  "


def print_tables(report: dict[str, Any], servers: list[str], apps: list[App], rounds: int) -> None:
    summary, ratios = report["summary"], report["ratios"]
    for server in servers:
        s, rt = summary.get(server, {}), ratios.get(server, {})
        log("")
        log(f"=== {server} === req/s and p99: median of {rounds} round(s); "
            "ratios: median of per-round ratios")
        log(f"{'app':20} {'shape':13} {'req/s':>10} {'p99 ms':>8} {'srv µs/req':>10} {'mega_10 ÷ app':>14}")
        for app in apps:
            if server in app.servers and app.name in s:
                _print_app(s[app.name], rt, app)
        if rt.get("variants_over_mega_10"):
            log(f"--- {server}: mega variants ÷ mega_10 (same round) ---")
            for var, eps in rt["variants_over_mega_10"].items():
                log(f"{BY_NAME[var].shows:50} hello {fmt_ratio(eps['hello'])}   "
                    f"params {fmt_ratio(eps['params'])}")
    print_best_peer(report.get("best_peer") or {})


def print_best_peer(best: dict[str, Any]) -> None:
    if not best:
        return
    log("")
    log("=== mega against the best peer deployment per shape (targets: >= 1.15x the best peer, "
        ">= 0.90x raw@granian on hello, p99 not worse) ===")
    log(f"{'shape':13} {'mega':13} {'req/s':>9} {'p99 ms':>7}   {'best peer':20} {'req/s':>9} {'p99 ms':>7} "
        f"{'÷ best':>7} {'÷ raw@gr':>8}")
    for shape, entry in best.items():
        peer = entry["best_peer"]
        for label in MEGA_DEPLOYMENTS:
            mega = entry.get(label)
            if mega is None:
                continue
            p99 = f"{mega['p99_ms']:.2f}" if mega["p99_ms"] is not None else "-"
            peer_p99 = f"{peer['p99_ms']:.2f}" if peer["p99_ms"] is not None else "-"
            log(f"{shape:13} {label:13} {mega['rps']:>9,.0f} {p99:>7}   {peer['deployment']:20} "
                f"{peer['rps']:>9,.0f} {peer_p99:>7} {fmt_ratio(mega['over_best_peer']):>7} "
                f"{fmt_ratio(mega['over_raw_granian']):>8}")


def _print_app(entries: dict[str, Any], rt: dict[str, Any], app: App) -> None:
    name = app.name
    for ep in app.shape_names:
        e = entries.get(ep)
        if e is None:
            log(f"{name:20} {ep:13} {'(no valid run)':>10}")
            continue
        ratio = ""
        if name in rt["mega_10_over"]:
            ratio = fmt_ratio(rt["mega_10_over"][name].get(ep))
        elif name == BASE:
            ratio = "1.000"
        cpu = e["server_cpu_us_per_req_median"]
        log(f"{name:20} {ep:13} {e['rps_median']:>10,.0f} {e['p99_ms_median']:>8.2f} "
            f"{(f'{cpu:.1f}' if cpu else '-'):>10} {ratio:>14}")
