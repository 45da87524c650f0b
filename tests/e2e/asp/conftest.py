"""The ASP end-to-end tests serve projects with the real `mega start`, like the CLI tests."""

from tests.e2e.cli.conftest import start_server

__all__ = ["start_server"]
