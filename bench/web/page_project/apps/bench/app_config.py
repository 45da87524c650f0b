# Security defaults stay on (secure headers, CSRF); the rate limit counts every request with a limit
# no benchmark reaches (as in bench/http).
config = {"rate_limit": {"max": 1_000_000_000, "window": 60}}
