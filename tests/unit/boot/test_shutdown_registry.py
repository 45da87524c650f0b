"""mega.shutdown: one registry, hooks by order (ties: registration), time-boxed, failures isolated."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

import mega
from mega import MegaError
from mega.shutdown import ShutdownRegistry


@pytest.fixture(autouse=True)
def _empty_registry() -> Iterator[None]:
    mega.shutdown.reset()
    yield
    mega.shutdown.reset()


async def test_hooks_run_by_ascending_order_ties_in_registration_order_then_resources() -> None:
    ran: list[str] = []
    reg = ShutdownRegistry()
    reg.register_resource("adapters", lambda: ran.append("adapters"), last=True)
    reg.register_resource("locks", lambda: ran.append("locks"))
    reg.register_resource("bus", lambda: ran.append("bus"))
    reg.register("b", lambda: ran.append("b"))
    reg.register("late", lambda: ran.append("late"), order=500)

    async def early() -> None:
        ran.append("early")

    reg.register("early", early, order=-1)
    reg.register("c", lambda: ran.append("c"))
    outcomes = await reg.run()
    assert ran == ["early", "b", "c", "late", "bus", "locks", "adapters"]
    assert [name for name, _ in outcomes] == ran and {o for _, o in outcomes} == {"ok"}
    assert reg.names == [] and await reg.run() == []


async def test_the_same_name_again_replaces_the_hook_and_unregister_forgets_it() -> None:
    ran: list[str] = []
    mega.shutdown.register("flush", lambda: ran.append("old"), order=1)
    mega.shutdown.register("other", lambda: ran.append("other"), order=5)
    mega.shutdown.register("flush", lambda: ran.append("new"), order=10)
    assert mega.shutdown.names() == ["other", "flush"]
    assert mega.shutdown.unregister("other") is True and mega.shutdown.unregister("other") is False
    await mega.shutdown.registry.run()
    assert ran == ["new"]


async def test_a_hanging_hook_is_cut_at_its_timeout_and_a_failing_one_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ran: list[str] = []
    reg = ShutdownRegistry()

    async def hang() -> None:
        await asyncio.sleep(60)

    def boom() -> None:
        raise RuntimeError("disk gone")

    reg.register("hang", hang, order=1, timeout="200ms")
    reg.register("boom", boom, order=2)
    reg.register("after", lambda: ran.append("after"), order=3)
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="mega.shutdown"):
        outcomes = dict(await reg.run())
    assert time.monotonic() - started < 10  # the 0.2 s timeout, not the 60 s sleep
    assert outcomes["hang"] == "timed out after 0.2s"
    assert outcomes["boom"].startswith("failed: RuntimeError('disk gone')")
    assert outcomes["after"] == "ok" and ran == ["after"]
    assert "shutdown hook hang timed out" in caplog.text and "shutdown hook boom failed" in caplog.text


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (("", print), "name"),
        ((None, print), "name"),
        (("x", "not callable"), "fn"),
        (("x", print, "10"), "order"),
        (("x", print, True), "order"),
        (("x", print, float("nan")), "order"),
        (("x", print, 100, 0), "timeout"),
        (("x", print, 100, -1), "timeout"),
        (("x", print, 100, "soon"), "timeout"),
    ],
)
def test_bad_arguments_are_refused_with_shutdown_invalid_hook(args: tuple[Any, ...], option: str) -> None:
    with pytest.raises(MegaError) as caught:
        mega.shutdown.register(*args)
    assert caught.value.code == "shutdown.invalid_hook"
    assert caught.value.details["option"] == option and caught.value.hint
    assert mega.shutdown.names() == []


def test_register_shutdown_hook_is_an_alias_of_the_one_registry() -> None:
    mega.register_shutdown_hook("a", print, timeout=1)
    mega.register_shutdown_hook("b", print, order=1)
    assert mega.shutdown.names() == ["b", "a"]
    with pytest.raises(MegaError) as caught:
        mega.register_shutdown_hook("c", print, timeout=0)
    assert caught.value.code == "shutdown.invalid_hook"
