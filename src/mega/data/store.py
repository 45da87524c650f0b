"""The contract between model CRUD and a database driver: what a store must do for one model.

`mega.data._crud` does everything that does not depend on the database (filter parsing,
defaults, timestamps, pagination arithmetic, cursors, errors) and asks a store for these
primitives. A db adapter hands out stores with `adapter.store(model_class)`; the SQL adapters
return a `mega.adapters.sql._store.SqlStore`, a Mongo adapter would return its own.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from mega.data._query import Cond, Order
from mega.data.records import Record


class ModelStore(ABC):
    @abstractmethod
    async def select(self, conds: list[Cond], *, order: list[Order], limit: int | None = None,
                     offset: int | None = None, columns: Sequence[str] | None = None,
                     after: Sequence[Any] | None = None) -> list[Record]:
        """Rows matching every cond. `after`: keyset values (aligned with `order`) to start after."""

    @abstractmethod
    async def get(self, pk: Any) -> Record | None: ...

    @abstractmethod
    async def count(self, conds: list[Cond]) -> int: ...

    @abstractmethod
    async def exists(self, conds: list[Cond]) -> bool: ...

    @abstractmethod
    async def page(self, conds: list[Cond], *, order: list[Order], limit: int,
                   offset: int) -> tuple[list[Record], int]:
        """One page and the total count, read together."""

    @abstractmethod
    async def insert(self, values: dict[str, Any]) -> Record:
        """Insert one row; return it as stored (generated id, server defaults)."""

    @abstractmethod
    async def insert_many(self, rows: list[dict[str, Any]]) -> int: ...

    @abstractmethod
    async def update_one(self, pk: Any, values: dict[str, Any]) -> Record | None:
        """Update the row with this primary key; None when there is none."""

    @abstractmethod
    async def update_where(self, conds: list[Cond], values: dict[str, Any]) -> int: ...

    @abstractmethod
    async def delete_where(self, conds: list[Cond]) -> int: ...

    @abstractmethod
    async def upsert(self, values: dict[str, Any], conflict: list[str], update: list[str]) -> Record: ...
