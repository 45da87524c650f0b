"""Upload bench: one multipart upload of SIZE MiB to a real server that stores the file, measuring the
server process's peak RSS growth (the target: < 20 MiB for 50 MiB, so the file is streamed, never
held) and the throughput; the same upload to Starlette's `request.form()` for a side-by-side ratio.

    .venv/bin/python bench/web/upload.py [--size 50] [--rounds 3] [--no-peer]

`run(size_mib=50, rounds=3, peer=True) -> dict` is what bench/web/run.py calls.

Method: each server runs in its own process (mega through `mega.server.run`, i.e. uvicorn with mega's
protocol; Starlette on stock uvicorn, uvloop and httptools for both). One small upload warms it up (so
python-multipart and the route are loaded), then its peak RSS is reset (`/proc/PID/clear_refs` = 5)
and the baseline taken; the client streams the body from a generator in 64 KiB chunks with a
Content-Length; after the answer, growth = VmHWM - baseline. A sampler thread also polls VmRSS
every 2 ms, for kernels where clear_refs is refused. Throughput = body bytes / wall time from the
first byte sent to the answer read. The client is this process: its memory is not counted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MIB = 1024 * 1024
CHUNK = 64 * 1024
BOUNDARY = "megabenchboundary7d3f"
RSS_TARGET_MIB = 20.0

MEGA_ROUTES = """
    from pathlib import Path

    STORE = Path({store!r})


    async def upload(req):
        form = await req.form()
        doc = form.file("doc")
        kept = doc.move_to(STORE / f"mega-{{doc.filename}}")
        return {{"size": doc.size, "stored": kept.name}}


    def routes(router):
        router.post("/upload", upload, csrf=False, rate_limit=False,
                    form_limits={{"max_file_size": "{limit} MiB", "max_body": "{body} MiB"}})
"""

STARLETTE_APP = """
    import shutil
    from pathlib import Path

    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    STORE = Path({store!r})


    async def upload(request):
        async with request.form(max_files=10, max_fields=100, max_part_size={limit} * 1024 * 1024) as form:
            doc = form["doc"]
            with (STORE / f"starlette-{{doc.filename}}").open("wb") as out:
                shutil.copyfileobj(doc.file, out, 1024 * 1024)
            return JSONResponse({{"size": doc.size}})


    app = Starlette(routes=[Route("/upload", upload, methods=["POST"])])
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0]) * 1024
    return out


def _reset_peak(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _body_parts(size: int) -> tuple[bytes, bytes]:
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nbench\r\n"
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"doc\"; filename=\"big-{size}.bin\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return head, tail


def _stream(size: int) -> Iterator[bytes]:
    head, tail = _body_parts(size)
    yield head
    block = os.urandom(CHUNK)
    sent = 0
    while sent < size:
        piece = block[: min(CHUNK, size - sent)]
        sent += len(piece)
        yield piece
    yield tail


def _upload(port: int, size: int) -> tuple[float, dict[str, Any]]:
    head, tail = _body_parts(size)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.perf_counter()
    conn.request("POST", "/upload", body=_stream(size), headers={
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(len(head) + size + len(tail)), "Host": "localhost"})
    response = conn.getresponse()
    answer = response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"upload answered {response.status}: {answer[:300]!r}")
    return elapsed, json.loads(answer)


class _Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, _status(self.pid)["VmRSS"])
            time.sleep(0.002)


