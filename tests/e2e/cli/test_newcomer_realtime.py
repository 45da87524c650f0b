"""A newcomer's first go at the realtime features (channels, presence, the hub, cluster mode), doing
what the docs say and some things they warn against: each mistake gets an error that says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import mega

pytestmark = pytest.mark.integration


def _app_config(project: Path, text: str) -> None:
    (project / "apps/main/app_config.py").write_text(text)


def test_check_accepts_the_ws_section_the_docs_show(fresh_project: Path) -> None:
    _app_config(fresh_project, 'config = {"ws": {"max_message_bytes": "64 KiB", "allowed_origins": '
                               '["https://app.example.com"]}}\n')
    checked = mega("check", cwd=fresh_project)
    assert "unknown key 'ws'" not in checked.stdout + checked.stderr
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_check_reports_a_bad_ws_value(fresh_project: Path) -> None:
    _app_config(fresh_project, 'config = {"ws": {"max_message_bytes": "lots"}}\n')
    checked = mega("check", cwd=fresh_project)
    assert checked.returncode != 0
    assert "ws.max_message_bytes must be a size in bytes" in checked.stdout + checked.stderr
