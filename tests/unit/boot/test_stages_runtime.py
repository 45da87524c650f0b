"""The stage list (fixed, extended with add_stage), the typed Runtime, and the one lifespan loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mega.asgi import LazyProject
from mega.boot import stages
from mega.boot.runtime import Runtime
from mega.boot.stages import BootError, Stage, add_stage, boot, index_of
from mega.errors import MegaError
from mega.testing import running, write_project

PROJECT = {
    "mega_config.py": 'config = {"logger": {"level": "warning"}}\n',
    "apps/main/routes/pages.py": """
        def routes(router):
            router.get("/hi", lambda: "hi")
    """,
}


@pytest.fixture
def restore_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stages, "STAGES", stages.STAGES)


def test_the_stage_list_cannot_be_edited_in_place() -> None:
    assert isinstance(stages.STAGES, tuple)
    assert [s.name for s in stages.STAGES] == ["env", "config", "runtime", "adapters", "models", "migrations",
                                               "observe", "apps", "locks", "workers", "schedules", "bus",
                                               "presence", "observe-wire", "jobs", "i18n", "ready"]
    with pytest.raises(TypeError):
        stages.STAGES[0] = Stage("x", lambda rt: None)  # type: ignore[index]


@pytest.mark.usefixtures("restore_stages")
async def test_an_added_stage_runs_right_after_the_named_one_and_sees_what_it_set(tmp_path: Path) -> None:
    seen: list[Any] = []

    async def probe(rt: Runtime) -> None:
        seen.append((rt.adapters is not None, list(rt.apps)))

    add_stage(Stage("probe", probe), after="adapters")
    add_stage(Stage("probe", lambda rt: seen.append("twice")), after="ready")  # same name: ignored
    assert index_of("probe") == index_of("adapters") + 1
    async with running(write_project(tmp_path, PROJECT)):
        pass
    assert seen == [(True, [])], "after adapters, before apps; once"


@pytest.mark.usefixtures("restore_stages")
def test_adding_after_an_unknown_stage_names_the_stages() -> None:
    with pytest.raises(MegaError) as info:
        add_stage(Stage("probe", lambda rt: None), after="aps")
    assert info.value.code == "boot.unknown_stage"
    assert "no boot stage named 'aps'" in info.value.message
    stage_list = ("env, config, runtime, adapters, models, migrations, observe, apps, locks, workers, "
                  "schedules, bus, presence, observe-wire, jobs, i18n, ready")
    assert stage_list in (info.value.hint or "")


@pytest.mark.usefixtures("restore_stages")
async def test_a_stage_reading_config_before_the_config_stage_gets_a_clear_error(tmp_path: Path) -> None:
    add_stage(Stage("early", lambda rt: rt.config), after="env")
    with pytest.raises(BootError) as info:
        await boot(write_project(tmp_path, PROJECT))
    assert info.value.stage == "early"
    assert info.value.original.code == "app.not_initialized"  # type: ignore[attr-defined]
    assert "runtime.config is read before the boot stage 'config' ran" in info.value.message


def test_a_fresh_runtime_has_no_config_or_health_yet(tmp_path: Path) -> None:
    rt = Runtime(tmp_path, {})
    for attr in ("config", "health"):
        with pytest.raises(MegaError) as info:
            getattr(rt, attr)
        assert info.value.code == "app.not_initialized"
    assert rt.server_config == {}
    assert (rt.adapters, rt.host, rt.access_log, rt.apps, rt.models) == (None, None, None, {}, [])


async def test_a_booted_runtime_is_filled_by_its_stages(tmp_path: Path) -> None:
    async with running(write_project(tmp_path, PROJECT)) as rt:
        assert rt.config.apps["main"].name == "main"
        assert rt.health.state == "ready"
        assert rt.adapters is not None and rt.host is not None
        assert rt.server_config["trailing_slash"] == "redirect"
        app = rt.apps["main"]
        assert app.lock is not None and app.bus is not None


class _Lifespan:
    """A server's side of the lifespan protocol: sends startup then shutdown, records the replies."""

    def __init__(self) -> None:
        self.incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return self.incoming.pop(0)

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


async def test_host_and_app_acknowledge_the_lifespan_of_a_project_booted_first(tmp_path: Path) -> None:
    async with running(write_project(tmp_path, PROJECT)) as rt:
        assert rt.host is not None
        for target in (rt.host, rt.apps["main"]):
            server = _Lifespan()
            await target({"type": "lifespan"}, server.receive, server.send)
            assert [m["type"] for m in server.sent] == ["lifespan.startup.complete",
                                                        "lifespan.shutdown.complete"]


async def test_the_asgi_entry_boots_on_startup_and_closes_on_shutdown(tmp_path: Path) -> None:
    project = LazyProject(write_project(tmp_path, PROJECT))
    server = _Lifespan()
    server.incoming.insert(1, {"type": "lifespan.probe"})  # unknown messages are ignored
    await project({"type": "lifespan"}, server.receive, server.send)
    assert [m["type"] for m in server.sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert project.runtime is not None and project.runtime.closed


async def test_the_asgi_entry_reports_a_failed_boot_to_the_server(tmp_path: Path) -> None:
    files = {**PROJECT, "mega_config.py": 'config = {"sever": {}}\n'}
    project = LazyProject(write_project(tmp_path, files))
    server = _Lifespan()
    await project({"type": "lifespan"}, server.receive, server.send)
    assert [m["type"] for m in server.sent] == ["lifespan.startup.failed"]
    assert "boot failed at stage 'config'" in server.sent[0]["message"]
