# Benchmark project (mega_access_log): mega_10 with the access log on (it is off by default in production).
config = {
    "server": {"port": 3000},
    "logger": {"level": "warning", "access_log": True},
}
