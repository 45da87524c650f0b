"""A newcomer's first go at the realtime features (channels, presence, the hub, cluster mode), doing
what the docs say and some things they warn against: each mistake gets an error that says what to do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Server, environ, free_port, mega, wait_for

pytestmark = pytest.mark.integration


def _app_config(project: Path, text: str) -> None:
    (project / "apps/main/app_config.py").write_text(text)


def test_check_accepts_the_ws_section_the_docs_show(fresh_project: Path) -> None:
    _app_config(fresh_project, 'config = {"ws": {"max_message_bytes": "64 KiB", "allowed_origins": '
                               '["https://app.example.com"]}}\n')
    checked = mega("check", cwd=fresh_project)
    assert "unknown key 'ws'" not in checked.stdout + checked.stderr
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_check_reports_a_bad_ws_value(fresh_project: Path) -> None:
    _app_config(fresh_project, 'config = {"ws": {"max_message_bytes": "lots"}}\n')
    checked = mega("check", cwd=fresh_project)
    assert checked.returncode != 0
    assert "ws.max_message_bytes must be a size in bytes" in checked.stdout + checked.stderr


CHANNEL = """\
from mega.ws import WebSocketController, on


class ChatChannel(WebSocketController):
    {decorator}
    async def send(self, sock, msg, ctx):
        sock.send({{"type": "sent", "payload": msg}})
