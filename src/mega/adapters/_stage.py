"""Boot stage 'adapters': build the project's adapters from `services`, connect them, watch them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mega.adapters._manager import AdapterManager

if TYPE_CHECKING:
    from mega.boot.stages import Runtime


async def adapters_stage(rt: Runtime) -> None:
    """Connect every adapter (a failure fails boot naming alias and host); readiness checks each."""
    dirs = [app.dir for app in rt.config.apps.values()]
    manager = AdapterManager(rt.config.values["services"], root=rt.root,
                             defer_embedded_db=not _uses_models(dirs))
    rt.adapters = manager
    # Registered before connecting: a boot interrupted half-way still closes what did connect.
    rt.shutdown.register_resource("adapters", manager.disconnect_all, last=True)
    await manager.connect_all()
    for adapter in manager.all():
        rt.health.register(f"{adapter.family}:{adapter.alias}", adapter.health)


def _uses_models(dirs: list[Path]) -> bool:
    """Models or migration files in an app: the boot then checks the database, so it connects now."""
    for folder in dirs:
        if any(not p.name.startswith("_") for p in (folder / "models").glob("*.py")):
            return True
        migrations = folder / "migrations"
        if migrations.is_dir() and any(p.suffix == ".py" for p in migrations.iterdir()):
            return True
    return False
