"""The commands end to end: `mega db:generate|migrate|rollback|status` and `mega g model|migration`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import Database, write_models

MEGA = Path(sys.executable).parent / "mega"
USERS = """
class User(Model):
    id = fields.id()
    email = fields.string(255, unique=True)
"""


def mega(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(MEGA), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def _configure(project: Path, database: Database) -> None:
    services = {"dbs": {"primary": database.config}}
    (project / "mega_config.py").write_text(f"config = {{'services': {services!r}}}\n")


def test_generate_needs_no_database(project: Path) -> None:
    (project / "mega_config.py").write_text(
        "config = {'services': {'dbs': {'primary': {'driver': 'postgres', 'url': 'postgresql://nobody@127.0.0.1:1/x'}}}}\n")
    write_models(project, USERS)
    result = mega("db:generate", "create_users", cwd=project)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("created apps/main/migrations/") and lines[0].endswith("_create_users.py")
    assert lines[1] == "  create_table users"
    assert lines[2].startswith("journal .mega/journal/history/") and lines[2].endswith("-create-users.json")
    again = mega("db:generate", "again", cwd=project)
    assert again.returncode == 0
    assert again.stdout == "nothing to change: the models match the journal's snapshot\n"


def test_usage_errors_exit_2(project: Path) -> None:
    write_models(project, USERS)
    bad = mega("db:generate", "x", "--rename", "nope", cwd=project)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: --rename 'nope': expected old:new or table.old:new\nhint: ")
    ghost = mega("db:generate", "x", "--app", "ghost", cwd=project)
    assert ghost.stderr.startswith("error: no app named 'ghost'")
    assert mega("db:migrate", "--alias", "ghost", cwd=project).returncode == 2
    unknown = mega("g", "widget", "X", cwd=project)
    assert unknown.returncode == 2
    assert unknown.stderr == ("error: Unknown generator 'widget'. Supported: adr, app, channel, controller, "
                              "job, locale, middleware, migration, model, route, schedule, service, worker.\n"
                              "code: generate.unknown_kind\n")
    assert not (project / ".mega").exists()


def test_bad_model_fails_generate_without_traceback(project: Path) -> None:
    write_models(project, USERS + "    boss_id = fields.foreign_key('bosses.id')\n")
    result = mega("db:generate", "x", cwd=project)
    assert result.returncode == 1
    assert "User.boss_id: references 'bosses.id': no model has table 'bosses'" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_whole_cycle(project: Path, database: Database) -> None:
    _configure(project, database)
    made = mega("g", "model", "BlogPost", cwd=project)
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines() == ["created apps/main/models/blog_post.py",
                                        "next: add its fields, then mega db:generate create_blog_posts"]
    assert 'table = "blog_posts"' in (project / "apps/main/models/blog_post.py").read_text()
    assert mega("g", "model", "BlogPost", cwd=project).returncode == 2  # exists: not overwritten
    assert mega("db:generate", "create_blog_posts", cwd=project).returncode == 0
    blank = mega("g", "migration", "backfill slugs", cwd=project)
    assert blank.returncode == 0, blank.stderr
    assert blank.stdout.startswith("created apps/main/migrations/")
    assert blank.stdout.endswith("_backfill_slugs.py\n")

    status = mega("db:status", cwd=project)
    assert status.returncode == 0, status.stderr
    rows = [line.split() for line in status.stdout.splitlines()]
    assert rows[0] == ["app", "migration", "status", "applied", "at"]
    assert [r[2] for r in rows[1:3]] == ["pending", "pending"] and rows[3] == ["2", "pending"]

    migrate = mega("db:migrate", cwd=project)
    assert migrate.returncode == 0, migrate.stderr
    lines = migrate.stdout.splitlines()
    assert len(lines) == 2  # one line per migration
    assert lines[0].startswith("up   main/") and "_create_blog_posts (1 step, " in lines[0]
    assert "_backfill_slugs (0 steps, " in lines[1]
    assert mega("db:migrate", cwd=project).stdout == "nothing to migrate\n"

    status = mega("db:status", cwd=project)
    assert [line.split()[2] for line in status.stdout.splitlines()[1:3]] == ["applied", "applied"]
    rollback = mega("db:rollback", "--step", "2", cwd=project)
    assert rollback.returncode == 0, rollback.stderr
    assert [line[:5] for line in rollback.stdout.splitlines()] == ["down ", "down "]
    assert "_backfill_slugs" in rollback.stdout.splitlines()[0]


@pytest.mark.parametrize("processes", [2])
def test_two_processes_migrate_once(project: Path, database: Database, processes: int) -> None:
    _configure(project, database)
    write_models(project, USERS)
    assert mega("db:generate", "create_users", cwd=project).returncode == 0
    for n in range(3):
        (project / f"apps/main/migrations/2099010100000{n}_extra_{n}.py").write_text(
            f"import time\n\n\ndef up(schema):\n    time.sleep(0.2)\n    schema.execute('SELECT {n}')\n")
    procs = [subprocess.Popen([str(MEGA), "db:migrate"], cwd=project, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(processes)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * processes, outputs
    applied = [line.split()[1] for out, _ in outputs for line in out.splitlines() if line.startswith("up ")]
    assert len(applied) == 4 and len(set(applied)) == 4  # each migration ran in exactly one process
