"""`mega g KIND NAME`, as a user runs it: each kind's files and test in a new project, `mega test` green
afterwards; bad names, existing files, --force, --dry-run, unknown kinds and apps refused or honoured."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from .conftest import mega

pytestmark = pytest.mark.integration

KINDS = {
    # kind: (NAME, files written, tests `mega test` runs on top of the two of tests/test_home.py)
    "controller": ("UserProfile", ["apps/main/controllers/user_profile_controller.py",
                                   "tests/test_main_user_profile_controller.py"], 1),
    "service": ("Billing", ["apps/main/services/billing.py", "tests/test_main_billing_service.py"], 1),
    "middleware": ("audit", ["apps/main/middlewares/audit.py", "tests/test_main_audit_middleware.py"], 1),
    "route": ("posts", ["apps/main/controllers/posts_controller.py", "tests/test_main_posts_controller.py",
                        "apps/main/routes/posts.py", "tests/test_main_posts_route.py"], 2),
    "app": ("admin", [*(f"apps/admin/{d}/.gitkeep" for d in ("controllers", "locales/server", "middlewares",
                                                            "migrations", "models", "public", "services",
                                                            "views")),
                      "apps/admin/app_config.py", "apps/admin/routes/home.py", "tests/test_admin_app.py"], 1),
    # The app's first catalog brings the default locale's (en) beside it: i18n needs that one to boot.
    "locale": ("ko", ["apps/main/locales/server/en.json", "tests/test_main_locale_en.py",
                      "apps/main/locales/server/ko.json", "tests/test_main_locale_ko.py"], 2),
    "adr": ("Use PostgreSQL", ["docs/adr/0001-use-postgresql.md"], 0),
    "job": ("SendMailJob", ["apps/main/jobs/send_mail.py", "tests/test_main_send_mail_job.py"], 1),
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `mega new p` per module; each test works on a copy of it."""
    parent = tmp_path_factory.mktemp("template")
    made = mega("new", "p", cwd=parent)
    assert made.returncode == 0, made.stderr
    return parent / "p"


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "p", symlinks=True))


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def run_tests(project: Path) -> tuple[int, str]:
    run = mega("test", "-q", "-p", "no:cacheprovider", cwd=project, timeout=180)
    return run.returncode, run.stdout + run.stderr


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_passes_its_own_test(project: Path, kind: str) -> None:
    name, written, tests = KINDS[kind]
    before = files_of(project)
    made = mega("g", kind, name, cwd=project)
    assert made.returncode == 0, made.stderr
    assert sorted(line for line in made.stdout.splitlines() if line.startswith("created ")) == [
        f"created {path}" for path in sorted(written)]
    assert sorted(set(files_of(project)) - set(before)) == sorted(written)
    for path in written:
        assert "{{" not in (project / path).read_text(), path
    code, output = run_tests(project)
    assert code == 0, output
    assert f"{2 + tests} passed" in output, output


def test_every_kind_together_then_a_broken_handler_fails_its_test(project: Path) -> None:
    for kind in sorted(KINDS, key=lambda k: k == "app"):  # the app last: then main is no longer the only one
        made = mega("g", kind, KINDS[kind][0], cwd=project)
        assert made.returncode == 0, (kind, made.stderr)
    # `mega g controller` then `mega g route` of one name: the route uses the controller as generated.
    again = mega("g", "controller", "posts", "--app", "main", cwd=project)
    assert again.returncode == 2 and "code: generate.file_exists" in again.stderr
    code, output = run_tests(project)
    assert code == 0, output
    assert f"{2 + sum(t for _, _, t in KINDS.values())} passed" in output, output

    handler = project / "apps/main/controllers/posts_controller.py"
    handler.write_text(handler.read_text().replace('"controller": "posts"', '"controller": "other"'))
    code, output = run_tests(project)
    assert code == 1, output
    assert "2 failed" in output, output  # the controller's own test and the route's test over HTTP


def test_a_controller_first_then_its_route(project: Path) -> None:
    assert mega("g", "controller", "Post", cwd=project).returncode == 0
    routed = mega("g", "route", "post", cwd=project)
    assert routed.returncode == 0, routed.stderr
    assert routed.stdout.splitlines() == [
        "identical apps/main/controllers/post_controller.py",
        "identical tests/test_main_post_controller.py",
        "created apps/main/routes/post.py",
        "created tests/test_main_post_route.py",
    ]
    # An edited controller is the user's: the route generator refuses to replace it.
    controller = project / "apps/main/controllers/post_controller.py"
    controller.write_text(controller.read_text() + "\n# edited\n")
    (project / "apps/main/routes/post.py").unlink()
    again = mega("g", "route", "post", cwd=project)
    assert again.returncode == 2
    assert again.stderr.startswith("error: apps/main/controllers/post_controller.py, "
                                   "tests/test_main_post_route.py already exist: nothing was written\n")
    assert not (project / "apps/main/routes/post.py").exists()


