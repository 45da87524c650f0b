"""The login brute-force guard over real caches (memory and Redis): limits, lockout, reset, sharing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import pytest_asyncio

from mega.cache.contract import Cache
from mega.errors import MegaError
from mega.security import BruteForceGuard
from tests.integration.adapters._services import close_cache, open_cache

pytestmark = pytest.mark.integration


@pytest_asyncio.fixture(params=["memory", "file", "redis"])
async def make_cache(request: pytest.FixtureRequest,
                     tmp_path: Path) -> AsyncIterator[Callable[[], asyncio.Future[Cache]]]:
    driver: str = request.param
    prefix = f"bf-test:{uuid.uuid4().hex[:8]}:"
    made: list[Cache] = []

    async def make() -> Cache:
        options = {"prefix": prefix}
        if driver == "file":
            options["path"] = str(tmp_path / "cache")
        cache = await open_cache(driver, options, "rate")
        made.append(cache)
        return cache

    yield make  # type: ignore[misc]
    for cache in made:
        await close_cache(cache)


async def locked(guard: BruteForceGuard, account: str, ip: str | None = None) -> tuple[str, int] | None:
    try:
        await guard.check(account, ip)
    except MegaError as exc:
        assert (exc.code, exc.status) == ("auth.locked", 429)
        return exc.details["scope"], exc.details["retry_after"]
    return None


async def test_an_account_locks_at_its_limit_and_unlocks_after_the_lockout(make_cache) -> None:
    guard = BruteForceGuard(await make_cache(), max_failures=3, window=60, lockout=1)
    assert [await guard.failed("Ann@X.io", f"10.0.0.{i}") for i in range(3)] == [2, 1, 0]
    # The account is locked from any address, under any spelling of its name.
    assert await locked(guard, "ann@x.io ", "192.168.1.1") == ("account", 1)
    assert await locked(guard, "bob@x.io", "10.0.0.1") is None  # another account, same IPs: fine
    await asyncio.sleep(1.1)
    assert await locked(guard, "ann@x.io") is None
    assert await guard.failed("ann@x.io") == 2  # a fresh window after the lockout


async def test_an_ip_trying_many_accounts_is_locked_out(make_cache) -> None:
    guard = BruteForceGuard(await make_cache(), max_failures=5, ip_max_failures=4, lockout=30)
    for i in range(4):
        await guard.failed(f"user{i}@x.io", "203.0.113.9")
    assert await locked(guard, "someone-new@x.io", "203.0.113.9") == ("ip", 30)
    assert await locked(guard, "someone-new@x.io", "203.0.113.10") is None


async def test_success_clears_the_account_not_the_ip(make_cache) -> None:
    guard = BruteForceGuard(await make_cache(), max_failures=3, ip_max_failures=3)
    await guard.failed("ann@x.io", "10.1.1.1")
    await guard.failed("ann@x.io", "10.1.1.1")
    await guard.succeeded("ann@x.io", "10.1.1.1")
    assert await guard.failed("ann@x.io", "10.1.1.2") == 2  # the account counts from zero again
    assert await guard.failed("bob@x.io", "10.1.1.1") == 0  # the IP kept its two: now locked
    assert await locked(guard, "carl@x.io", "10.1.1.1") == ("ip", 900)


async def test_attempt_counts_the_outcome_and_reset_unlocks(make_cache) -> None:
    guard = BruteForceGuard(await make_cache(), max_failures=2)

    async def wrong() -> bool:
        return False

    assert await guard.attempt("ann@x.io", "10.2.2.2", wrong) is False
    assert await guard.attempt("ann@x.io", "10.2.2.2", lambda: False) is False
    with pytest.raises(MegaError) as info:
        await guard.attempt("ann@x.io", "10.2.2.2", lambda: True)  # locked: verify is not even called
    assert info.value.code == "auth.locked"
    await guard.reset("ann@x.io")
    assert await guard.attempt("ann@x.io", "10.2.2.2", lambda: True) is True


async def test_the_cache_never_holds_the_account_name(make_cache) -> None:
    cache = await make_cache()
    guard = BruteForceGuard(cache, max_failures=1)
    await guard.failed("ann@x.io")
    native = cache.native  # memory: its dict; file: its directory; redis: the client, scanned
    if cache.driver == "file":
        keys = [p.read_text() for p in native.rglob("*") if p.is_file()]
    elif isinstance(native, dict):
        keys = [str(k) for k in native]
    else:
        keys = [k.decode() async for k in native.scan_iter(match=f"{cache.prefix}*")]
    assert keys and not any("ann" in k for k in keys)


async def test_two_guards_on_one_redis_share_the_count(make_cache) -> None:
    first = await make_cache()
    if first.driver != "redis":
        pytest.skip("sharing across processes needs a shared cache")
    a, b = BruteForceGuard(first, max_failures=2), BruteForceGuard(await make_cache(), max_failures=2)
    await a.failed("ann@x.io")
    await b.failed("ann@x.io")
    assert await locked(a, "ann@x.io") is not None


def test_bad_options_are_refused() -> None:
    for options in ({"max_failures": 0}, {"window": -1}, {"lockout": float("inf")}, {"ip_max_failures": 1.5}):
        with pytest.raises(MegaError) as info:
            BruteForceGuard(object(), **options)  # type: ignore[arg-type]
        assert info.value.code == "auth.invalid_option"


async def burst(guard: BruteForceGuard, logins: list[tuple[str, str]]) -> tuple[int, int]:
    """Send the logins all at once, each a wrong password taking 0.1 s to check (an argon2 hash):
    (passwords checked, answers that were auth.locked)."""
    checked = 0

    async def wrong() -> bool:
        nonlocal checked
        checked += 1
        await asyncio.sleep(0.1)
        return False

    async def one(account: str, ip: str) -> bool:
        try:
            await guard.attempt(account, ip, wrong)
        except MegaError as exc:
            assert exc.code == "auth.locked"
            return True
        return False

    results = await asyncio.gather(*(one(account, ip) for account, ip in logins))
    return checked, sum(results)


async def test_a_burst_on_one_account_checks_only_the_limit(make_cache) -> None:
    # The attack: 40 parallel wrong passwords all passed a check that only read the count.
    guard = BruteForceGuard(await make_cache(), max_failures=5)
    assert await burst(guard, [("ann@x.io", f"10.3.0.{i}") for i in range(40)]) == (5, 35)
    assert await locked(guard, "ann@x.io") == ("account", 900)  # the 5 failures locked it


async def test_a_burst_from_one_ip_checks_only_its_limit(make_cache) -> None:
    guard = BruteForceGuard(await make_cache(), max_failures=5, ip_max_failures=50)
    assert await burst(guard, [(f"user{i}@x.io", "203.0.113.50") for i in range(100)]) == (50, 50)
    assert (await locked(guard, "new@x.io", "203.0.113.50") or ("",))[0] == "ip"


async def test_a_success_gives_its_reservation_back(make_cache) -> None:
    guard = BruteForceGuard(await make_cache(), max_failures=2, ip_max_failures=2)
    for _ in range(5):  # successes never use up the account's or the IP's attempts
        assert await guard.attempt("ann@x.io", "10.4.4.4", lambda: True) is True
    assert await guard.attempt("bob@x.io", "10.4.4.4", lambda: False) is False
    assert await guard.failed("carl@x.io", "10.4.4.4") == 0  # the IP's second failure locks it
