"""A valid project loads with every known key present and defaulted."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mega.config import AppConfig, ProjectConfig, load_project_config
from mega.lock._settings import LockSettings
from mega.security._settings import RateLimitSettings

MakeProject = Callable[..., Path]

LOCK_DEFAULTS = {"driver": None, "redis": None, "prefix": "mega:lock:", "ttl": 10.0, "wait": 5.0}
I18N_DEFAULTS = {"enabled": True, "default_locale": "en", "query_param": "lang", "cookie": "mega_lang",
                 "accept_language": True}
OPENAPI_DEFAULTS = {"enabled": True, "path": "/openapi.json", "docs_path": "/docs", "title": None,
                    "version": "1.0.0", "description": None, "servers": []}  # enabled: on in development

SERVER_DEFAULTS = {
    "host": "127.0.0.1",
    "port": 3000,
    "shutdown_timeout": 10.0,
    "header_timeout": 30.0,
    "body_timeout": 30.0,
    "keep_alive_timeout": 5.0,
    "max_header_bytes": 65536,
    "max_headers": 100,
    "body_limit": 1048576,
    "trailing_slash": "redirect",
    "server": "uvicorn",
    "trusted_proxies": [],
    "workers": 0,
}


def test_empty_global_config_gets_every_default(make_project: MakeProject) -> None:
    root = make_project()

    project = load_project_config(root, environ={})

    assert isinstance(project, ProjectConfig)
    assert project.root == root.resolve()
    assert project.file == root.resolve() / "mega_config.py"
    assert project.env == "development"
    assert project.values == {
        "env": "development",
        "apps": None,
        "server": SERVER_DEFAULTS,
        "services": {"dbs": {}, "caches": {}, "buses": {}, "redis": {}},
        "logger": {"level": "info", "format": "pretty", "access_log": True, "access_log_health": False,
                   "sinks": [{"type": "console"}]},
        "health": {"expose_details": False, "check_timeout": 2.0},
        "watch": {
            "paths": ["apps", "mega_config.py", ".env"],
            "ignore": ["var/*", "*.pyc", "__pycache__/*", ".mega/*", "tests/*"],
        },
        "lock": LOCK_DEFAULTS,
        "bus": {"driver": None, "nats": None, "prefix": "", "request_timeout": 30.0},
        "migrations": {"allow_pending": False, "check": True},
        "i18n": I18N_DEFAULTS,
        "openapi": OPENAPI_DEFAULTS,
        "metrics": False,  # off unless configured (or MEGA_METRICS_ENABLED)
        "tracing": False,  # off unless configured (or MEGA_OTEL_ENABLED)
        "jobs": {"bus": None, "ack_wait": 30.0, "max_deliver": 5, "heartbeat": None,
                 "stream_prefix": "MEGA_JOBS",
                 "duplicate_window": 120.0, "dlq_max_age": 7 * 86400.0, "dlq_max_bytes": None,
                 "run_timeout": 1800.0, "shutdown_timeout": 10.0},
        "schedules": {"timezone": "UTC", "misfire_grace": 60.0, "shutdown_timeout": 10.0},
        "workers": {},
        "ws_cluster": None,
        "ws_hub": {"host": "0.0.0.0", "port": 3100, "heartbeat": 25.0,
                   "compression": {"enabled": False, "threshold": 1024, "window_bits": 15}},
        "cluster": {"crash_loop_restarts": 5, "crash_loop_window": 60.0, "backoff_max": 30.0,
                    "scrape_timeout": 1.0, "stop_grace": 10.0, "drain_delay": 0.5},
    }
    assert project.settings["lock"] == LockSettings("memory", None, "mega:lock:", 10.0, 5.0, "mega_config.py")


def test_empty_app_config_gets_every_default(make_project: MakeProject) -> None:
    root = make_project()

    app = load_project_config(root, environ={}).apps["web"]

    assert app == AppConfig(
        name="web",
        dir=root.resolve() / "apps" / "web",
        file=root.resolve() / "apps" / "web" / "app_config.py",
        values={
            "hosts": [],
            "default": False,
            "headers": {},
            "middleware": {"before": [], "transform": [], "after": []},
            "lock": LOCK_DEFAULTS,
            "bus": {"driver": None, "nats": None, "prefix": "", "request_timeout": 30.0},
            "session": {
                "secret": None,
                "ttl": 14 * 86400.0,
                "rolling": True,
                "absolute_ttl": None,
                "cookie": {"name": "mega_sid", "secure": None, "samesite": "lax", "domain": None,
                           "path": "/", "httponly": True},
                "store": {"cache": None, "path": "var/sessions", "cleanup_interval": 3600.0, "ttl": None,
                          "prefix": "mega:sess:"},
            },
            "helmet": {},
            "cors": False,
            "csrf": True,
            "rate_limit": {"max": 1000, "window": 60.0, "redis": None, "ipv6_prefix": 64,
                           "key": "ip", "headers": False},
            "i18n": I18N_DEFAULTS,
            "forms": {"max_file_size": 10 * 1024 * 1024, "max_files": 10, "max_fields": 1000,
                      "max_field_size": 256 * 1024, "max_body": 64 * 1024 * 1024, "temp_dir": None},
            "static": {"prefix": "/static/", "max_age": 0, "precompressed": True},
            "views": {"folder": "views", "layout": "layouts/main.html", "auto_reload": None,
                      "error_pages": True},
            "openapi": OPENAPI_DEFAULTS,
            "asp": False,
            "auth": {"login_route": None, "login_path": "/login", "next_param": "next"},
            "ws": {"max_message_bytes": 64 * 1024, "send_buffer_bytes": 1024 * 1024, "allowed_origins": [],
                   "allow_missing_origin": False, "compression": False},
            "bridge_hub": False,
        },
        settings=app.settings,
    )
    assert app.settings["cors"] is None and app.settings["csrf"] is True
    assert app.settings["rate_limit"] == RateLimitSettings(1000, 60.0)
    assert app.settings["session"].store.ttl == 14 * 86400.0  # the session's ttl


def test_app_without_app_config_file_is_an_empty_config(make_project: MakeProject) -> None:
    root = make_project(apps={"web": None})

    app = load_project_config(root, environ={}).apps["web"]

    assert app.file is None
    assert app.values["hosts"] == []
    assert app.values["middleware"] == {"before": [], "transform": [], "after": []}


def test_production_logs_json_without_access_log(make_project: MakeProject) -> None:
    root = make_project("config = {'env': 'production'}")

    logger = load_project_config(root, environ={}).values["logger"]

    assert logger["format"] == "json"
    assert logger["access_log"] is False


def test_given_values_are_kept_and_missing_ones_defaulted(make_project: MakeProject) -> None:
    root = make_project(
        """
        config = {
            'server': {'port': 8080, 'trailing_slash': 'strict', 'shutdown_timeout': 3},
            'logger': {'level': 'debug', 'access_log': False},
            'services': {'caches': {'rate': {'driver': 'redis', 'redis': 'locks'}},
                         'redis': {'locks': {'url': 'redis://y', 'socket_timeout': 2}}},
            'lock': {'redis': 'locks', 'ttl': '30s'},
        }
        """
    )

    values = load_project_config(root, environ={}).values

    assert values["server"] == {
        **SERVER_DEFAULTS,
        "port": 8080,
        "trailing_slash": "strict",
        "shutdown_timeout": 3.0,
    }
    assert values["logger"] == {
        "level": "debug",
        "format": "pretty",
        "access_log": False,
        "access_log_health": False,
        "sinks": [{"type": "console"}],
    }
    assert values["services"] == {
        "dbs": {},
        "caches": {"rate": {"driver": "redis", "redis": "locks"}},
        "buses": {},
        "redis": {"locks": {"url": "redis://y", "socket_timeout": 2}},
    }
    assert values["lock"] == {**LOCK_DEFAULTS, "redis": "locks", "ttl": 30.0}


def test_environment_strings_are_coerced_for_bools_and_numbers(make_project: MakeProject) -> None:
    root = make_project(
        "config = {'logger': {'access_log': 'false'},"
        " 'health': {'expose_details': '1', 'check_timeout': '0.5'}}"
    )

    values = load_project_config(root, environ={}).values

    assert values["logger"]["access_log"] is False
    assert values["health"] == {"expose_details": True, "check_timeout": 0.5}


def test_app_values_are_normalised(make_project: MakeProject) -> None:
    def auth() -> None: ...

    root = make_project(
        apps={
            "web": """
                def auth(req, reply, ctx): ...

                config = {
                    'hosts': ['Example.COM', 'www.example.com', 'example.com'],
                    'default': True,
                    'headers': {'X-Frame-Options': 'DENY'},
                    'middleware': {'before': [auth, 'csrf']},
                    'session': True,
                    'cors': {'origins': ['https://A.example.com:443'], 'methods': ['get', 'POST']},
                }
            """
        }
    )

    values = load_project_config(root, environ={}).apps["web"].values

    assert values["hosts"] == ["example.com", "www.example.com"]  # lowercased, repeat dropped
    assert values["default"] is True
    assert values["headers"] == {"X-Frame-Options": "DENY"}
    assert [getattr(m, "__name__", m) for m in values["middleware"]["before"]] == ["auth", "csrf"]
    assert values["middleware"]["after"] == []
    assert values["session"]["ttl"] == 14 * 86400.0  # True: the defaults
    assert values["cors"]["origins"] == ["https://a.example.com"]  # as browsers send it
    assert values["cors"]["methods"] == ["GET", "POST"]


def test_apps_are_sorted_folders_without_hidden_ones(make_project: MakeProject) -> None:
    root = make_project(apps={"web": None, "admin": None, "api": None})
    (root / "apps" / "__pycache__").mkdir()
    (root / "apps" / ".git").mkdir()
    (root / "apps" / "notes.txt").write_text("not an app")

    project = load_project_config(root, environ={})

    assert list(project.apps) == ["admin", "api", "web"]


def test_whitelist_orders_and_filters_apps(make_project: MakeProject) -> None:
    root = make_project(
        "config = {'apps': ['web', 'admin']}",
        {"admin": None, "api": "this file is not even Python", "web": None},
    )

    project = load_project_config(root, environ={})

    # `api` is not active, so its (broken) app_config.py is never run
    assert list(project.apps) == ["web", "admin"]
    assert project.values["apps"] == ["web", "admin"]


def test_relative_root_is_made_absolute(make_project: MakeProject, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project()
    monkeypatch.chdir(root.parent)

    project = load_project_config(Path(root.name), environ={})

    assert project.root == root.resolve()
    assert project.root.is_absolute()


def test_mutable_defaults_are_fresh_on_every_load(make_project: MakeProject) -> None:
    root = make_project()
    first = load_project_config(root, environ={})
    first.values["watch"]["paths"].append("extra")
    first.values["logger"]["sinks"][0]["type"] = "file"
    first.apps["web"].values["middleware"]["before"].append("x")

    second = load_project_config(root, environ={})

    assert second.values["watch"]["paths"] == ["apps", "mega_config.py", ".env"]
    assert second.values["logger"]["sinks"] == [{"type": "console"}]
    assert second.apps["web"].values["middleware"]["before"] == []


def test_fixture_project_with_two_apps_loads() -> None:
    root = Path(__file__).parents[2] / "fixtures" / "projects" / "config_multi"

    project = load_project_config(root, environ={})

    assert list(project.apps) == ["web", "admin"]
    assert project.values["services"]["redis"]["web_lock"] == {"url": "redis://127.0.0.1:6379/1"}
    assert project.values["bus"] == {"driver": None, "nats": "events", "prefix": "glob.",
                                     "request_timeout": 30.0}
    assert project.apps["web"].values["hosts"] == ["localhost", "127.0.0.1"]
    assert project.apps["web"].values["default"] is True
    assert project.apps["admin"].values["hosts"] == ["admin.localhost"]
    assert project.apps["admin"].values["lock"] == {**LOCK_DEFAULTS, "redis": "web_lock"}
    admin_lock = project.apps["admin"].settings["lock"]
    assert (admin_lock.driver, admin_lock.redis) == ("redis", "web_lock")
    assert admin_lock.file == "apps/admin/app_config.py"
    assert project.apps["web"].settings["bus"].prefix == "web."
    assert project.apps["admin"].settings["bus"] is project.settings["bus"]  # inherits mega_config.py's
