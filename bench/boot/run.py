"""Boot benchmark: how long a process takes from its start to useful work, for a new project (written
by `mega new` in a temp directory) and for samples/simple (a temp copy):

    routes   `mega routes` from spawn to exit
    start    `mega start` from spawn to the first 200 answer (polled every 5 ms on a free port)

Median of --runs runs each (default 10), after one warm-up run that also writes the bytecode caches
(PYTHONDONTWRITEBYTECODE is removed from the children's environment: a user's installed mega has its
.pyc files, and compiling mega's sources on every start would measure the compiler). Prints the
import-time top ten of `mega routes` on the new project (`python -X importtime`), checks which
drivers a project without a database imported, and writes bench/results/boot.json
(--quick: boot-quick.json). Target: every median <= 0.4 s.

    .venv/bin/python bench/boot/run.py                 # 10 runs per measurement
    .venv/bin/python bench/boot/run.py --quick         # smoke: 2 runs each
    .venv/bin/python bench/boot/run.py --ref main      # the same on another commit's src/mega (before/after)

Timings are wall-clock (the target's measure) with the CPU seconds of the process beside them: on a busy
machine the wall clock is indicative only (the results record the load average), the CPU time much less
sensitive to other jobs.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "bench" / "results"
BIN = Path(sys.executable).parent
TARGET_S = 0.4
DRIVERS = ("sqlalchemy", "alembic", "redis", "nats", "asyncpg", "aiomysql", "aiosqlite", "cryptography",
           "argon2", "babel", "pydantic")
ROUTES_SCRIPT = "import sys; sys.argv = ['mega', 'routes']; from mega.cli.main import main; main()"


def log(msg: str) -> None:
    print(msg, flush=True)


def mega_tree(ref: str | None, workdir: Path) -> Path:
    """A copy of src/mega (as it is now, or at git `ref`) the children import first (PYTHONPATH)."""
    dest = workdir / "src"
    dest.mkdir(parents=True)
    if ref is None:
        shutil.copytree(REPO / "src" / "mega", dest / "mega",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return dest
    archive = subprocess.run(["git", "archive", "--format=tar", ref, "src/mega"], cwd=REPO,
                             capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(workdir / "ref", filter="data")
    shutil.move(str(workdir / "ref" / "src" / "mega"), dest / "mega")
    return dest


def child_env(src: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("MEGA_") and k not in ("PYTHONDONTWRITEBYTECODE", "PORT")}
    env["PYTHONPATH"] = str(src)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _process_cpu(pid: int) -> float:
    """User + system seconds of a running process (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_routes(project: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one `mega routes`."""
    cpu0, started = _children_cpu(), time.perf_counter()
    out = subprocess.run([str(BIN / "mega"), "routes"], cwd=project, env=env, capture_output=True,
                         text=True, timeout=60)
    elapsed, cpu = time.perf_counter() - started, _children_cpu() - cpu0
    if out.returncode != 0:
        raise RuntimeError(f"mega routes failed in {project}:\n{out.stdout}{out.stderr}")
    return elapsed, cpu


def time_start(project: Path, env: dict[str, str], path: str, timeout: float = 30.0) -> tuple[float, float]:
    """Spawn `mega start` on a free port: (wall seconds until `path` first answers 200, CPU seconds the
    server process used until then)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}{path}"
    started = time.perf_counter()
    proc = subprocess.Popen([str(BIN / "mega"), "start", "--port", str(port)], cwd=project, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return time.perf_counter() - started, _process_cpu(proc.pid)
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                raise RuntimeError(f"mega start exited with {proc.returncode} in {project}:\n{err[-2000:]}")
            if time.perf_counter() - started > timeout:
                raise RuntimeError(f"mega start in {project}: no 200 on {path} within {timeout:.0f} s")
            time.sleep(0.005)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def import_top(project: Path, env: dict[str, str], n: int = 10) -> dict[str, Any]:
    """`mega routes` under -X importtime: the n costliest top-level packages (inclusive µs, each
    package's first import) and the drivers imported."""
    script = ROUTES_SCRIPT + "\nprint('\\nMODULES', ' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", script], cwd=project, env=env,
                         capture_output=True, text=True, timeout=60)
    packages: dict[str, int] = {}
    mega_self: dict[str, int] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        parts = line.split("|")
        self_us, cumulative, name = parts[0].split(":")[1], parts[1], parts[2].strip()
        top = name.split(".")[0]
        if top == "mega":
            mega_self[name] = int(self_us)
        elif "." not in name:
            packages[name] = packages.get(name, 0) + int(cumulative)
    modules = set()
    for line in out.stdout.splitlines():
        if line.startswith("MODULES "):
            modules = set(line.split()[1:])
    ranked = sorted(packages.items(), key=lambda kv: -kv[1])[:n]
    return {"top_packages_us": dict(ranked),
            "mega_own_us": sum(mega_self.values()),
            "mega_top_modules_self_us": dict(sorted(mega_self.items(), key=lambda kv: -kv[1])[:n]),
            "drivers_imported": sorted(d for d in DRIVERS if d in modules)}


