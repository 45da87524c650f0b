"""`mega start --server`: the names it takes, and a clear error before boot when granian is missing."""

from __future__ import annotations

import sys

import pytest

from mega.errors import MegaError
from mega.server._serve import DEFAULT_SERVER, SERVERS, check_server


def test_the_default_is_uvicorn_and_both_servers_are_taken() -> None:
    assert DEFAULT_SERVER == "uvicorn"  # ADR 0033: granian cannot keep every promise of mega start
    assert [check_server(name) for name in SERVERS] == ["uvicorn", "granian"]


def test_an_unknown_server_is_refused_with_the_names_it_takes() -> None:
    with pytest.raises(MegaError) as caught:
        check_server("hypercorn")
    assert caught.value.code == "server.unknown" and "uvicorn, granian" in (caught.value.hint or "")


def test_granian_missing_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "granian", None)  # import granian -> ImportError
    with pytest.raises(MegaError) as caught:
        check_server("granian")
    assert caught.value.code == "server.not_installed" and "mega[granian]" in (caught.value.hint or "")
