"""`lazy_getattr`: a package's `__getattr__` (PEP 562) that imports its public names on first use.

Each package keeps a `TYPE_CHECKING` block importing the same names, for editors and mypy.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_getattr"]


def lazy_getattr(package: str, names: Mapping[str, str],
                 modules: Mapping[str, str] | None = None) -> Callable[[str], Any]:
    """`__getattr__ = lazy_getattr(__name__, {"login": "mega.auth._login"})`: a name is taken from its
    module on first access and set on the package, so later accesses never come back here; `modules`
    maps names to whole modules (`{"testing": "mega.testing"}`)."""
    where = dict(names)
    whole = dict(modules or {})

    def __getattr__(name: str) -> Any:
        if name in whole:
            value: Any = importlib.import_module(whole[name])
        elif name in where:
            value = getattr(importlib.import_module(where[name]), name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