"""


@pytest.mark.parametrize(("decorator", "expected"), [
    ("@on", 'apps/main/channels/chat_channel.py, line 5: @on on '),
    ('@on("")', "apps/main/channels/chat_channel.py, line 5: @on needs a non-empty message type, got ''"),
])
def test_a_bad_on_names_the_file_line_and_the_fix(fresh_project: Path, decorator: str, expected: str) -> None:
    assert mega("g", "channel", "chat", cwd=fresh_project).returncode == 0
    (fresh_project / "apps/main/channels/chat_channel.py").write_text(CHANNEL.format(decorator=decorator))
    listed = mega("routes", cwd=fresh_project)
    assert listed.returncode != 0
    assert expected in listed.stderr
    assert "code: ws.invalid_handler" in listed.stderr
    assert 'hint: ' in listed.stderr and '@on("chat.send")' in listed.stderr


def test_an_import_error_in_a_channel_names_the_channel_file(fresh_project: Path) -> None:
    assert mega("g", "channel", "chat", cwd=fresh_project).returncode == 0
    (fresh_project / "apps/main/channels/chat_channel.py").write_text(
        CHANNEL.format(decorator='@on("chat.send", scheme=dict)'))
    listed = mega("routes", cwd=fresh_project)
    assert listed.returncode != 0
    assert ("cannot import apps/main/routes/chat_channel.py, line 3 (in apps/main/channels/chat_channel.py, "
            "line 5): TypeError: on() got an unexpected keyword argument 'scheme'") in listed.stderr


def test_a_second_hub_on_the_same_port_says_the_port_is_in_use(
        tmp_path: Path, start_server: Callable[..., Server]) -> None:
    port = free_port()
    env = environ(MEGA_WSHUB_TOKENS="t1")
    first = start_server("ws-hub", "--host", "127.0.0.1", "--port", str(port), cwd=tmp_path, env=env)
    wait_for(lambda: "listening" in first.output(), 20, "the first hub")
    second = mega("ws-hub", "--host", "127.0.0.1", "--port", str(port), cwd=tmp_path, env=env, timeout=30)
    assert second.returncode == 1
    assert second.stderr.splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use",
        "hint: stop the other hub (or server), or choose another port with --port or MEGA_WSHUB_PORT",
        "code: server.port_in_use",
    ]


@pytest.mark.parametrize(("args", "env", "expected"), [
    (["--heartbeat", "-1"], {},
     ["error: --heartbeat must be a duration > 0 (seconds, or a string like '30s', '5m', '1h'), got '-1'",
      "hint: pass --heartbeat 25 (seconds) or a duration such as 30s"]),
    ([], {"MEGA_WSHUB_HEARTBEAT": "soon"},
     ["error: MEGA_WSHUB_HEARTBEAT must be a duration > 0 (seconds, or a string like '30s', '5m', '1h'), "
      "got 'soon'",
      "hint: fix MEGA_WSHUB_HEARTBEAT in the environment or .env: seconds, or a duration such as 30s"]),
])
def test_a_bad_hub_heartbeat_names_where_it_came_from(
        tmp_path: Path, args: list[str], env: dict[str, str], expected: list[str]) -> None:
    run = mega("ws-hub", "--port", "0", *args, cwd=tmp_path, env=environ(MEGA_WSHUB_TOKENS="t1", **env))
    assert run.returncode == 2
    assert run.stderr.splitlines() == [*expected, "code: config.invalid_value"]


@pytest.mark.parametrize(("args", "env"), [(["--heartbeat", "2m"], {}), ([], {"MEGA_WSHUB_HEARTBEAT": "2m"})])
def test_the_hub_heartbeat_takes_a_duration_like_other_durations(
        tmp_path: Path, start_server: Callable[..., Server], args: list[str], env: dict[str, str]) -> None:
    hub = start_server("ws-hub", "--host", "127.0.0.1", "--port", "0", *args, cwd=tmp_path,
                       env=environ(MEGA_WSHUB_TOKENS="t1", **env))
    wait_for(lambda: "(heartbeat 120s)" in hub.output(), 20, "the hub listening with a 2 minute heartbeat")


def test_a_ws_cluster_bus_alias_with_a_typo_gets_did_you_mean(fresh_project: Path) -> None:
    (fresh_project / "mega_config.py").write_text(
        "config = {'services': {'buses': {'events': {'driver': 'nats', 'url': 'nats://127.0.0.1:4222'}}},\n"
        "          'ws_cluster': {'bus': 'event'}}\n")
    checked = mega("check", cwd=fresh_project)
    assert checked.returncode != 0
    out = checked.stdout + checked.stderr
    assert "ws_cluster.bus names 'event', which is not declared in services.buses (declared: events)" in out
    assert "hint: did you mean 'events'? declare it in mega_config.py" in out


ASP_SECRET = "newcomer-asp-secret-0123456789abcdefghijk"


def test_an_asp_namespace_with_a_typo_is_warned_at_boot(fresh_project: Path) -> None:
    assert mega("g", "channel", "chat", cwd=fresh_project).returncode == 0
    _app_config(fresh_project, 'config = {"asp": {"websocket": {"namespaces": ["/ws/chta"]}}}\n')
    listed = mega("routes", cwd=fresh_project, env=environ(ASP_MASTER_SECRET=ASP_SECRET))
    assert listed.returncode == 0, listed.stderr
    assert ("asp.websocket.namespaces entry '/ws/chta' covers no channel: its frames are not encrypted"
            in listed.stdout + listed.stderr)
    _app_config(fresh_project, 'config = {"asp": {"websocket": {"namespaces": ["/ws/chat"]}}}\n')
    listed = mega("routes", cwd=fresh_project, env=environ(ASP_MASTER_SECRET=ASP_SECRET))
    assert listed.returncode == 0 and "covers no channel" not in listed.stdout + listed.stderr


def test_a_bad_asp_namespace_is_the_only_problem_reported(fresh_project: Path) -> None:
    _app_config(fresh_project, 'config = {"asp": {"websocket": {"namespaces": ["ws/chat"]}}}\n')
    checked = mega("check", cwd=fresh_project, env=environ(ASP_MASTER_SECRET=ASP_SECRET))
    assert checked.returncode != 0
    errors = [line for line in (checked.stdout + checked.stderr).splitlines() if line.startswith("error")]
    assert errors == ["error [config.invalid_value] apps/main/app_config.py: asp.websocket.namespaces[0] has "
                      "'ws/chat', which is not a path"]


def test_a_worker_count_typo_is_refused_before_any_worker_forks(fresh_project: Path) -> None:
    # `check` first: without the bound, the `start` below would fork 5000 workers
    (fresh_project / "mega_config.py").write_text('config = {"server": {"workers": 10000}}\n')
    checked = mega("check", cwd=fresh_project)
    assert checked.returncode != 0
    assert "server.workers must be at most 1024, got 10000" in checked.stdout + checked.stderr
    started = mega("start", "--port", str(free_port()), cwd=fresh_project, timeout=30,
                   env=environ(MEGA_CLUSTER_WORKERS="5000"))
    assert started.returncode == 2
    assert started.stderr.splitlines()[0] == (
        "error: MEGA_CLUSTER_WORKERS='5000' (from the environment) must be at most 1024, got 5000")
    assert started.stderr.splitlines()[-1] == "code: cluster.invalid_workers"


def test_a_socket_refused_in_a_project_test_says_why_and_what_to_do(fresh_project: Path) -> None:
    assert mega("g", "channel", "chat", cwd=fresh_project).returncode == 0
    routes = fresh_project / "apps/main/routes/chat_channel.py"
    routes.write_text(routes.read_text().replace(
        'router.ws("/ws/chat", ChatChannel)', 'router.ws("/ws/chat", ChatChannel, before=[require_auth])')
        .replace("from apps.main", "from mega import require_auth\nfrom apps.main"))
    run = mega("test", "-q", "-p", "no:cacheprovider", cwd=fresh_project, timeout=180)
    assert run.returncode != 0  # the generated test opens the socket without a login
    assert ("mega refused the upgrade: 401 auth.required: ") in run.stdout
    assert "log in with this client first (its cookies go with the socket)" in run.stdout


def test_two_channels_at_one_path_name_both_and_their_files(fresh_project: Path) -> None:
    (fresh_project / "apps/main/routes/chat.py").write_text(
        "from mega.ws import WebSocketController\n\n\nclass ChatChannel(WebSocketController):\n    pass\n\n\n"
        "def routes(router):\n    router.ws('/ws/chat', ChatChannel)\n")
    assert mega("g", "channel", "chat", cwd=fresh_project).returncode == 0  # a second one at /ws/chat
    listed = mega("routes", cwd=fresh_project)
    assert listed.returncode != 0
    assert ("two channels at WS /ws/chat in app 'main': apps.main.routes.chat.ChatChannel "
            "(apps/main/routes/chat.py) and apps.main.channels.chat_channel.ChatChannel "
            "(apps/main/routes/chat_channel.py)") in listed.stderr
