"""Boot stage "presence" (after "bus"): wire `ws_cluster` (and its roster) into every app that has
channels, start them, and close every app's presence at shutdown (sockets then get 1001)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from mega.cluster.ipc.client import socket_path
from mega.errors import MegaError
from mega.ws.presence._cluster import NatsCluster, NatsWire
from mega.ws.presence._redis_roster import RedisRoster

if TYPE_CHECKING:
    from mega.boot.runtime import Runtime
    from mega.ws.presence._core import Presence
    from mega.ws.presence._settings import RosterSettings, WsClusterSettings

__all__ = ["presence_stage", "redis_roster"]

log = logging.getLogger("mega.ws.presence")


def redis_roster(rt: Runtime, app_name: str, roster: RosterSettings) -> Any:
    """The Redis roster of `roster` (driver redis) for one app; also for the hub bridge's `roster`."""
    from mega.cache.redis import RedisCache

    assert rt.adapters is not None and roster.cache is not None
    cache = rt.adapters.cache(roster.cache)
    if not isinstance(cache, RedisCache):
        raise MegaError("config.invalid_value", f"services.caches.{roster.cache} is not a redis cache",
                        hint="the redis roster needs a cache of driver redis")
    return RedisRoster(cache.native, app_name=app_name, ttl=roster.ttl, prefix=cache.prefix or "")


async def presence_stage(rt: Runtime) -> None:
    apps = [app for app in rt.apps.values() if app.ws_routes]
    if not apps:
        return  # no channels: nothing to pay
    settings: WsClusterSettings | None = rt.config.settings.get("ws_cluster")
    presences: list[Presence] = [app.presence for app in apps]

    async def close() -> None:
        for presence in presences:
            await presence.close()

    rt.shutdown.register_resource("ws-presence", close)
    for hook in rt.instruments.hooks("ws_presence") if rt.instruments is not None else ():
        for app in apps:  # metrics on: broadcasts counted by namespace (decided here, at boot)
            hook(app.name, app.presence, [route.path for route in app.ws_routes])
    if settings is None:
        if socket_path(rt.environ):
            _warn_per_worker(apps)
        return
    from mega.adapters.nats import NatsAdapter

    assert rt.adapters is not None
    adapter = rt.adapters.bus(settings.bus)
    if not isinstance(adapter, NatsAdapter):
        raise MegaError("config.invalid_value", f"ws_cluster.bus: services.buses.{settings.bus} is not NATS")
    await adapter.connect()
    for app in apps:
        presence = app.presence
        cluster = NatsCluster(NatsWire(adapter), app.name, roster=settings.roster.driver == "nats",
                              ttl=settings.roster.ttl, subject_prefix=settings.subject_prefix)
        presence.use_transport(cluster)
        hook = f"mega-ws-cluster:{app.name}"
        rt.shutdown.register(hook, cluster.stop, order=40)
        presence.hook_names.append(hook)
        if settings.roster.driver == "redis":
            roster = redis_roster(rt, app.name, settings.roster)
            presence.use_roster(roster)
            hook = f"mega-wsroster:{app.name}"
            rt.shutdown.register(hook, roster.stop, order=41)
            presence.hook_names.append(hook)
        await presence.start()


def _warn_per_worker(apps: list[Any]) -> None:
    """Cluster mode without a transport: each worker's presence sees only its own sockets."""
    for app in apps:
        if app.presence.transport is None:
            log.warning("app %s: in cluster mode each worker has its own presence: a broadcast reaches "
                        "only the sockets of the worker that sends it, and presence.list() lists only "
                        "them; set ws_cluster in mega_config.py (over NATS) or bridge_hub in "
                        "apps/%s/app_config.py to share it across the workers", app.name, app.name,
                        extra={"app": app.name})
