"""An unknown account costs what a wrong password costs: the helper checks a dummy hash of the same
parameters. Medians of 30 each, interleaved, within 20 %."""

from __future__ import annotations

import statistics
import time

import pytest

from mega.auth import authenticate
from mega.errors import MegaError
from mega.security import Passwords, verify_password_or_dummy

# Costly enough that the hash dominates (a few ms each), cheap enough for a unit test.
HASHER = Passwords(time_cost=2, memory_cost=8192, parallelism=1, concurrency=1)


async def test_unknown_account_and_wrong_password_take_the_same_time() -> None:
    stored = await HASHER.hash("right password")
    users = {"ann": (1, stored)}
    await HASHER.warm()

    async def timed(account: str) -> float:
        start = time.perf_counter()
        assert await authenticate(None, account, "wrong", users.get, hasher=HASHER) is None
        return time.perf_counter() - start

    unknown, wrong = [], []
    for _ in range(30):
        unknown.append(await timed("nobody"))
        wrong.append(await timed("ann"))
    fast, slow = sorted([statistics.median(unknown), statistics.median(wrong)])
    assert slow <= fast * 1.2, (statistics.median(unknown), statistics.median(wrong))
    assert await authenticate(None, "ann", "right password", users.get, hasher=HASHER) == 1


async def test_without_the_dummy_an_unknown_account_would_answer_at_once() -> None:
    """The measurement above can fail: skipping the hash for an unknown account is 10x faster."""
    stored = await HASHER.hash("right password")
    start = time.perf_counter()
    await HASHER.verify(stored, "wrong")
    hashed = time.perf_counter() - start
    start = time.perf_counter()
    assert {"ann": (1, stored)}.get("nobody") is None
    skipped = time.perf_counter() - start
    assert skipped * 10 < hashed


async def test_the_dummy_is_made_once_per_hasher() -> None:
    hasher = Passwords(time_cost=1, memory_cost=1024, parallelism=1)
    first = await hasher.warm()
    assert await hasher.warm() is first and first.startswith("$argon2id$")
    assert await hasher.verify_or_dummy(None, "anything") is False
    assert await hasher.warm() is first
    assert await verify_password_or_dummy(None, "x") is False  # the project-wide hasher


@pytest.mark.parametrize(("account", "password", "code"), [
    ("", "x", "auth.invalid_account"), ("   ", "x", "auth.invalid_account"),
    (None, "x", "auth.invalid_account"), (5, "x", "auth.invalid_account"),
    ("ann", 5, "password.invalid"), ("ann", None, "password.invalid"), ("ann", b"x", "password.invalid"),
])
async def test_bad_input_is_a_400_not_a_500(account: object, password: object, code: str) -> None:
    with pytest.raises(MegaError) as info:
        await authenticate(None, account, password, {}.get, hasher=HASHER)
    assert (info.value.code, info.value.status) == (code, 400)


async def test_hashing_a_non_string_password_is_a_400() -> None:
    calls = (HASHER.hash, lambda p: HASHER.verify("$argon2id$x", p),
             lambda p: HASHER.verify_or_dummy(None, p))
    for call in calls:
        with pytest.raises(MegaError) as info:
            await call(5)  # type: ignore[arg-type]
        assert (info.value.code, info.value.status) == ("password.invalid", 400)
