"""Which environment the project runs in: MEGA_ENV if set, else the `env` key, else development."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mega.config._specs import Context
from mega.config.problems import ENVIRONMENT
from mega.config.schema import ENVS

DEFAULT_ENV = "development"


def resolve_env(config: Mapping[Any, Any], environ: Mapping[str, str], ctx: Context) -> str:
    """The effective env. A bad MEGA_ENV is reported here; a bad `env` key by the schema."""
    from_environ = environ.get("MEGA_ENV", "")
    if from_environ:  # empty counts as unset, as shells often export empty variables
        if from_environ in ENVS:
            return from_environ
        ctx.report(
            "config.invalid_value",
            "env",
            f"MEGA_ENV (in the environment) must be one of {', '.join(ENVS)}, got {from_environ!r}",
            f"use one of: {', '.join(ENVS)}",
            file=ENVIRONMENT,
        )
    from_file = config.get("env")
    return from_file if isinstance(from_file, str) and from_file in ENVS else DEFAULT_ENV
