"""The `metrics` and `tracing` sections: bad values, MEGA_OTEL_* variables, and what `mega check` says."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from mega.cli.main import main
from mega.config import ConfigError, load_project_config
from mega.testing import write_project


def project(root: Path, config: str) -> Path:
    return write_project(root, {"mega_config.py": config, "apps/web/app_config.py": "config = {}\n"})


def problems(root: Path, environ: dict[str, str] | None = None) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        load_project_config(root, environ=environ or {})
    return [(p.code, p.key) for p in caught.value.problems]


@pytest.mark.parametrize("ratio", [1.5, -0.1, "2"])
def test_a_sampling_ratio_outside_0_to_1_is_refused(tmp_path: Path, ratio: object) -> None:
    root = project(tmp_path, f"config = {{'tracing': {{'sample_ratio': {ratio!r}}}}}\n")
    assert problems(root) == [("tracing.invalid_sample_ratio", "tracing.sample_ratio")]


def test_a_sampling_ratio_from_the_environment_is_checked_too(tmp_path: Path) -> None:
    root = project(tmp_path, "config = {'tracing': True}\n")
    assert problems(root, {"MEGA_OTEL_SAMPLE_RATIO": "10"}) == [
        ("tracing.invalid_sample_ratio", "tracing.sample_ratio")]


def test_bad_metrics_values_get_their_key(tmp_path: Path) -> None:
    root = project(tmp_path, "config = {'metrics': {'path': 'metrics', 'allow': ['10.0.0.300'],"
                             " 'buckets': [1, 0.5], 'port': 0, 'tokn': 'x'}}\n")
    assert sorted(problems(root)) == [
        ("config.invalid_value", "metrics.allow[0]"), ("config.invalid_value", "metrics.buckets"),
        ("config.invalid_value", "metrics.path"), ("config.invalid_value", "metrics.port"),
        ("config.unknown_key", "metrics.tokn")]


def test_mega_otel_variables_fill_what_the_file_leaves_out(tmp_path: Path) -> None:
    root = project(tmp_path, "config = {'tracing': {'exporter': 'zipkin'}}\n")
    environ = {"MEGA_OTEL_EXPORTER": "console", "MEGA_OTEL_SERVICE_NAME": "shop",
               "MEGA_OTEL_SAMPLE_RATIO": "0.25", "MEGA_OTEL_ENDPOINT": "http://collector:9411/api/v2/spans"}
    settings = load_project_config(root, environ=environ).settings["tracing"]
    assert settings.exporter == "zipkin"  # the file wins
    assert (settings.service_name, settings.sample_ratio) == ("shop", 0.25)
    assert settings.export_url == "http://collector:9411/api/v2/spans"
    bare = project(tmp_path / "bare", "config = {}\n")
    assert not load_project_config(bare, environ={}).settings["tracing"].enabled
    on = load_project_config(bare, environ={"MEGA_OTEL_ENABLED": "true"}).settings["tracing"]
    assert on.enabled and on.export_url == "http://127.0.0.1:4318/v1/traces"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


def test_check_warns_about_public_unprotected_metrics_and_a_dead_collector(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEGA_ENV", "production")
    monkeypatch.setenv("SESSION_SECRET", "x" * 40)
    endpoint = f"http://127.0.0.1:{closed_port()}/v1/traces"
    root = project(tmp_path, f"config = {{'metrics': True, 'tracing': {{'endpoint': {endpoint!r}}}}}\n")
    assert main(["--root", str(root), "check"]) == 0
    out = capsys.readouterr().out
    assert "[metrics.unprotected] metrics are served on /metrics of the public port in production" in out
    assert f"[tracing.endpoint_unreachable] the otlp exporter's endpoint {endpoint} does not answer" in out
    assert main(["--root", str(root), "check", "--strict"]) == 2


def test_check_is_quiet_when_metrics_are_protected(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEGA_ENV", "production")
    root = project(tmp_path, "config = {'metrics': {'token': 'abc'}}\n")
    assert main(["--root", str(root), "check"]) == 0
    assert "no problems found" in capsys.readouterr().out
    (root / "mega_config.py").write_text("config = {'metrics': {'port': 9464, 'host': '0.0.0.0'}}\n")
    assert main(["--root", str(root), "check"]) == 0
    assert "a public address" in capsys.readouterr().out


def test_check_reports_config_errors_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = project(tmp_path, "config = {'tracing': {'sample_ratio': 3}}\n")
    assert main(["--root", str(root), "check"]) == 1
    err = capsys.readouterr().err
    assert "[tracing.invalid_sample_ratio]" in err
    assert "tracing.sample_ratio must be from 0 to 1, got 3" in err
