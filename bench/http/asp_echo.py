"""ASP's cost over HTTP: a 1 KiB JSON echo on an ASP path against the same route without ASP, one server.

    .venv/bin/python bench/http/asp_echo.py                       # 2 rounds x 10 s per endpoint
    .venv/bin/python bench/http/asp_echo.py --duration 2 --rounds 1 --warmup 1   # smoke

The base project (bench/http/project, production env, security defaults on) gets one more routes file:
`POST /echo` and `POST /asp/echo`, the same handler (`return await req.json()`), with
`asp = {"paths": ["/asp/*"]}`. Both endpoints are measured on one `mega start`, pinned like bench/http
(server on core 0, `wrk -t1 -c64` on core 1), in alternating order per round.

wrk cannot encrypt, and ASP refuses a nonce twice, so the ASP requests are sealed beforehand by
`mega.asp.Client` (each with its own nonce; `asp.drift` is 600 s so they stay fresh) and a Lua script
sends each once. The plain endpoint goes through the same kind of Lua script (one fixed request), so
both pay the same client side. A pool that runs out would replay, which ASP answers 401: any non-2xx
response marks the run invalid. Writes bench/results/http-asp.json (http-asp-quick.json for --duration
under 5 s); target ratio asp ÷ plain >= 0.6.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from harness.common import BIN, HOST, RESULTS, SERVER_CPU, WRK_CONNECTIONS, WRK_CPU, WRK_THREADS
from harness.machine import take_lock
from harness.project import BASE_PROJECT
from harness.server import wait_port_free
from harness.wrk import parse_wrk

from mega.asp import Client

SECRET = "bench-asp-secret-0123456789abcdefghijklmnop"
# 1,013 bytes of JSON
PAYLOAD = {"items": [{"id": i, "name": f"item-{i:04d}", "tags": ["a", "b"]} for i in range(22)]}
BODY = orjson.dumps(PAYLOAD)
ROUTES = '''"""The ASP bench's echo, with and without ASP (bench/http/asp_echo.py)."""


async def echo(req):
    return await req.json()


def routes(router):
    router.post("/echo", echo)
    router.post("/asp/echo", echo)
