"""Run wrk against one endpoint and read its output, with the CPU time spent on each core."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import time
from typing import Any

from .common import HOST, WRK_CONNECTIONS, WRK_CPU, WRK_THREADS, BenchError, pin
from .cpu import CLK_TCK, children_cpu, core_ticks, group_ticks

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise BenchError(f"cannot parse latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> dict[str, Any]:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    if not rps:
        raise BenchError(f"no Requests/sec in wrk output:\n{out}")
    res: dict[str, Any] = {"rps": float(rps.group(1))}
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        res[f"p{pct}_ms"] = _ms(m.group(1)) if m else None
    m = re.search(r"^\s+(\d+) requests in ([\d.]+)(\w+)", out, re.M)
    res["requests"] = int(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    counts = map(int, m.groups()) if m else (0, 0, 0, 0)
    res["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"), counts, strict=True))
    return res


def run_wrk(port: int, path: str, seconds: float, script: str | None = None) -> str:
    """wrk on `path`; `script` (Lua) sets the method, body and headers of a request other than a GET."""
    cmd = [*pin(WRK_CPU), "wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}",
           f"-d{max(1, round(seconds))}s", "--latency"]  # wrk takes whole seconds
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(script or "")
    try:
        if script:
            cmd += ["-s", fh.name]
        cmd.append(f"http://{HOST}:{port}{path}")
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    finally:
        os.unlink(fh.name)
    if out.returncode != 0:
        raise BenchError(f"wrk failed ({out.returncode}): {out.stderr.strip()}")
    return out.stdout


def measure(port: int, pgid: int, path: str, seconds: float, script: str | None = None) -> dict[str, Any]:
    """One wrk run against the server whose process group is `pgid`, with where the CPU time went."""
    cores0, ticks0, wrk0, t0 = core_ticks(), group_ticks(pgid), children_cpu(), time.monotonic()
    out = run_wrk(port, path, seconds, script)
    cores1, ticks1, wrk1, t1 = core_ticks(), group_ticks(pgid), children_cpu(), time.monotonic()
    res = parse_wrk(out)
    srv_ticks = ticks1 - ticks0
    c0b, c0t = (cores1["cpu0"][i] - cores0["cpu0"][i] for i in (0, 1))
    c1b, c1t = (cores1["cpu1"][i] - cores0["cpu1"][i] for i in (0, 1))
    res["server_cpu_s"] = srv_ticks / CLK_TCK
    res["server_cpu_us_per_req"] = (srv_ticks / CLK_TCK * 1e6 / res["requests"]) if res["requests"] else None
    res["core0_busy"] = round(c0b / c0t, 3) if c0t else None
    # time on the server core that was not the server's: other processes (noise) + kernel softirq
    res["core0_other"] = round(max(0, c0b - srv_ticks) / c0t, 3) if c0t else None
    res["core1_busy"] = round(c1b / c1t, 3) if c1t else None
    res["wrk_cpu_s"] = round(wrk1 - wrk0, 3)
    # time on the wrk core that was not wrk's (other processes, plus any softirq not charged to wrk)
    res["core1_other"] = round(max(0.0, c1b / CLK_TCK - (wrk1 - wrk0)) / (c1t / CLK_TCK), 3) if c1t else None
    res["core0_steal"] = round((cores1["cpu0"][2] - cores0["cpu0"][2]) / c0t, 3) if c0t else None
    res["wall_s"] = round(t1 - t0, 2)
    res["wrk_output"] = out
    return res
