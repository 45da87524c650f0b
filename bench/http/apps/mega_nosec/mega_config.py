# Benchmark project (mega_nosec). Production env (MEGA_ENV=production) + warning-level logging.
config = {
    "server": {"port": 3000},
    "logger": {"level": "warning", "access_log": False},
}
