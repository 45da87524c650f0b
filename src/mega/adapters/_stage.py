"""Boot stage 'adapters': build the project's adapters from `services`, connect them, watch them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mega.adapters._manager import AdapterManager

if TYPE_CHECKING:
    from mega.boot.stages import Runtime


async def adapters_stage(rt: Runtime) -> None:
    """Connect every adapter (a failure fails boot naming alias and host); readiness checks each."""
    manager = AdapterManager(rt.config.values["services"], root=rt.root)
    rt.adapters = manager
    # Registered before connecting: a boot interrupted half-way still closes what did connect.
    rt.shutdown.register("adapters", manager.disconnect_all)
    await manager.connect_all()
    for adapter in manager.all():
        rt.health.register(f"{adapter.family}:{adapter.alias}", adapter.health)
