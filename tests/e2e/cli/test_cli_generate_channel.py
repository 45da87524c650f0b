"""`mega g channel NAME` in a new project: the channel (both hooks, a handler with a schema), the routes
file that mounts it, its test, and the `router.ws(...)` line printed; `mega test` green as generated,
and red once the channel no longer does what its test says."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import mega

pytestmark = pytest.mark.integration


def test_a_generated_channel_passes_its_test_in_a_new_project(tmp_path: Path) -> None:
    assert mega("new", "p", cwd=tmp_path).returncode == 0
    project = tmp_path / "p"
    made = mega("g", "channel", "chat", cwd=project)
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines() == [
        "created apps/main/channels/chat_channel.py",
        "created apps/main/routes/chat_channel.py",
        "created tests/test_main_chat_channel.py",
        'mounted by apps/main/routes/chat_channel.py: router.ws("/ws/chat", ChatChannel)',
    ]
    channel = (project / "apps/main/channels/chat_channel.py").read_text()
    for part in ("class ChatChannel(WebSocketController):",
                 "async def on_connect(self, sock: Socket, ctx: Ctx)",
                 "async def on_disconnect(self, sock: Socket, ctx: Ctx, code: int)",
                 '@on("chat.send", schema=ChatMessage)',
                 "async def send(self, sock: Socket, msg: ChatMessage, ctx: Ctx) -> None:"):
        assert part in channel
    assert 'router.ws("/ws/chat", ChatChannel)' in (project / "apps/main/routes/chat_channel.py").read_text()

    run = mega("test", "-q", "-p", "no:cacheprovider", cwd=project, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout  # the two of tests/test_home.py and the channel's

    # The generated test checks the schema: a channel that accepts an empty text fails it.
    (project / "apps/main/channels/chat_channel.py").write_text(channel.replace("min_length=1, ", ""))
    broken = mega("test", "-q", "-p", "no:cacheprovider", cwd=project, timeout=180)
    assert broken.returncode == 1 and "1 failed, 2 passed" in broken.stdout, broken.stdout


def test_a_name_ending_in_channel_is_the_same_channel(tmp_path: Path) -> None:
    assert mega("new", "p", cwd=tmp_path).returncode == 0
    made = mega("g", "channel", "RoomChatChannel", "--dry-run", cwd=tmp_path / "p")
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines() == [
        "would create apps/main/channels/room_chat_channel.py",
        "would create apps/main/routes/room_chat_channel.py",
        "would create tests/test_main_room_chat_channel.py",
        "dry run: nothing was written",
    ]


def test_an_existing_channel_file_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    assert mega("new", "p", cwd=tmp_path).returncode == 0
    project = tmp_path / "p"
    channel = project / "apps/main/channels/chat_channel.py"
    channel.parent.mkdir()
    channel.write_text("# my own chat channel\n")
    before = sorted(p.relative_to(project) for p in project.rglob("*"))
    refused = mega("g", "channel", "chat", cwd=project)
    assert refused.returncode == 2
    assert refused.stdout == ""
    assert refused.stderr == (
        "error: apps/main/channels/chat_channel.py already exists: nothing was written\n"
        "hint: pass --force to overwrite, or choose another name (--dry-run shows what would be written)\n"
        "code: generate.file_exists\n")
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == before  # not the other two either
    assert channel.read_text() == "# my own chat channel\n"
    # Generated once, the same command again refuses all three files.
    channel.unlink()
    assert mega("g", "channel", "chat", cwd=project).returncode == 0
    again = mega("g", "channel", "chat", cwd=project)
    assert again.returncode == 2 and again.stderr.startswith(
        "error: apps/main/channels/chat_channel.py, apps/main/routes/chat_channel.py, "
        "tests/test_main_chat_channel.py already exist: nothing was written\n")
