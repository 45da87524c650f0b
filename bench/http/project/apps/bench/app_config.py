# Security defaults stay on (secure headers, CSRF); the rate limit keeps counting every request but
# with a limit no benchmark reaches: the default 1,000/min per IP would answer 429 after ~30 ms of wrk.
config = {"rate_limit": {"max": 1_000_000_000, "window": 60}}
