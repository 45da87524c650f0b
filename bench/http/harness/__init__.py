"""The HTTP benchmark's harness: `bench/http/run.py` is its entry point, bench/README.md its manual."""
