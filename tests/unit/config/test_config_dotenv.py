"""`.env` loading: fills the environment, never overrides it."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from mega.config import load_dotenv_file


def write_env(root: Path, text: str) -> None:
    (root / ".env").write_text(text)


def test_loads_keys_into_the_given_environ(tmp_path: Path) -> None:
    write_env(
        tmp_path, "PORT=3200\nDATABASE_URL='postgres://x/db'\n# a comment\nexport REDIS_URL=redis://r\n"
    )
    environ: dict[str, str] = {}

    loaded = load_dotenv_file(tmp_path, environ)

    expected = {"PORT": "3200", "DATABASE_URL": "postgres://x/db", "REDIS_URL": "redis://r"}
    assert loaded == expected
    assert environ == expected


def test_real_environment_wins(tmp_path: Path) -> None:
    write_env(tmp_path, "PORT=3200\nMEGA_ENV=development\n")
    environ = {"PORT": "9000"}

    loaded = load_dotenv_file(tmp_path, environ)

    assert environ == {"PORT": "9000", "MEGA_ENV": "development"}
    assert loaded == {"MEGA_ENV": "development"}  # only what it actually set


def test_an_empty_real_variable_still_wins(tmp_path: Path) -> None:
    write_env(tmp_path, "SECRET=from-file\n")
    environ = {"SECRET": ""}

    assert load_dotenv_file(tmp_path, environ) == {}
    assert environ == {"SECRET": ""}


def test_missing_env_file_loads_nothing(tmp_path: Path) -> None:
    environ = {"A": "1"}

    assert load_dotenv_file(tmp_path, environ) == {}
    assert environ == {"A": "1"}


def test_key_without_value_is_not_set(tmp_path: Path) -> None:
    write_env(tmp_path, "FLAG\nB=2\n")
    environ: dict[str, str] = {}

    assert load_dotenv_file(tmp_path, environ) == {"B": "2"}
    assert "FLAG" not in environ


def test_malformed_line_warns_and_the_rest_loads(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    write_env(tmp_path, "A=1\nthis is = not valid 'x\nB=2\n")
    environ: dict[str, str] = {}

    with caplog.at_level(logging.WARNING):
        loaded = load_dotenv_file(tmp_path, environ)

    assert loaded == {"A": "1", "B": "2"}
    assert any("line 2" in record.getMessage() for record in caplog.records)


def test_defaults_to_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # set then delete, so monkeypatch removes whatever the test adds afterwards
    monkeypatch.setenv("MEGA_TEST_DOTENV_KEY", "x")
    monkeypatch.delenv("MEGA_TEST_DOTENV_KEY")
    monkeypatch.setenv("MEGA_TEST_DOTENV_REAL", "real")
    write_env(tmp_path, "MEGA_TEST_DOTENV_KEY=from-file\nMEGA_TEST_DOTENV_REAL=from-file\n")

    loaded = load_dotenv_file(tmp_path)

    assert loaded == {"MEGA_TEST_DOTENV_KEY": "from-file"}
    assert os.environ["MEGA_TEST_DOTENV_KEY"] == "from-file"
    assert os.environ["MEGA_TEST_DOTENV_REAL"] == "real"


def test_loaded_port_feeds_the_config(tmp_path: Path) -> None:
    from mega.config import load_project_config

    (tmp_path / "mega_config.py").write_text("config = {}\n")
    (tmp_path / "apps" / "web").mkdir(parents=True)
    write_env(tmp_path, "PORT=3200\n")
    environ: dict[str, str] = {}

    load_dotenv_file(tmp_path, environ)

    assert load_project_config(tmp_path, environ=environ).values["server"]["port"] == 3200
