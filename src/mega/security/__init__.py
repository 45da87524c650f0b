"""Security helpers: password hashing (argon2id), the login brute-force guard, and the hook that hears
every security rejection (`on_rejection`).

Imported lazily, so a project that never hashes a password never loads argon2.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mega._lazy import lazy_getattr

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


__getattr__ = lazy_getattr(__name__, _EXPORTS)


if TYPE_CHECKING:
    from mega.security.brute_force import BruteForceGuard as BruteForceGuard
    from mega.security.hashing import Passwords as Passwords
    from mega.security.hashing import hash_password as hash_password
    from mega.security.hashing import password_needs_rehash as password_needs_rehash
    from mega.security.hashing import verify_password as verify_password
    from mega.security.hashing import verify_password_or_dummy as verify_password_or_dummy
    from mega.security.rejections import Rejection as Rejection
    from mega.security.rejections import on_rejection as on_rejection
