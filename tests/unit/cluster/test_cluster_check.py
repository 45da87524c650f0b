"""`mega check` gives the lock and bus drivers the verdicts the boot gives them against cluster mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mega.boot.stages import BootError
from mega.cli.main import main
from mega.testing import running, write_project


def project(tmp_path: Path, glob: dict[str, Any] | None = None, web: dict[str, Any] | None = None) -> Path:
    return write_project(tmp_path, {
        "mega_config.py": f"config = {glob or {}!r}\n",
        "apps/web/app_config.py": f"config = {web or {}!r}\n",
    })


@pytest.fixture(autouse=True)
def no_cluster_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEGA_CLUSTER_WORKERS", raising=False)


@pytest.mark.parametrize(("section", "shared"), [("lock", "redis"), ("bus", "nats")])
async def test_the_cluster_driver_outside_cluster_mode_is_an_error_as_at_boot(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], section: str, shared: str) -> None:
    root = project(tmp_path, None, {section: {"driver": "cluster"}})
    assert main(["--root", str(root), "check"]) == 1
    err = capsys.readouterr().err
    assert (f"[{section}.cluster_unavailable] app 'web': {section}.driver is 'cluster' "
            f"(apps/web/app_config.py) but the project does not run in cluster mode") in err
    assert "hint: the 'cluster' driver only works when `mega start` runs several workers: set " \
           "server.workers = N in mega_config.py (or MEGA_CLUSTER_WORKERS=N)" in err
    assert f"driver 'memory' (one process) or '{shared}'" in err
    with pytest.raises(BootError) as info:  # the same verdict, word for word
        async with running(root, environ={}):
            pass
    assert f"[{section}.cluster_unavailable] {info.value.original.message}" in err


def test_the_cluster_driver_passes_when_the_project_asks_for_workers(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path, {"server": {"workers": 2}}, {"lock": {"driver": "cluster"}})
    assert main(["--root", str(root), "check"]) == 0
    assert "no problems found" in capsys.readouterr().out
    bare = project(tmp_path / "env", None, {"bus": {"driver": "cluster"}})
    (bare / ".env").write_text("MEGA_CLUSTER_WORKERS=2\n")
    assert main(["--root", str(bare), "check"]) == 0
    monkeypatch.setenv("MEGA_CLUSTER_WORKERS", "0")  # the environment wins, as for `mega start`
    assert main(["--root", str(root), "check"]) == 1
    assert "[lock.cluster_unavailable]" in capsys.readouterr().err


def test_an_explicit_memory_driver_in_cluster_mode_is_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, {"server": {"workers": 2}}, {"lock": {"driver": "memory"}})
    assert main(["--root", str(root), "check"]) == 0
    out = capsys.readouterr().out
    assert ("[lock.memory_in_cluster] app web: lock.driver is 'memory' (apps/web/app_config.py) in "
            "cluster mode: each worker has its own lock, so workers do not exclude one another") in out
    assert main(["--root", str(root), "check", "--strict"]) == 2


def test_a_bad_worker_count_in_the_environment_is_an_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEGA_CLUSTER_WORKERS", "many")
    assert main(["--root", str(project(tmp_path)), "check"]) == 1
    assert "[cluster.invalid_workers] MEGA_CLUSTER_WORKERS='many' (from the environment)" in \
        capsys.readouterr().err
