"""Migrations: a schema DSL, the journal (snapshot + history), the differ that writes migrations
from models, and the runner that applies them under a lock.

Migration files import `column` and `index` from here; the rest is reached through its module
(`mega.data.migrations.runner.Runner`, ...). Names are resolved lazily: importing the package for the
model scan at boot does not import Alembic.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mega._lazy import lazy_getattr

__all__ = ["Schema", "column", "index"]
__getattr__ = lazy_getattr(__name__, dict.fromkeys(__all__, "mega.data.migrations._schema"))

if TYPE_CHECKING:
    from mega.data.migrations._schema import Schema as Schema
    from mega.data.migrations._schema import column as column
    from mega.data.migrations._schema import index as index

