# Benchmark project (mega_10). Production env (MEGA_ENV=production) + warning-level logging.
config = {
    "server": {"port": 3000},
    "logger": {"level": "warning", "access_log": False},
}
