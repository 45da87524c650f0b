"""Password hashing: argon2id (argon2-cffi), off the event loop, bounded in memory.

    from mega.security import hash_password, verify_password, password_needs_rehash

    stored = await hash_password("correct horse")            # "$argon2id$v=19$m=65536,t=3,p=4$..."
    if await verify_password(stored, attempt):               # False on a wrong password
        if password_needs_rehash(stored):                    # parameters raised since it was stored
            stored = await hash_password(attempt)

A hash costs ~0.1 s of CPU and 64 MiB by default: on the event loop it would stall every request, so
it runs in a worker thread (argon2 releases the GIL), and at most `concurrency` hashes run at once so
a burst of logins cannot take gigabytes. bcrypt hashes (`$2a$`/`$2b$`/`$2y$`, from another framework)
are verified when the `bcrypt` package is installed, and `password_needs_rehash` says yes to them, so
users move to argon2id at their next login.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import weakref
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from mega.errors import MegaError

__all__ = ["Passwords", "hash_password", "password_needs_rehash", "passwords", "verify_password",
           "verify_password_or_dummy"]

_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
MAX_PASSWORD_BYTES = 4096  # a longer "password" is an attack on the CPU, not a secret


class PasswordError(MegaError):
    default_code = "password.invalid"


def _check_password(password: Any) -> bytes:
    if not isinstance(password, str):
        # 400: a password comes from a request body ({"password": 5}); a schema should catch it first
        raise PasswordError("password.invalid", f"a password must be a string, got {type(password).__name__}",
                            status=400, hint="send the password as a JSON string (validate it in the route's "
                                             "body schema: {'type': 'string', 'maxLength': 1024})")
    raw = password.encode("utf-8")
    if len(raw) > MAX_PASSWORD_BYTES:
        raise PasswordError("password.too_long", f"a password is at most {MAX_PASSWORD_BYTES} bytes",
                            details={"max_bytes": MAX_PASSWORD_BYTES}, status=400,
                            hint="validate the length in the request schema (e.g. maxLength 1024)")
    return raw


class Passwords:
    """An argon2id hasher with its parameters and a bound on concurrent hashes.

    The defaults are argon2-cffi's (RFC 9106 low-memory profile: t=3, m=64 MiB, p=4). Lower them in
    tests only (`Passwords(time_cost=1, memory_cost=8)`), never in production.
    """

    def __init__(self, *, time_cost: int | None = None, memory_cost: int | None = None,
                 parallelism: int | None = None, concurrency: int | None = None) -> None:
        options = {k: v for k, v in (("time_cost", time_cost), ("memory_cost", memory_cost),
                                     ("parallelism", parallelism)) if v is not None}
        for name, value in options.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PasswordError("password.invalid_option", f"{name} must be a positive integer, got "
                                    f"{value!r}", details={"option": name}, status=500)
        base = PasswordHasher()  # argon2-cffi's defaults fill what is not given
        self.hasher = PasswordHasher(time_cost=options.get("time_cost", base.time_cost),
                                     memory_cost=options.get("memory_cost", base.memory_cost),
                                     parallelism=options.get("parallelism", base.parallelism))
        limit = concurrency if concurrency is not None else max(2, os.cpu_count() or 2)
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise PasswordError("password.invalid_option", f"concurrency must be a positive integer, "
                                f"got {concurrency!r}", details={"option": "concurrency"}, status=500)
        self.concurrency = limit
        self._dummy: str | None = None  # what an unknown user's password is checked against
        # One semaphore per event loop (a semaphore belongs to the loop it first waited in).
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = \
            weakref.WeakKeyDictionary()

    def _gate(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        gate = self._slots.get(loop)
        if gate is None:
            gate = self._slots[loop] = asyncio.Semaphore(self.concurrency)
        return gate

    def hash_sync(self, password: str) -> str:
        """The argon2id hash of `password` (blocks for ~0.1 s: use `hash` in async code)."""
        return self.hasher.hash(_check_password(password))

    def verify_sync(self, stored: str, password: str) -> bool:
        """Whether `password` matches `stored`; False on a mismatch, an error on a malformed hash."""
        raw = _check_password(password)
        if not isinstance(stored, str) or not stored:
            raise PasswordError("password.invalid_hash", "the stored hash is empty or not a str",
                                status=500, hint="store the string hash_password() returned")
        if stored.startswith(_BCRYPT_PREFIXES):
            return _verify_bcrypt(stored, raw)
        try:
            return self.hasher.verify(stored, raw)
        except VerifyMismatchError:
            return False
        except (InvalidHashError, VerificationError) as exc:  # argon2 says "Decoding failed" for a torn hash
            raise PasswordError("password.invalid_hash", "the stored hash is not an argon2 or bcrypt hash",
                                status=500, hint="store the string hash_password() returned") from exc

    def needs_rehash(self, stored: str) -> bool:
        """True when `stored` was made with other parameters (or by bcrypt): hash again at login."""
        if stored.startswith(_BCRYPT_PREFIXES):
            return True
        try:
            return self.hasher.check_needs_rehash(stored)
        except InvalidHashError as exc:
            raise PasswordError("password.invalid_hash", "the stored hash is not an argon2 hash",
                                status=500) from exc

    async def hash(self, password: str) -> str:
        """`hash_sync` in a worker thread, at most `concurrency` at once."""
        _check_password(password)  # fail in the caller's frame, before queueing
        async with self._gate():
            return await asyncio.to_thread(self.hash_sync, password)

    async def verify(self, stored: str, password: str) -> bool:
        """`verify_sync` in a worker thread, at most `concurrency` at once."""
        _check_password(password)
        async with self._gate():
            return await asyncio.to_thread(self.verify_sync, stored, password)

    async def verify_or_dummy(self, stored: str | None, password: str) -> bool:
        """`verify(stored, password)`; with `stored` None (no such user) the password is checked against
        a dummy hash of the same parameters and False returned, so an unknown account and a wrong
        password take the same time. The dummy is made once per hasher, at the first unknown account
        (or by `await warm()` at startup)."""
        _check_password(password)
        if stored is None:
            await self.verify(await self.warm(), password)
            return False
        return await self.verify(stored, password)

    async def warm(self) -> str:
        """Make the dummy hash now (else the first unknown account pays for it); returns it."""
        if self._dummy is None:
            self._dummy = await self.hash(secrets.token_urlsafe(24))
        return self._dummy


def _verify_bcrypt(stored: str, raw: bytes) -> bool:
    try:
        import bcrypt
    except ImportError as exc:
        raise PasswordError("password.unsupported_hash", "this is a bcrypt hash and the bcrypt package is "
                            "not installed", status=500,
                            hint="pip install bcrypt to verify it; users move to argon2id at their next "
                                 "login (password_needs_rehash is True for bcrypt)") from exc
    try:
        return bool(bcrypt.checkpw(raw[:72], stored.encode("ascii")))  # bcrypt reads 72 bytes at most
    except ValueError as exc:
        raise PasswordError("password.invalid_hash", "the stored bcrypt hash is malformed",
                            status=500) from exc


passwords = Passwords()
"""The project-wide hasher with the default parameters."""


async def hash_password(password: str) -> str:
    """The argon2id hash of `password`, computed off the event loop."""
    return await passwords.hash(password)


async def verify_password(stored: str, password: str) -> bool:
    """Whether `password` matches the hash `stored` (argon2, or bcrypt when installed)."""
    return await passwords.verify(stored, password)


async def verify_password_or_dummy(stored: str | None, password: str) -> bool:
    """`verify_password`, or (`stored` None: no such user) the same work against a dummy hash, then
    False: an unknown account costs what a wrong password costs."""
    return await passwords.verify_or_dummy(stored, password)


def password_needs_rehash(stored: str) -> bool:
    """Whether `stored` should be replaced by a fresh `hash_password` at the next successful login."""
    return passwords.needs_rehash(stored)
