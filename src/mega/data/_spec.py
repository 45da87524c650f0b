"""What a model declares, independent of any database: `ModelSpec` and `IndexSpec`.

Imports nothing else of `mega.data`, so every module there (crud, query, stores) can use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mega.data.fields import Field


@dataclass
class IndexSpec:
    name: str
    columns: list[str]
    unique: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "columns": list(self.columns), "unique": self.unique}


@dataclass
class ModelSpec:
    """What a model declares, independent of any database."""

    name: str
    table: str
    columns: list[Field]
    indexes: list[IndexSpec] = field(default_factory=list)
    partition: dict[str, Any] | None = None
    database: str | None = None
    app: str | None = None
    module: str = ""
    # Derived, never part of the description: column names, and per-model caches (parsed
    # filters, defaults) that CRUD fills on first use.
    column_names: frozenset[str] = field(init=False, repr=False, compare=False)
    cache: dict[Any, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.column_names = frozenset(c.name for c in self.columns)

    @property
    def primary_key(self) -> list[str]:
        return [c.name for c in self.columns if c.primary_key]

    def column(self, name: str) -> Field | None:
        for c in self.columns:
            if c.name == name:
                return c
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "model": self.name,
            "table": self.table,
            "columns": [c.spec() for c in self.columns],
            "indexes": [i.to_dict() for i in self.indexes],
        }
        if self.partition:
            out["partition"] = dict(self.partition)
        if self.database:
            out["database"] = self.database
        return out
