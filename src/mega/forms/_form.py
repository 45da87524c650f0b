"""The parsed form: read-only, multi-valued, text fields and uploaded files in the order they came."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, overload

from mega.forms._files import UploadedFile

__all__ = ["Form", "FormValue"]

FormValue = str | UploadedFile


class Form(Mapping[str, FormValue]):
    """`form[name]` and `form.get(name)` give a name's first value; `form.getlist(name)` all of them.
    Text fields are `str`, files `UploadedFile`."""

    __slots__ = ("_index", "_items")

    def __init__(self, items: list[tuple[str, FormValue]]) -> None:
        self._items = tuple(items)
        index: dict[str, list[FormValue]] = {}
        for name, value in self._items:
            index.setdefault(name, []).append(value)
        self._index = index

    def __getitem__(self, name: str) -> FormValue:
        return self._index[name][0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    @overload
    def get(self, name: str, /) -> FormValue | None: ...
    @overload
    def get(self, name: str, /, default: FormValue) -> FormValue: ...
    @overload
    def get(self, name: str, /, default: Any) -> Any: ...

    def get(self, name: str, /, default: Any = None) -> Any:
        values = self._index.get(name)
        return values[0] if values else default

    def getlist(self, name: str) -> list[FormValue]:
        """Every value sent under `name` (an empty list when none)."""
        return list(self._index.get(name, ()))

    def multi_items(self) -> list[tuple[str, FormValue]]:
        """Every (name, value) pair, in the order the client sent them."""
        return list(self._items)

    def file(self, name: str) -> UploadedFile | None:
        """The first file sent under `name`, or None (also when `name` is a text field)."""
        return next((v for v in self._index.get(name, ()) if isinstance(v, UploadedFile)), None)

    @property
    def files(self) -> tuple[UploadedFile, ...]:
        """Every uploaded file."""
        return tuple(v for _, v in self._items if isinstance(v, UploadedFile))

    def to_dict(self) -> dict[str, FormValue | list[FormValue]]:
        """One value per name, a list for a name sent more than once (what `form=` schemas see)."""
        return {name: values[0] if len(values) == 1 else list(values) for name, values in self._index.items()}

    def __repr__(self) -> str:
        return f"Form({list(self._items)!r})"