def measure(name: str, project: Path, env: dict[str, str], path: str, runs: int) -> dict[str, Any]:
    time_routes(project, env)  # warm-up: bytecode caches, page cache
    time_start(project, env, path)
    routes = [time_routes(project, env) for _ in range(runs)]
    start = [time_start(project, env, path) for _ in range(runs)]

    def med(pairs: list[tuple[float, float]], i: int) -> float:
        return round(statistics.median(p[i] for p in pairs), 4)

    res = {"routes_s": med(routes, 0), "start_to_200_s": med(start, 0),
           "routes_cpu_s": med(routes, 1), "start_cpu_s": med(start, 1),
           "routes_runs": [round(p[0], 4) for p in routes], "start_runs": [round(p[0], 4) for p in start],
           "path": path}
    log(f"{name:14} mega routes {res['routes_s']:.3f} s (cpu {res['routes_cpu_s']:.3f})   start -> first 200 "
        f"{res['start_to_200_s']:.3f} s (cpu {res['start_cpu_s']:.3f})   (medians of {runs}; "
        f"target <= {TARGET_S} s)")
    return res


def new_project(workdir: Path, env: dict[str, str]) -> Path:
    out = subprocess.run([str(BIN / "mega"), "new", "demo"], cwd=workdir, env=env, capture_output=True,
                         text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"mega new failed:\n{out.stdout}{out.stderr}")
    return workdir / "demo"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=None, help="runs per measurement (default 10; --quick 2)")
    p.add_argument("--quick", action="store_true", help="smoke: 2 runs per measurement")
    p.add_argument("--ref", default=None, help="measure src/mega at this git ref instead of the working tree")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    runs = args.runs or (2 if args.quick else 10)
    out_path = args.out or RESULTS / ("boot-quick.json" if args.quick else "boot.json")
    workdir = Path(tempfile.mkdtemp(prefix="mega-bench-boot-"))
    try:
        src = mega_tree(args.ref, workdir)
        env = child_env(src)
        projects = {
            "new_project": (new_project(workdir, env), "/"),
            "samples_simple": (workdir / "simple", "/"),
        }
        shutil.copytree(REPO / "samples" / "simple", workdir / "simple",
                        ignore=shutil.ignore_patterns("__pycache__", "var", ".env"))
        log(f"mega from {args.ref or 'the working tree'}; {runs} run(s) per measurement; "
            f"load average {os.getloadavg()[0]:.2f}")
        results = {name: measure(name, proj, env, path, runs) for name, (proj, path) in projects.items()}
        top = import_top(projects["new_project"][0], env)
        log("")
        log("import-time top ten of `mega routes` on the new project (inclusive ms, first import):")
        for pkg, us in top["top_packages_us"].items():
            log(f"  {pkg:24} {us / 1000:7.1f} ms")
        log(f"  mega's own modules (self time) {top['mega_own_us'] / 1000:.1f} ms")
        log(f"drivers imported by a project without a database: {top['drivers_imported'] or 'none'}")
        verdict = all(r["routes_s"] <= TARGET_S and r["start_to_200_s"] <= TARGET_S for r in results.values())
        log(f"verdict: {'every median <= 0.4 s' if verdict else 'ABOVE 0.4 s somewhere'}")
        meta = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "ref": args.ref or "working tree",
                "commit": subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                                         text=True).stdout.strip(),
                "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
                "loadavg_at_start": os.getloadavg(), "runs": runs,
                "method": "wall clock from spawn; median of runs after one warm-up; .pyc caches written"}
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps({"meta": meta, "results": results, "imports": top,
                                        "target_s": TARGET_S, "meets_target": verdict}, indent=2) + "\n")
        log(f"results: {out_path}")
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
