"""The chat end-to-end test serves its fixture project with the real `mega start`, like the CLI tests."""

from tests.e2e.cli.conftest import mega_server, start_server

__all__ = ["mega_server", "start_server"]
