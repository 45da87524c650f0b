"""Connection settings from `url` or discrete options (host, port, user, password, database)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from mega.adapters.base import redact_url
from mega.errors import MegaError

if TYPE_CHECKING:
    from mega.adapters.sql.adapter import SqlAdapter


def parse_url(adapter: SqlAdapter, drivername: str, schemes: tuple[str, ...], *,
              default_port: int) -> sa.engine.URL:
    """A SQLAlchemy URL for `drivername`; `url` wins, discrete options fill what it lacks."""
    options = adapter.options
    raw = options.get("url")
    if raw is not None:
        if not isinstance(raw, str):
            raise _bad(adapter, f"url must be a string, got {type(raw).__name__}")
        try:
            url = sa.engine.make_url(raw)
        except Exception as exc:
            raise _bad(adapter, f"cannot parse url {redact_url(raw)!r}") from exc
        if url.drivername not in schemes:
            raise _bad(adapter, f"url scheme '{url.drivername}' does not fit driver '{adapter.driver}'; "
                       f"use {' or '.join(s + '://' for s in schemes)}")
        return url.set(drivername=drivername)
    port = options.get("port", default_port)
    if not isinstance(port, int) or isinstance(port, bool):
        raise _bad(adapter, f"port must be an integer, got {port!r}")
    return sa.engine.URL.create(drivername, username=options.get("user"), password=options.get("password"),
                                host=options.get("host", "localhost"), port=port,
                                database=options.get("database"))


def _bad(adapter: SqlAdapter, message: str) -> MegaError:
    return MegaError("db.invalid_option", f"db '{adapter.alias}': {message}",
                     details={"alias": adapter.alias, "driver": adapter.driver})
