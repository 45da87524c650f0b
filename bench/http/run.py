"""HTTP benchmark: mega against its peers, in the same run. The manual is bench/README.md; the code is
in harness/ (`--help` for the options).

Usage: python bench/http/run.py [--duration 10] [--rounds 2] [--quick] [--servers uvicorn,granian]
                                [--only name,...] [--port 8765] [--out PATH]
"""

from __future__ import annotations

import sys

from harness.runner import main

if __name__ == "__main__":
    sys.exit(main())
