"""One raw driver connection behind a common interface (what the pool hands out).

SQL arrives already in the driver's parameter style with positional arguments (see
`compiler.Plan`); nothing here builds SQL from values.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

Row = Sequence[Any]


class DriverConnection(ABC):
    __slots__ = ("created", "raw")

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.created = time.monotonic()

    @abstractmethod
    async def fetch(self, sql: str, args: Sequence[Any]) -> list[Row]:
        """All rows, as sequences in select-list order."""

    @abstractmethod
    async def fetch_named(self, sql: str, args: Sequence[Any]) -> tuple[list[str], list[Row]]:
        """All rows and the column names (for SQL whose columns are not known in advance)."""

    @abstractmethod
    async def execute(self, sql: str, args: Sequence[Any]) -> int:
        """Run a statement; the number of rows it matched."""

    async def insert(self, sql: str, args: Sequence[Any]) -> Any:
        """Run an INSERT; the generated id where the driver reports one (MariaDB, SQLite)."""
        await self.execute(sql, args)
        return None

    @abstractmethod
    async def execute_many(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def begin(self) -> None:
        await self.execute("BEGIN", ())

    async def commit(self) -> None:
        await self.execute("COMMIT", ())

    async def rollback(self) -> None:
        await self.execute("ROLLBACK", ())

    async def savepoint(self, name: str) -> None:
        await self.execute(f"SAVEPOINT {name}", ())

    async def release_savepoint(self, name: str) -> None:
        await self.execute(f"RELEASE SAVEPOINT {name}", ())

    async def rollback_to_savepoint(self, name: str) -> None:
        await self.execute(f"ROLLBACK TO SAVEPOINT {name}", ())

    @abstractmethod
    def broken(self) -> bool:
        """True when the connection can no longer be used (closed by either side)."""

    @abstractmethod
    async def close(self) -> None: ...
