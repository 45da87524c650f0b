"""Which environment the project runs in: MEGA_ENV if set, else the `env` key, else development."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mega.config._problems import ENVIRONMENT
from mega.config._specs import Context
from mega.config.schema import ENVS

DEFAULT_ENV = "development"


def resolve_env(config: Mapping[Any, Any], environ: Mapping[str, str], ctx: Context) -> str:
    """The effective env. A bad MEGA_ENV is reported here; a bad `env` key by the schema."""
    raw = environ.get("MEGA_ENV", "")
    from_environ = raw.strip().lower()  # a name, in any case
    if from_environ:  # empty counts as unset, as shells often export empty variables
        if from_environ in ENVS:
            return from_environ
        ctx.report(
            "config.invalid_value",
            "env",
            f"MEGA_ENV (in the environment) must be one of {', '.join(ENVS)}, got {raw!r}",
            f"use one of: {', '.join(ENVS)}",
            file=ENVIRONMENT,
        )
    from_file = config.get("env")
    name = from_file.strip().lower() if isinstance(from_file, str) else None
    return name if name in ENVS else DEFAULT_ENV
