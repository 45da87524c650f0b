"""What `mega check` says about the lock and bus drivers against cluster mode: the same verdicts as
the boot (`<family>.cluster_unavailable` for driver 'cluster' outside it, the warning for an explicit
'memory' driver inside it), found without starting anything."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from mega.bus._manager import CLUSTER_FAMILY as BUS
from mega.cluster._settings import resolve_workers
from mega.config import load_dotenv_file
from mega.errors import MegaError
from mega.lock._manager import CLUSTER_FAMILY as LOCK
from mega.observe._checks import Finding

if TYPE_CHECKING:
    from mega.config._project import ProjectConfig

__all__ = ["cluster_driver_findings"]


def cluster_driver_findings(config: ProjectConfig) -> list[Finding]:
    environ = dict(os.environ)
    load_dotenv_file(config.root, environ)  # as `mega start` reads it
    try:
        clustered = resolve_workers(config.values["server"].get("workers"), environ) > 0
    except MegaError as exc:  # a bad MEGA_CLUSTER_WORKERS: `mega start` refuses it the same way
        return [Finding("error", exc.code or "cluster.invalid_workers", exc.message, exc.hint)]
    out: list[Finding] = []
    for name, app in config.apps.items():
        for family in (LOCK, BUS):
            spec = app.settings.get(family.name)
            if spec is None:
                continue
            if spec.driver == "cluster" and not clustered:
                error = family.unavailable(name, spec.file)
                out.append(Finding("error", error.code, error.message, error.hint))
            elif spec.driver == "memory" and spec.explicit and clustered:
                out.append(Finding("warning", f"{family.name}.memory_in_cluster",
                                   family.memory_in_cluster(name, spec.file)))
    return out