def test_names_are_spelled_per_kind(project: Path) -> None:
    assert mega("g", "service", "PaymentGatewayService", cwd=project).returncode == 0
    text = (project / "apps/main/services/payment_gateway.py").read_text()
    assert "class PaymentGateway:" in text and "ctx.services.payment_gateway" in text
    assert mega("g", "controller", "HTTPStatusController", cwd=project).returncode == 0
    controller = project / "apps/main/controllers/http_status_controller.py"
    assert "class HttpStatusController:" in controller.read_text()
    assert mega("g", "route", "user-profile", cwd=project).returncode == 0
    assert 'router.get("/user-profile", UserProfileController.index)' in (
        project / "apps/main/routes/user_profile.py").read_text()
    assert mega("g", "locale", "pt-br", cwd=project).returncode == 0
    assert (project / "apps/main/locales/server/pt_BR.json").is_file()
    # pt-BR.json and pt_BR.json are one locale: a catalog under the other spelling counts as existing.
    (project / "apps/main/locales/server/pt_BR.json").rename(project / "apps/main/locales/server/pt-BR.json")
    again = mega("g", "locale", "pt_BR", cwd=project)
    assert again.returncode == 2
    assert again.stderr.startswith("error: apps/main/locales/server/pt-BR.json already exists: nothing was "
                                   "written\n")


@pytest.mark.parametrize(("args", "why"), [
    (["controller", "9bad"], "invalid controller name '9bad': it must start with a letter"),
    (["service", "bad.name"], "invalid service name 'bad.name': it may hold only letters, digits, '_' and "
                              "'-' ('.' is not allowed)"),
    (["middleware", "class"], "invalid middleware name 'class': 'class' is a Python keyword"),
    (["route", "apps"], "invalid route name 'apps': 'apps' is reserved: it is the project's package of apps"),
    (["controller", "x" * 65], "it is longer than 64 characters"),
    (["locale", "english"], "invalid locale name 'english': a locale is a language tag"),
    (["adr", "Use Postgres!"], "invalid adr name 'Use Postgres!': it may hold only letters, digits, spaces"),
])
def test_an_invalid_name_exits_2_and_writes_nothing(project: Path, args: list[str], why: str) -> None:
    before = files_of(project)
    result = mega("g", *args, cwd=project)
    assert result.returncode == 2
    assert result.stderr.startswith("error: "), result.stderr
    assert why in result.stderr.splitlines()[0]
    assert f"hint: e.g. mega g {args[0]} " in result.stderr
    assert result.stderr.endswith("code: generate.invalid_name\n")
    assert result.stdout == ""
    assert files_of(project) == before


def test_an_existing_file_is_refused_and_nothing_is_written(project: Path) -> None:
    before = files_of(project)
    result = mega("g", "service", "greeting", cwd=project)
    assert result.returncode == 2
    assert result.stderr == (
        "error: apps/main/services/greeting.py already exists: nothing was written\n"
        "hint: pass --force to overwrite, or choose another name (--dry-run shows what would be written)\n"
        "code: generate.file_exists\n")
    assert files_of(project) == before  # its test, which did not exist, was not written either


