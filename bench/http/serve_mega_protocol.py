"""Serve any ASGI app the way `mega start` serves a mega project: uvicorn with mega's own HTTP protocol
class (mega.server), uvloop, no access log, no `server:` header.

    python bench/http/serve_mega_protocol.py raw_asgi_megaproto:app --port 8765 --app-dir bench/http/peers

It gives the ceiling of mega's server (the raw app on the same protocol) so that mega ÷ raw can be read
on equal server code, next to mega ÷ raw on stock uvicorn.
"""

from __future__ import annotations

import argparse
import importlib
import sys

import uvicorn
import uvloop

from mega.server import make_protocol_class


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("target")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--app-dir", default=".")
    args = p.parse_args()
    sys.path.insert(0, args.app_dir)
    module, _, attr = args.target.partition(":")
    app = getattr(importlib.import_module(module), attr or "app")
    config = uvicorn.Config(app, host=args.host, port=args.port, http=make_protocol_class(), loop="none",
                            lifespan="auto", access_log=False, server_header=False, log_config=None,
                            log_level="warning")
    uvloop.run(uvicorn.Server(config).serve())


if __name__ == "__main__":
    main()
