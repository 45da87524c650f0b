# The page benchmark's mega project (bench/web/page.py): production env (MEGA_ENV=production),
# warning-level logging, no access log, as bench/http's base project.
config = {
    "server": {"port": 3000},
    "logger": {"level": "warning", "access_log": False},
}
