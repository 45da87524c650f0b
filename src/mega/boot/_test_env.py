"""A boot inside a test run: the run's databases and key prefix in place of the development ones.

`mega test` and mega's pytest plugin prepare a run (`mega.testing._databases`) and pass it in the
environment as MEGA_TEST_RUN (JSON). A boot with env 'test' that finds a run for its project lays it
over the validated config, right after the config stage:

- `services.dbs.<alias>`: the run's test database (`<name>_test` on a server, a file of the run for
  SQLite);
- every cache's prefix and each redis lock's prefix start with the run's prefix (sessions are kept
  in a cache), so the run's keys never meet the development ones or another run's, and the run can
  delete them;
- `file` caches and the built-in session files live in the run's directory.

Without MEGA_TEST_RUN a boot is left as it is, whatever its env (mega's own tests boot projects
that way on purpose).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mega.errors import MegaError

if TYPE_CHECKING:
    from mega.boot.runtime import Runtime

ENV_VAR = "MEGA_TEST_RUN"
SERVER_DRIVERS = ("postgres", "maria")


@dataclass(frozen=True)
class TestRun:
    """One test run of a project: its directory, its key prefix and, per SQL alias, its test database
    (`{"database": name}` on a server, `{"path": file}` for SQLite)."""

    __test__ = False  # not a test class, whatever pytest thinks of the name

    root: str
    directory: str
    prefix: str
    dbs: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_env(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_env(cls, raw: str) -> TestRun:
        try:
            data = json.loads(raw)
            return cls(str(data["root"]), str(data["directory"]), str(data["prefix"]),
                       {str(k): dict(v) for k, v in data.get("dbs", {}).items()})
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise MegaError("boot.invalid_test_run", f"{ENV_VAR} is not a test run written by mega: {exc}",
                            hint=f"unset {ENV_VAR}; `mega test` and mega's pytest plugin set it") from exc


def active_run(root: Path, env: str, environ: Any) -> TestRun | None:
    """The run a boot of `root` in `env` belongs to, if any."""
    raw = environ.get(ENV_VAR) if env == "test" else None
    if not raw:
        return None
    run = TestRun.from_env(raw)
    return run if run.root == str(root) else None


def database_options(entry: dict[str, Any], test_db: dict[str, str]) -> dict[str, Any]:
    """The options of `services.dbs.<alias>` (`entry`) moved to its test database."""
    options = dict(entry)
    if "path" in test_db:  # SQLite: the run's file, the other options kept
        options.pop("url", None)
        options["path"] = test_db["path"]
        return options
    if options.get("url") is not None:
        from sqlalchemy.engine import make_url

        url = make_url(str(options["url"])).set(database=test_db["database"])
        options["url"] = url.render_as_string(hide_password=False)
    else:
        options["database"] = test_db["database"]
    return options


def apply_test_run(rt: Runtime) -> None:
    """Lay the run of MEGA_TEST_RUN over `rt.config` (nothing without one): see the module's doc."""
    run = active_run(rt.root, rt.env, rt.environ)
    if run is None:
        return
    values = rt.config.values
    services = dict(values.get("services") or {})
    dbs = dict(services.get("dbs") or {})
    for alias, test_db in run.dbs.items():
        dbs[alias] = database_options(dbs.get(alias) or {"driver": "sqlite"}, test_db)
    services["dbs"] = dbs
    services["caches"] = {alias: _cache(alias, entry, run)
                          for alias, entry in (services.get("caches") or {}).items()}
    values["services"] = services
    for app in rt.config.apps.values():
        lock = app.settings.get("lock")
        if lock is not None and lock.driver == "redis":
            app.settings["lock"] = dataclasses.replace(lock, prefix=run.prefix + lock.prefix)
        session = app.settings.get("session")
        if session is not None and session.store.cache is None:  # a named cache has the run's prefix
            path = str(Path(run.directory, "sessions", app.name))
            app.settings["session"] = dataclasses.replace(session, store=dataclasses.replace(session.store,
                                                                                               path=path))


def _cache(alias: str, entry: dict[str, Any], run: TestRun) -> dict[str, Any]:
    options = dict(entry)
    options["prefix"] = run.prefix + str(options.get("prefix") or "")
    if options.get("driver") == "file":
        options["path"] = str(Path(run.directory, "caches", alias))
    return options
