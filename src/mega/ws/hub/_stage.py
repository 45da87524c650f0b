"""Boot stage "bridge_hub" (after "bus"): an app with a `bridge_hub` section gets a hub link as its
presence transport. The link connects in the background: boot never waits for the hub."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mega import shutdown
from mega.errors import MegaError
from mega.ws.hub._bridge_settings import BridgeSettings
from mega.ws.hub._settings import HUB_DEFAULTS, HubSettings

if TYPE_CHECKING:
    from mega.boot.runtime import Runtime

__all__ = ["bridge_hub_stage"]

GLOBAL_FILE = "mega_config.py"


def _cluster_configured(rt: Runtime) -> bool:
    """Whether mega_config.py turns `ws_cluster` on (the other scale-out transport)."""
    value = rt.config.settings.get("ws_cluster", rt.config.values.get("ws_cluster"))
    return value not in (None, False, {})


async def bridge_hub_stage(rt: Runtime) -> None:
    hub = rt.config.settings.get("ws_hub")
    compression = (hub if isinstance(hub, HubSettings) else HUB_DEFAULTS).compression
    for name, app in rt.apps.items():
        settings: Any = rt.config.apps[name].settings.get("bridge_hub")
        if not isinstance(settings, BridgeSettings):
            continue
        if _cluster_configured(rt):
            raise MegaError("config.cluster_transport_conflict",
                            f"app '{name}' has bridge_hub (apps/{name}/app_config.py) while ws_cluster is "
                            f"set ({GLOBAL_FILE}): an app scales out over one transport",
                            hint=f"remove bridge_hub from apps/{name}/app_config.py or ws_cluster from "
                                 f"{GLOBAL_FILE}", status=500)
        from mega.ws.hub._bridge import BridgeTransport  # the link and its retry: only with a bridge

        presence = app.presence
        transport = BridgeTransport(settings, namespaces=[r.path for r in app.ws_routes],
                                    compression=compression)
        presence.use_transport(transport)
        hook = f"mega-hublink:{name}"
        health = f"hub:{name}"

        async def close(transport: BridgeTransport = transport, health: str = health) -> None:
            rt.health.unregister(health)
            await transport.stop()

        # Before connecting: a shutdown during the first attempt or a backoff ends it.
        shutdown.unregister(hook)
        shutdown.register(hook, close, order=50)
        presence.hook_names.append(hook)
        if settings.roster is not None:
            from mega.ws.presence._stage import redis_roster

            roster = redis_roster(rt, name, settings.roster)
            presence.use_roster(roster)
            roster_hook = f"mega-wsroster:{name}"
            shutdown.register(roster_hook, roster.stop, order=51)
            presence.hook_names.append(roster_hook)
        rt.health.unregister(health)
        rt.health.register(health, transport.health)  # always ok: the hub never fails readiness
        if not app.ws_routes:  # the presence stage closes the presence of apps with channels
            rt.shutdown.register_resource(f"presence:{name}", presence.close)
        await presence.start()
