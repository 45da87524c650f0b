"""Boot stage "schedules" (after "locks"): each app's `apps/<app>/schedules/*.py` classes, checked.

Every boot checks them (a bad cron fails any boot, not only the scheduler's); only `mega scheduler`
runs their timers.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

from mega.boot._loader import _files, _import, _rel
from mega.errors import MegaError
from mega.schedules._schedule import Schedule, ScheduleDef, Schedules, check_schedule
from mega.schedules._settings import DEFAULT

if TYPE_CHECKING:
    from mega.boot.runtime import Runtime


async def schedules_stage(rt: Runtime) -> None:
    settings = rt.config.settings.get("schedules", DEFAULT)
    for app in rt.apps.values():
        defs: dict[str, ScheduleDef] = {}
        folder = app.dir / "schedules" if app.dir is not None else None
        for path in _files(folder) if folder is not None else []:
            module = _import(app, "schedules", path)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if not issubclass(cls, Schedule) or cls is Schedule or cls.__module__ != module.__name__:
                    continue
                sdef = check_schedule(cls, settings, source=_rel(path))
                if sdef.name in defs:
                    raise MegaError("schedule.duplicate", f"app '{app.name}' has two schedules named "
                                    f"{sdef.name!r} ({defs[sdef.name].source}, {sdef.source})",
                                    details={"name": sdef.name}, hint="rename one of the classes")
                defs[sdef.name] = sdef
        app.schedules = Schedules(app, list(defs.values()), settings)
