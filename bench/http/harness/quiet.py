"""The shared machine: wait for quiet cores before a measurement, and flag a measurement that other
processes disturbed."""

from __future__ import annotations

import os
import time
from typing import Any

from .common import cmd_out, log
from .cpu import core_ticks


def core_busy(seconds: float) -> dict[str, float]:
    """Busy fraction of each core over `seconds` (the server is idle when this is called)."""
    a = core_ticks()
    time.sleep(seconds)
    b = core_ticks()
    return {c: (b[c][0] - a[c][0]) / max(1, b[c][1] - a[c][1]) for c in ("cpu0", "cpu1")}


def wait_quiet(max_wait: float, threshold: float, ours: int, quiet_for: int = 3) -> dict[str, Any]:
    """Wait until both cores have been idle for `quiet_for` seconds in a row (other people's jobs
    share this machine); never fails: after `max_wait` it measures anyway, and says so."""
    start = time.monotonic()
    said = False
    streak = 0
    while True:
        busy = core_busy(1.0)
        waited = time.monotonic() - start
        streak = streak + 1 if max(busy.values()) <= threshold else 0
        if streak >= quiet_for:
            return {"quiet": True, "waited_s": round(waited, 1), "idle_busy": busy}
        if waited >= max_wait:
            log(f"    machine still busy after {waited:.0f}s (core0 {busy['cpu0']:.0%}, core1 "
                f"{busy['cpu1']:.0%}): measuring anyway")
            return {"quiet": False, "waited_s": round(waited, 1), "idle_busy": busy}
        if not said and streak == 0:
            log(f"    waiting for a quiet machine: core0 {busy['cpu0']:.0%}, core1 {busy['cpu1']:.0%} busy "
                f"with the server idle ({top_other(ours)})")
            said = True


def top_other(ours: int) -> str:
    """The busiest process that is not ours, for the log line (evidence of who shares the machine)."""
    out = cmd_out(["ps", "-eo", "pid,pgid,pcpu,psr,args", "--sort=-pcpu", "--no-headers"])
    for line in out.splitlines():
        parts = line.split(None, 4)
        if len(parts) == 5 and int(parts[0]) != os.getpid() and int(parts[1]) != ours \
                and "ps -eo" not in parts[4]:
            return f"top: pid {parts[0]} {parts[2]}% on cpu{parts[3]}: {parts[4][:70]}"
    return "top: ?"


def interference(r: dict[str, Any], threshold: float) -> list[str]:
    """Why a measurement is noise: a share of a core above `threshold` went to other processes."""
    out = []
    if r["core0_other"] is not None and r["core0_other"] > threshold:
        out.append(f"{r['core0_other']:.0%} of the server core went to other processes")
    if r["core1_other"] is not None and r["core1_other"] > threshold:
        out.append(f"{r['core1_other']:.0%} of the wrk core went to other processes")
    return out
