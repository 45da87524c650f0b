"""Schedule classes are checked at boot: a bad cron, zone or lock names the class and file."""

from __future__ import annotations

from pathlib import Path

import pytest

from mega.boot.stages import BootError
from mega.testing import running, write_project


def project(root: Path, body: str, config: str = "config = {}") -> Path:
    return write_project(root, {
        "mega_config.py": config + "\n",
        "apps/main/schedules/nightly.py": "from mega.schedules import Schedule\n\n\n" + body,
    })


@pytest.mark.parametrize(("body", "code", "text"), [
    ("class Nightly(Schedule):\n    cron = '61 * * * *'\n    async def run(self, ctx): ...\n",
     "schedule.invalid_cron", "cron '61 * * * *'"),
    ("class Nightly(Schedule):\n    cron = '0 3 * *'\n    async def run(self, ctx): ...\n",
     "schedule.invalid_cron", "has 4 fields"),
    ("class Nightly(Schedule):\n    cron = '@daily'\n    timezone = 'Mars/Olympus'\n"
     "    async def run(self, ctx): ...\n", "schedule.invalid_timezone", "Mars/Olympus"),
    ("class Nightly(Schedule):\n    cron = '@daily'\n    lock = {'ttl': 0.2}\n"
     "    async def run(self, ctx): ...\n",
     "schedule.invalid_lock", "at least 0.5 s"),
    ("class Nightly(Schedule):\n    cron = '@daily'\n    lock = {'ttl': 5, 'key': ''}\n"
     "    async def run(self, ctx): ...\n", "schedule.invalid_lock", "non-empty"),
    ("class Nightly(Schedule):\n    cron = '@daily'\n    lock = {'tll': 5}\n"
     "    async def run(self, ctx): ...\n",
     "schedule.invalid_lock", "'ttl'"),
    ("class Nightly(Schedule):\n    cron = '@daily'\n    def run(self, ctx): ...\n",
     "schedule.invalid_run", "async def run"),
])
async def test_a_bad_schedule_fails_the_boot(tmp_path: Path, body: str, code: str, text: str) -> None:
    with pytest.raises(BootError) as caught:
        async with running(project(tmp_path, body)):
            pass
    assert caught.value.stage == "schedules"
    assert caught.value.original.code == code
    assert text in caught.value.message and "Nightly" in caught.value.message
    assert "apps/main/schedules/nightly.py" in caught.value.message


async def test_a_good_schedule_takes_the_project_timezone_and_default_lock_key(tmp_path: Path) -> None:
    body = "class Nightly(Schedule):\n    cron = '0 3 * * *'\n    lock = {'ttl': '1m'}\n" \
           "    async def run(self, ctx): ...\n"
    root = project(tmp_path, body, 'config = {"schedules": {"timezone": "Europe/Berlin"}}')
    async with running(root) as rt:
        sdef = rt.apps["main"].schedules.defs["Nightly"]
        got = (sdef.timezone, sdef.lock_ttl, sdef.lock_key)
        assert got == ("Europe/Berlin", 60.0, "mega:schedule:Nightly")


async def test_a_bad_project_timezone_is_a_config_problem(tmp_path: Path) -> None:
    body = "class Nightly(Schedule):\n    cron = '0 3 * * *'\n    async def run(self, ctx): ...\n"
    root = project(tmp_path, body, 'config = {"schedules": {"timezone": "Nowhere/City"}}')
    with pytest.raises(BootError) as caught:
        async with running(root):
            pass
    problems = caught.value.original.problems
    assert [(p.code, p.key) for p in problems] == [("schedule.invalid_timezone", "schedules.timezone")]
