"""Password hashing: argon2id round trips, rehash advice, bcrypt hashes, bad input, off the loop."""

from __future__ import annotations

import asyncio
import sys

import bcrypt
import pytest

from mega.errors import MegaError
from mega.security import Passwords, hash_password, password_needs_rehash, verify_password

FAST = Passwords(time_cost=1, memory_cost=1024, parallelism=1)  # test speed only


async def test_hash_and_verify_round_trip() -> None:
    stored = await FAST.hash("correct horse")
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert await FAST.verify(stored, "correct horse") is True
    assert await FAST.verify(stored, "correct horsE") is False
    assert await FAST.hash("correct horse") != stored  # a fresh salt each time
    assert await FAST.verify(stored, "pässwörd") is False
    unicode = await FAST.hash("pässwörd ✓")
    assert await FAST.verify(unicode, "pässwörd ✓")


async def test_default_parameters_and_rehash_advice() -> None:
    stored = await hash_password("s3cret")
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert await verify_password(stored, "s3cret") and not await verify_password(stored, "S3cret")
    assert password_needs_rehash(stored) is False
    weak = await FAST.hash("s3cret")
    assert password_needs_rehash(weak) is True  # made with other parameters: hash again at login
    assert await verify_password(weak, "s3cret")  # but it still verifies


async def test_bcrypt_hashes_from_another_framework_verify_and_ask_for_a_rehash() -> None:
    legacy = bcrypt.hashpw(b"hunter2", bcrypt.gensalt(rounds=4)).decode()
    assert await FAST.verify(legacy, "hunter2") is True
    assert await FAST.verify(legacy, "hunter3") is False
    assert FAST.needs_rehash(legacy) is True
    long = "x" * 100  # bcrypt reads the first 72 bytes, as it did when the hash was made
    assert await FAST.verify(bcrypt.hashpw(long[:72].encode(), bcrypt.gensalt(rounds=4)).decode(), long)


async def test_a_bcrypt_hash_without_the_package_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    legacy = bcrypt.hashpw(b"hunter2", bcrypt.gensalt(rounds=4)).decode()
    monkeypatch.setitem(sys.modules, "bcrypt", None)  # what an environment without bcrypt does
    with pytest.raises(MegaError) as info:
        await FAST.verify(legacy, "hunter2")
    assert info.value.code == "password.unsupported_hash" and "pip install bcrypt" in (info.value.hint or "")


@pytest.mark.parametrize("stored", ["", "plain-text-password", "$argon2id$v=19$broken", "$2b$04$short"])
async def test_a_malformed_stored_hash_is_an_error_not_a_mismatch(stored: str) -> None:
    with pytest.raises(MegaError) as info:
        await FAST.verify(stored, "x")
    assert (info.value.code, info.value.status) == ("password.invalid_hash", 500)


async def test_bad_passwords_and_options() -> None:
    for bad in (None, b"bytes", 42):
        with pytest.raises(MegaError) as info:
            await FAST.hash(bad)  # type: ignore[arg-type]
        assert info.value.code == "password.invalid"
    with pytest.raises(MegaError) as info:
        await FAST.hash("x" * 5000)
    assert (info.value.code, info.value.status) == ("password.too_long", 400)
    for options in ({"time_cost": 0}, {"memory_cost": "64M"}, {"concurrency": 0}, {"parallelism": True}):
        with pytest.raises(MegaError) as info:
            Passwords(**options)  # type: ignore[arg-type]
        assert info.value.code == "password.invalid_option"


async def test_hashing_runs_off_the_event_loop_and_is_bounded() -> None:
    slow = Passwords(time_cost=2, memory_cost=32768, parallelism=1, concurrency=2)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    beat = asyncio.create_task(ticker())
    running = 0
    most = 0
    ticks_during: list[int] = []  # how often the loop ticked while each hash was computed
    original = slow.hash_sync

    def counting(password: str) -> str:
        nonlocal running, most
        running += 1
        most = max(most, running)
        before = ticks
        try:
            return original(password)
        finally:
            ticks_during.append(ticks - before)
            running -= 1

    slow.hash_sync = counting  # type: ignore[method-assign]
    hashes = await asyncio.gather(*(slow.hash(f"p{i}") for i in range(6)))
    beat.cancel()
    assert len(set(hashes)) == 6
    assert most <= 2  # never more than `concurrency` at once
    # Order, not speed: on the loop's thread no tick could happen inside a hash.
    assert sum(ticks_during) > 0, ticks_during
