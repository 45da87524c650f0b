"""Locks: one contract (`contract.Lock`), drivers `memory` and `redis`, a manager that picks per app."""

from mega.lock._fence import token_time
from mega.lock.contract import Held, Lock, LockError

__all__ = ["Held", "Lock", "LockError", "token_time"]
