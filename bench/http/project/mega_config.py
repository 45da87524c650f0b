# The benchmark's base project (the `mega_10` app): production env (MEGA_ENV=production) and
# warning-level logging. Variants (bench/http/harness/variants.py) change a temp copy of it, never this.
config = {
    "server": {"port": 3000},
    "logger": {"level": "warning", "access_log": False},
}
