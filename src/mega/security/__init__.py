"""Security helpers: password hashing (argon2id), the login brute-force guard, and the hook that hears
every security rejection (`on_rejection`).

Imported lazily, so a project that never hashes a password never loads argon2.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Passwords": "mega.security.hashing",
    "hash_password": "mega.security.hashing",
    "verify_password": "mega.security.hashing",
    "verify_password_or_dummy": "mega.security.hashing",
    "password_needs_rehash": "mega.security.hashing",
    "BruteForceGuard": "mega.security.brute_force",
    "Rejection": "mega.security.rejections",
    "on_rejection": "mega.security.rejections",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mega.security' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
