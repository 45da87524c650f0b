"""Rows as `Record`s: a dict (orjson encodes it natively) with attribute access.

Values are already Python types (aware UTC datetimes, UUID, Decimal, bool, parsed JSON) by the
time a row becomes a Record; a Record does no conversion of its own.
"""

from __future__ import annotations

from typing import Any, ClassVar

from mega._suggest import close_match


class Record(dict[str, Any]):
    """One row: `rec["email"]`, `rec.email`, `rec.to_dict()`."""

    __slots__ = ()
    model: ClassVar[str | None] = None

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            close = close_match(name, list(self))
            hint = f" (did you mean '{close}'?)" if close else ""
            raise AttributeError(f"{self.model or 'record'} has no column '{name}'{hint}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_dict(self) -> dict[str, Any]:
        """A plain dict copy (what the JSON envelope sends)."""
        return dict(self)

    def __repr__(self) -> str:
        return f"<{self.model or 'Record'} {dict.__repr__(self)}>"


def record_class(model: str) -> type[Record]:
    """A Record subclass named after the model (for reprs and isinstance checks)."""
    return type(f"{model}Record", (Record,), {"__slots__": (), "model": model})
