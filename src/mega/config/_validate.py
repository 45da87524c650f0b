"""Validate one config file's dict: built feature (else `not_supported`), scope (right file?), schema."""

from __future__ import annotations

from typing import Any

from mega.config._specs import Context
from mega.config.schema import root_for
from mega.config.scopes import Scope
from mega.config.sections import allowed_in, not_built, scope_of

GLOBAL_FILE = "mega_config.py"


def validate_file(config: dict[Any, Any], scope: Scope, ctx: Context, *, app_file: str) -> dict[str, Any]:
    """Validated values of one file, defaults filled. `app_file` names where app-only keys belong."""
    in_scope: dict[Any, Any] = {}
    for key, value in config.items():
        feature = not_built(key)
        owner = scope_of(key) if isinstance(key, str) else None
        if feature is not None:
            ctx.report(
                "config.not_supported",
                key,
                f"{ctx.file}: {key}: {feature} is not built yet in this version of mega; remove the key",
                f"remove {key!r} from {ctx.file}: mega does not read it yet, so it would do nothing",
            )
        elif owner is not None and not allowed_in(key, scope):
            _report_wrong_scope(key, owner, ctx, app_file)
        else:
            in_scope[key] = value  # unknown keys are reported by the schema, with a did-you-mean
    values: dict[str, Any] = root_for(scope).validate(in_scope, "", ctx)
    return values


def _report_wrong_scope(key: str, owner: Scope, ctx: Context, app_file: str) -> None:
    belongs = GLOBAL_FILE if owner is Scope.GLOBAL else app_file
    ctx.report(
        "config.wrong_scope",
        key,
        f"{key!r} belongs in {belongs}, not {ctx.file}",
        f"move {key!r} to {belongs}",
    )
