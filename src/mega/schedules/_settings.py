"""The `schedules` config section (mega_config.py): defaults every schedule of the project shares.

    schedules = {"timezone": "Europe/Berlin",   # a schedule without its own `timezone` (default UTC)
                 "misfire_grace": "60s",        # how late a fire may still run (stall, clock jump)
                 "shutdown_timeout": 10}        # at SIGTERM, how long runs in flight may finish
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mega.config import _checks as c
from mega.config._specs import Leaf, Section, const
from mega.config.sections import GLOBAL, Resolve, register_section

__all__ = ["DEFAULT", "SCHEDULES", "ScheduleSettings", "zone"]

DEFAULT_GRACE = 60.0


@dataclass(frozen=True)
class ScheduleSettings:
    timezone: str  # IANA name
    misfire_grace: float  # seconds
    shutdown_timeout: float = 10.0  # seconds runs in flight may take to finish at SIGTERM


DEFAULT = ScheduleSettings("UTC", DEFAULT_GRACE, 10.0)


def zone(name: Any) -> ZoneInfo:
    """The ZoneInfo of an IANA name, or ValueError."""
    if not isinstance(name, str) or not name or name.startswith(("/", ".")) or ".." in name:
        raise ValueError(f"must be an IANA time zone name such as 'Europe/Berlin', got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"is not a known IANA time zone: {name!r}") from None


def _timezone(value: Any) -> str:
    try:
        zone(value)
    except ValueError as exc:
        raise c.Invalid("schedule.invalid_timezone", str(exc),
                        hint="an IANA name such as 'UTC', 'Europe/Berlin', 'America/New_York'") from None
    return str(value)


SCHEDULES = Section({
    "timezone": Leaf(_timezone, const("UTC")),
    "misfire_grace": Leaf(c.duration(zero_ok=True), const(DEFAULT_GRACE)),
    "shutdown_timeout": Leaf(c.duration(zero_ok=True), const(10.0)),
})


def schedule_settings(value: dict[str, Any], resolve: Resolve) -> ScheduleSettings:
    return ScheduleSettings(value["timezone"], value["misfire_grace"], value["shutdown_timeout"])


register_section("schedules", SCHEDULES, scope=GLOBAL, settings=schedule_settings)
