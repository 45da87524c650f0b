"""`mega routes`: the table and the JSON list; a bad config is reported without a traceback."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import mega


def test_routes_json(project: Path) -> None:
    result = mega("routes", "--json", cwd=project)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        {
            "app": "main",
            "methods": ["GET", "HEAD"],
            "path": "/",
            "handler": "apps.main.controllers.home_controller.HomeController.index",
            "middleware": {},
        },
        # OpenAPI is on in development: its document, docs page and the page's assets
        {"app": "main", "methods": ["GET", "HEAD"], "path": "/openapi.json",
         "handler": "openapi: the OpenAPI document", "middleware": {}},
        {"app": "main", "methods": ["GET", "HEAD"], "path": "/docs", "handler": "openapi: the API docs page",
         "middleware": {}},
        {"app": "main", "methods": ["GET", "HEAD"], "path": "/docs/assets/{asset}",
         "handler": "openapi: the docs page's scripts and styles", "middleware": {}},
        {  # `mega new` makes public/: its files are served under /static/
            "app": "main",
            "methods": ["GET", "HEAD"],
            "path": "/static/{path:path}",
            "handler": "static files of apps/main/public/",
            "middleware": {},
        },
    ]


def test_routes_table(project: Path) -> None:
    result = mega("routes", cwd=project)
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()[:2]
    assert header.split() == ["app", "methods", "path", "handler", "middleware"]
    handler = "apps.main.controllers.home_controller.HomeController.index"
    assert row.split() == ["main", "GET,HEAD", "/", handler]


def test_bad_config_exits_2_with_every_problem(fresh_project: Path) -> None:
    (fresh_project / "mega_config.py").write_text('config = {"sever": {}, "hosts": ["a.com"]}\n')
    result = mega("routes", cwd=fresh_project)
    assert result.returncode == 2
    assert result.stdout == ""
    err = result.stderr
    assert "boot failed at stage 'config': 2 config problems" in err
    assert (
        "mega_config.py, key 'sever': unknown key 'sever' in mega_config.py — did you mean 'server'?" in err
    )
    assert "mega_config.py, key 'hosts': 'hosts' belongs in apps/main/app_config.py" in err
    assert "hint: move 'hosts' to apps/main/app_config.py" in err
    assert "Traceback" not in err

    debug = mega("--debug", "routes", cwd=fresh_project)
    assert debug.returncode == 2
    assert "Traceback (most recent call last)" in debug.stderr
    assert "did you mean 'server'?" in debug.stderr


def test_bad_feature_sections_in_two_files_are_all_listed_and_exit_2(fresh_project: Path) -> None:
    (fresh_project / "mega_config.py").write_text('config = {"lock": {"ttl": "5 parsecs"}}\n')
    (fresh_project / "apps/main/app_config.py").write_text(
        'config = {"cors": {"origins": ["a.com"]}, "rate_limit": {"max": 10, "windw": "1m"}}\n'
    )
    result = mega("routes", cwd=fresh_project)
    assert result.returncode == 2
    assert result.stdout == ""
    err = result.stderr
    assert "boot failed at stage 'config': 4 config problems" in err
    assert ("mega_config.py, key 'lock.ttl': lock.ttl must be a duration > 0 (seconds, or a string like "
            "'30s', '5m', '1h'), got '5 parsecs'") in err
    assert "apps/main/app_config.py, key 'cors.origins[0]': cors.origins[0] 'a.com' has no scheme" in err
    assert "hint: write https://a.com" in err
    assert ("apps/main/app_config.py, key 'rate_limit.windw': unknown key 'rate_limit.windw' in "
            "apps/main/app_config.py — did you mean 'rate_limit.window'?") in err
    assert "apps/main/app_config.py, key 'rate_limit.window': rate_limit.window is required" in err
    assert "Traceback" not in err


def test_broken_route_file_exits_1(fresh_project: Path) -> None:
    route_file = fresh_project / "apps/main/routes/home.py"
    route_file.write_text("def routes(router):\n    router.get('/', nothere)\n")
    result = mega("routes", cwd=fresh_project)
    assert result.returncode == 1
    assert "boot failed at stage 'apps'" in result.stderr
    assert "nothere" in result.stderr
    assert "Traceback" not in result.stderr


def test_routes_leave_out_openapi_when_it_is_off(fresh_project: Path) -> None:
    (fresh_project / "apps/main/app_config.py").write_text("config = {'openapi': False}\n")
    result = mega("routes", "--json", cwd=fresh_project)
    assert result.returncode == 0, result.stderr
    assert [row["path"] for row in json.loads(result.stdout)] == ["/", "/static/{path:path}"]
