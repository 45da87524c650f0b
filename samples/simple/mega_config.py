"""Global config of the simple sample (see docs/reference/config.md for every key)."""

import os

config = {
    "server": {"host": os.environ.get("HOST", "127.0.0.1"), "port": os.environ.get("PORT", 3000)},
    "logger": {"level": os.environ.get("LOG_LEVEL", "info")},
}
