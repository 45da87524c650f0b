"""The `schedules` and `workers` sections of mega_config.py: defaults, durations, and bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from mega.config import ConfigError, load_project_config
from mega.schedules._settings import ScheduleSettings
from mega.testing import write_project
from mega.workers import PoolSettings


def load(root: Path, config: str) -> object:
    files = {"mega_config.py": config, "apps/main/app_config.py": "config = {}\n"}
    return load_project_config(write_project(root, files), environ={})


def test_defaults_and_durations(tmp_path: Path) -> None:
    project = load(tmp_path, 'config = {"schedules": {"misfire_grace": "2m"}, "workers": {"resize": '
                             '{"handler": "main.workers.resize:run", "timeout": "1m", "size": 3}}}\n')
    assert project.settings["schedules"] == ScheduleSettings("UTC", 120.0, 10.0)  # type: ignore[attr-defined]
    assert project.settings["workers"] == {  # type: ignore[attr-defined]
        "resize": PoolSettings("resize", "main.workers.resize:run", "process", 3, 100, 60.0)}


@pytest.mark.parametrize(("config", "code", "key"), [
    ('{"schedules": {"misfire_grace": "soon"}}', "config.invalid_value", "schedules.misfire_grace"),
    ('{"schedules": {"timezone": "Mars/Base"}}', "schedule.invalid_timezone", "schedules.timezone"),
    ('{"schedules": {"zone": "UTC"}}', "config.unknown_key", "schedules.zone"),
    ('{"workers": {"stats": {"handler": "a.b:c"}}}', "worker.invalid_config", "workers"),
    ('{"workers": {"x": {"handler": "a.b:c", "size": 0}}}', "worker.invalid_config", "workers.x.size"),
    ('{"workers": [1]}', "worker.invalid_config", "workers"),
])
def test_bad_values_are_config_problems(tmp_path: Path, config: str, code: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, f"config = {config}\n")
    assert [(p.code, p.key) for p in caught.value.problems] == [(code, key)]