def _measure(name: str, argv: list[str], cwd: Path, port: int, size: int, rounds: int,
             store: Path) -> dict[str, Any]:
    env = {"SESSION_SECRET": "bench-session-secret-" + "x" * 32,  # production refuses to boot without one
           **os.environ, "MEGA_ENV": "production", "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(proc, port)
        _upload(port, 256 * 1024)  # warm-up: imports, first-request paths
        figures: list[dict[str, float]] = []
        for _ in range(rounds):
            for leftover in store.iterdir():
                leftover.unlink()
            time.sleep(0.2)
            reset = _reset_peak(proc.pid)
            base = _status(proc.pid)["VmRSS"]
            sampler = _Sampler(proc.pid)
            sampler.start()
            elapsed, answer = _upload(port, size)
            sampler.done.set()
            sampler.join()
            after = _status(proc.pid)
            peak = max(sampler.peak, after["VmHWM"] if reset else 0)
            stored = sorted(store.iterdir())
            if answer.get("data", answer).get("size") != size or [p.stat().st_size for p in stored] != [size]:
                raise RuntimeError(f"{name}: the file was not stored whole: {answer}, {stored}")
            figures.append({"seconds": elapsed, "mib_per_s": size / MIB / elapsed,
                            "rss_base_mib": base / MIB, "rss_growth_mib": (peak - base) / MIB,
                            "rss_after_mib": after["VmRSS"] / MIB, "peak_reset": float(reset)})
        best = max(figures, key=lambda f: f["mib_per_s"])
        return {
            "mib_per_s": round(best["mib_per_s"], 1),
            "seconds": round(best["seconds"], 3),
            "rss_growth_mib": round(max(f["rss_growth_mib"] for f in figures), 1),
            "rss_base_mib": round(figures[0]["rss_base_mib"], 1),
            "rss_after_mib": round(figures[-1]["rss_after_mib"], 1),
            "rounds": rounds,
            "peak_from": "VmHWM after clear_refs" if all(f["peak_reset"] for f in figures) else
                         "VmRSS sampled",
        }
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _mega_project(root: Path, store: Path, size_mib: int) -> Path:
    project = root / "mega_project"
    files = {
        "mega_config.py": 'config = {"logger": {"level": "warning", "access_log": False}}\n',
        "apps/main/app_config.py": f'config = {{"forms": {{"temp_dir": {str(root / "spool")!r}}}}}\n',
        "apps/main/routes/upload.py": textwrap.dedent(MEGA_ROUTES).format(
            store=str(store), limit=size_mib + 1, body=size_mib + 2),
    }
    for rel, text in files.items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return project


def run(size_mib: int = 50, rounds: int = 3, peer: bool = True) -> dict[str, Any]:
    """Upload `size_mib` MiB to mega (and Starlette); returns the figures per server and the ratio."""
    size = size_mib * MIB
    results: dict[str, Any] = {"size_mib": size_mib, "rss_target_mib": RSS_TARGET_MIB, "variants": {}}
    with tempfile.TemporaryDirectory(prefix="mega-bench-upload-") as tmp:
        root = Path(tmp)
        store = root / "store"
        store.mkdir()
        project = _mega_project(root, store, size_mib)
        port = _free_port()
        code = f"from pathlib import Path; from mega.server import run; run(Path('.'), port={port})"
        mega = _measure("mega", [sys.executable, "-c", code], project, port, size, rounds, store)
        spool = root / "spool"
        mega["temp_files_left"] = sum(1 for p in spool.rglob("*")) if spool.exists() else 0
        results["variants"]["mega"] = mega
        if peer:
            try:
                import starlette  # noqa: F401
            except ImportError:
                results["variants"]["starlette"] = "skipped: starlette is not installed (the bench extra)"
            else:
                app_dir = root / "starlette_app"
                app_dir.mkdir()
                (app_dir / "star_upload.py").write_text(textwrap.dedent(STARLETTE_APP).format(
                    store=str(store), limit=size_mib + 1))
                port = _free_port()
                argv = [sys.executable, "-m", "uvicorn", "star_upload:app", "--port", str(port), "--loop",
                        "uvloop", "--http", "httptools", "--log-level", "warning", "--no-access-log"]
                star = _measure("starlette", argv, app_dir, port, size, rounds, store)
                results["variants"]["starlette"] = star
                results["mega_vs_starlette_throughput"] = round(mega["mib_per_s"] / star["mib_per_s"], 2)
    results["rss_ok"] = mega["rss_growth_mib"] < RSS_TARGET_MIB
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=50, help="MiB to upload (default 50)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="uploads per server: the best throughput and the worst RSS growth are kept")
    parser.add_argument("--no-peer", action="store_true", help="mega only")
    args = parser.parse_args()
    result = run(args.size, args.rounds, peer=not args.no_peer)
    print(json.dumps(result, indent=2))
    return 0 if result["rss_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
