"""`python _probe.py PORT PID`: wait until http://127.0.0.1:PORT/health/ready answers 200 (exit 0), or PID
exits or 30 s pass (exit 1). Used by _prelude.sh for commands that serve until stopped."""

import sys
import time
import urllib.error
import urllib.request

port, pid = int(sys.argv[1]), int(sys.argv[2])
direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through an http_proxy
deadline = time.monotonic() + 30
last = "no answer"
while time.monotonic() < deadline:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            gone = stat.read().rsplit(")", 1)[1].split()[0] == "Z"  # exited, not yet reaped by its shell
    except FileNotFoundError:
        gone = True
    if gone:
        print(f"docs walker: the server exited before answering ({last})", file=sys.stderr)
        sys.exit(1)
    try:
        with direct.open(f"http://127.0.0.1:{port}/health/ready", timeout=2) as res:
            if res.status == 200:
                print(f"docs walker: GET /health/ready on port {port}: {res.status}")
                sys.exit(0)
            last = f"status {res.status}"
    except urllib.error.HTTPError as exc:
        last = f"status {exc.code}"
    except OSError as exc:
        last = str(exc)
    time.sleep(0.1)
print(f"docs walker: no 200 from /health/ready on port {port} within 30 s ({last})", file=sys.stderr)
sys.exit(1)