def test_force_overwrites(project: Path) -> None:
    result = mega("g", "service", "greeting", "--force", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["overwrote apps/main/services/greeting.py",
                                          "created tests/test_main_greeting_service.py"]
    assert "def describe(self):" in (project / "apps/main/services/greeting.py").read_text()
    assert not [p for p in (project / "apps/main/services").iterdir() if p.name.startswith(".")]


def test_dry_run_writes_nothing(project: Path) -> None:
    before = files_of(project)
    result = mega("g", "service", "greeting", "--dry-run", "--force", cwd=project)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["would overwrite apps/main/services/greeting.py",
                                          "would create tests/test_main_greeting_service.py",
                                          "dry run: nothing was written"]
    result = mega("g", "app", "admin", "--dry-run", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "would create apps/admin/app_config.py" in result.stdout.splitlines()
    assert files_of(project) == before
    # A dry run still refuses what a real run would refuse.
    refused = mega("g", "service", "greeting", "--dry-run", cwd=project)
    assert refused.returncode == 2 and refused.stderr.endswith("code: generate.file_exists\n")


def test_an_unknown_kind_lists_the_kinds(project: Path) -> None:
    result = mega("g", "widget", "X", cwd=project)
    assert result.returncode == 2
    assert result.stderr == ("error: Unknown generator 'widget'. Supported: adr, app, channel, controller, "
                             "job, locale, middleware, migration, model, route, schedule, service, worker.\n"
                             "code: generate.unknown_kind\n")
    later = mega("g", "adapter", "chat", cwd=project)
    assert later.returncode == 2
    assert later.stderr.startswith("error: mega g adapter is not built yet: it comes with plugins"
                                   "\nhint: the generators that exist: adr, app, channel, controller, ")
    assert later.stderr.endswith("code: generate.not_built\n")


def test_the_app_must_exist_and_be_named_when_there_are_several(project: Path) -> None:
    unknown = mega("g", "controller", "Post", "--app", "shop", cwd=project)
    assert unknown.returncode == 2
    assert unknown.stderr == ("error: no app named 'shop'\nhint: apps: main (mega g app shop creates it)\n"
                              "code: generate.unknown_app\n")
    assert mega("g", "app", "admin", cwd=project).returncode == 0
    which = mega("g", "controller", "Post", cwd=project)
    assert which.returncode == 2
    assert which.stderr == ("error: which app? the project has 2 apps: admin, main\nhint: pass --app APP\n"
                            "code: generate.app_required\n")
    made = mega("g", "route", "Post", "--app", "admin", cwd=project)
    assert made.returncode == 0, made.stderr
    route_test = (project / "tests/test_admin_post_route.py").read_text()
    assert route_test.count('client_for("admin.localhost")') == 1
    code, output = run_tests(project)
    assert code == 0, output
    assert "5 passed" in output, output  # home (2), the admin app, the controller and the route over HTTP


def test_a_locale_copies_the_keys_and_its_test_catches_a_drift(project: Path) -> None:
    catalogs = project / "apps/main/locales/server"
    (catalogs / "en.json").write_text(json.dumps({"nav": {"home": "Home"}, "hello": "Hello, {name}"}))
    made = mega("g", "locale", "ko", cwd=project)
    assert made.returncode == 0, made.stderr
    assert "next: translate its values (copied from apps/main/locales/server/en.json)" in made.stdout
    assert json.loads((catalogs / "ko.json").read_text()) == {"nav": {"home": "Home"},
                                                              "hello": "Hello, {name}"}
    assert run_tests(project)[0] == 0
    (catalogs / "en.json").write_text(json.dumps({"nav": {"home": "Home", "about": "About"}, "hello": "Hi"}))
    code, output = run_tests(project)
    assert code == 1
    assert "en.json and ko.json differ: only in en.json: ['nav.about']" in output, output

    (catalogs / "fr.json").write_text('{"hello": }')
    broken = mega("g", "locale", "de", cwd=project)  # copies en.json: fr.json is not read
    assert broken.returncode == 0, broken.stderr
    (catalogs / "en.json").unlink()
    (catalogs / "de.json").unlink()
    bad = mega("g", "locale", "de", cwd=project)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: apps/main/locales/server/fr.json, line 1: Expecting value")
    assert bad.stderr.endswith("code: generate.invalid_catalog\n")


def test_adrs_are_numbered_after_the_highest(project: Path) -> None:
    adrs = project / "docs/adr"
    adrs.mkdir(parents=True)
    (adrs / "0007-keep-it-small.md").write_text("# 7. Keep it small\n")
    made = mega("g", "adr", "use-nats-for-the-bus", cwd=project)
    assert made.returncode == 0, made.stderr
    assert made.stdout == "created docs/adr/0008-use-nats-for-the-bus.md\n"
    text = (adrs / "0008-use-nats-for-the-bus.md").read_text()
    assert text.startswith("# 0008. Use nats for the bus\n")
    for section in ("## Status", "## Context", "## Decision", "## Consequences"):
        assert section in text


def test_a_job_name_is_checked_and_an_existing_job_refused_unless_forced(project: Path) -> None:
    bad = mega("g", "job", "send mail", cwd=project)
    assert bad.returncode == 2 and bad.stderr.endswith("code: generate.invalid_name\n")
    assert not (project / "apps/main/jobs").exists()
    made = mega("g", "job", "send_mail", cwd=project)
    assert made.returncode == 0 and "mega worker" in made.stdout
    assert 'subject = "main.send_mail"' in (project / "apps/main/jobs/send_mail.py").read_text()
    again = mega("g", "job", "send_mail", cwd=project)
    assert again.returncode == 2 and again.stderr.endswith("code: generate.file_exists\n")
    forced = mega("g", "job", "send_mail", "--force", cwd=project)
    assert forced.returncode == 0
