"""Schedules: `class Nightly(Schedule)` in `apps/<app>/schedules/`, run by `mega scheduler`.

See docs/reference/schedules.md.
"""

from mega.schedules._schedule import FireResult, Schedule, ScheduleDef, Schedules, check_schedule
from mega.schedules._scheduler import Scheduler

__all__ = ["FireResult", "Schedule", "ScheduleDef", "Scheduler", "Schedules", "check_schedule"]
