"""The chat end-to-end test serves its fixture project with the real `mega start`, like the CLI tests."""

from tests.e2e.cli.conftest import start_server

__all__ = ["start_server"]