'''
APP_CONFIG = (
    "# bench/http/asp_echo.py: the base project's rate limit, and ASP on /asp/* only\n"
    "config = {'rate_limit': {'max': 1_000_000_000, 'window': 60}, "
    "'asp': {'paths': ['/asp/*'], 'drift': 600}}\n"
)
LUA = """
local reqs, i, n = {}, 0, 0
function init(args)
  local f = assert(io.open("%(data)s", "rb")); local data = f:read("*a"); f:close()
  local pos = 1
  for line in io.lines("%(lengths)s") do
    local len = tonumber(line); n = n + 1; reqs[n] = data:sub(pos, pos + len - 1); pos = pos + len
  end
end
function request()
  i = i + 1
  if i > n then i = 1 end
  return reqs[i]
end
"""


def raw_request(port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    head = [f"POST {path} HTTP/1.1", f"Host: {HOST}:{port}", "Content-Type: application/json",
            f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def write_script(work: Path, name: str, requests: list[bytes]) -> Path:
    data, lengths = work / f"{name}.bin", work / f"{name}.len"
    data.write_bytes(b"".join(requests))
    lengths.write_text("".join(f"{len(r)}\n" for r in requests))
    script = work / f"{name}.lua"
    script.write_text(LUA % {"data": data, "lengths": lengths})
    return script


def sealed_requests(asp: Client, port: int, count: int) -> list[bytes]:
    out = []
    for _ in range(count):
        sealed = asp.seal("POST", "/asp/echo", BODY)
        out.append(raw_request(port, "/asp/echo", sealed.headers, sealed.body))
    return out


def wrk(port: int, script: Path, seconds: float) -> dict[str, Any]:
    cmd = ["taskset", "-c", WRK_CPU, "wrk", f"-t{WRK_THREADS}", f"-c{WRK_CONNECTIONS}", f"-d{seconds:g}s",
           "--latency", "-s", str(script), f"http://{HOST}:{port}/"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120, check=True).stdout
    result = parse_wrk(out)
    result["valid"] = result["non_2xx"] == 0 and not any(result["socket_errors"].values())
    return result


def check(port: int, asp: Client) -> None:
    import httpx

    json_type = {"content-type": "application/json"}
    plain = httpx.post(f"http://{HOST}:{port}/echo", content=BODY, headers=json_type)
    assert plain.status_code == 200 and plain.json() == {"ok": True, "data": PAYLOAD}, plain.text[:300]
    sealed = asp.seal("POST", "/asp/echo", BODY)
    answer = httpx.post(f"http://{HOST}:{port}/asp/echo", content=sealed.body,
                        headers={"content-type": "application/json", **sealed.headers})
    assert answer.status_code == 200 and answer.headers["x-mega-asp"] == "1", answer.text[:300]
    assert orjson.loads(asp.open(200, answer.headers, answer.content, sealed.nonce)) == {"ok": True,
                                                                                         "data": PAYLOAD}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--max-rps", type=int, default=40_000, help="sizes the pool of sealed requests")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out_path = args.out or RESULTS / ("http-asp-quick.json" if args.duration < 5 else "http-asp.json")
    lock = take_lock()
    work = Path(tempfile.mkdtemp(prefix="mega-bench-asp-"))
    project = work / "project"
    shutil.copytree(BASE_PROJECT, project, ignore=shutil.ignore_patterns("__pycache__", "var"))
    (project / "apps/bench/routes/echo.py").write_text(ROUTES)
    (project / "apps/bench/app_config.py").write_text(APP_CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEGA_")}
    env.update(MEGA_ENV="production", ASP_MASTER_SECRET=SECRET)
    env.setdefault("SESSION_SECRET", "bench-session-secret-" + "x" * 32)  # production refuses to boot without
    wait_port_free(args.port)
    log = (work / "server.log").open("wb")
    command = ["taskset", "-c", SERVER_CPU, str(BIN / "mega"), "start", "--port", str(args.port)]
    proc = subprocess.Popen(command, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    asp = Client(SECRET)
    runs: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                check(args.port, asp)
                break
            except Exception:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        plain_script = write_script(work, "plain", [raw_request(args.port, "/echo", {}, BODY)])
        for round_no in range(args.rounds):
            order = ["plain", "asp"] if round_no % 2 == 0 else ["asp", "plain"]
            for name in order:
                for phase, seconds in (("warmup", args.warmup), ("measure", args.duration)):
                    if name == "asp":
                        pool = sealed_requests(asp, args.port, int(args.max_rps * seconds) + 1000)
                        script = write_script(work, f"asp-{round_no}-{phase}", pool)
                    else:
                        script = plain_script
                    result = wrk(args.port, script, seconds)
                    if phase == "measure":
                        result.update(endpoint=name, round=round_no + 1)
                        runs.append(result)
                        print(f"round {round_no + 1} {name:5} {result['rps']:10.0f} req/s  "
                              f"p99 {result['p99_ms']} ms  valid={result['valid']}", flush=True)
    finally:
        if proc.poll() is None:  # it may have failed to boot: server.log says why
            os.killpg(proc.pid, 15)
        proc.wait(10)
        log.close()
        lock.close()
    ratios = []
    for round_no in range(1, args.rounds + 1):
        both = {r["endpoint"]: r for r in runs if r["round"] == round_no and r["valid"]}
        if len(both) == 2:
            ratios.append(both["asp"]["rps"] / both["plain"]["rps"])
    summary = {
        name: statistics.median([r["rps"] for r in runs if r["endpoint"] == name and r["valid"]] or [0.0])
        for name in ("plain", "asp")
    }
    ratio = statistics.median(ratios) if ratios else None
    print(f"plain {summary['plain']:.0f} req/s, asp {summary['asp']:.0f} req/s, asp / plain = "
          f"{ratio if ratio is None else round(ratio, 3)} (target >= 0.6)")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps({
        "meta": {"payload_bytes": len(BODY), "duration": args.duration, "warmup": args.warmup,
                 "rounds": args.rounds, "wrk": f"-t{WRK_THREADS} -c{WRK_CONNECTIONS} -s <lua>",
                 "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
        "summary_rps": summary, "ratio_asp_over_plain": ratio, "ratios_per_round": ratios,
        "runs": [{k: v for k, v in r.items() if k != "wrk_output"} for r in runs],
    }, indent=2) + "\n")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
