"""`mega g schedule` and `mega g worker`: the file and its test, green under `mega test`; an existing
file or a bad name exits 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from .conftest import mega

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parent = tmp_path_factory.mktemp("template")
    made = mega("new", "p", cwd=parent)
    assert made.returncode == 0, made.stderr
    return parent / "p"


@pytest.fixture
def project(template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(template, tmp_path / "p", symlinks=True))


@pytest.mark.parametrize(("kind", "name", "files"), [
    ("schedule", "NightlyReport", ["apps/main/schedules/nightly_report.py",
                                   "tests/test_main_nightly_report_schedule.py"]),
    ("worker", "resize", ["apps/main/workers/resize.py", "tests/test_main_resize_worker.py"]),
])
def test_the_file_and_its_passing_test(project: Path, kind: str, name: str, files: list[str]) -> None:
    made = mega("g", kind, name, "--app", "main", cwd=project)
    assert made.returncode == 0, made.stderr
    for rel in files:
        assert (project / rel).is_file(), rel
        assert f"created {rel}" in made.stdout
    assert "next:" in made.stdout
    run = mega("test", "-q", "-p", "no:cacheprovider", files[1], cwd=project, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 passed" in run.stdout

    again = mega("g", kind, name, cwd=project)
    assert again.returncode == 2 and "code: generate.file_exists" in again.stderr
    forced = mega("g", kind, name, "--force", cwd=project)
    assert forced.returncode == 0 and f"overwrote {files[0]}" in forced.stdout


@pytest.mark.parametrize("kind", ["schedule", "worker"])
@pytest.mark.parametrize("name", ["class", "bad name!", "9lives"])
def test_a_bad_name_exits_2(project: Path, kind: str, name: str) -> None:
    made = mega("g", kind, name, cwd=project)
    assert made.returncode == 2
    assert "code: generate.invalid_name" in made.stderr
    assert not (project / "apps/main" / f"{kind}s").exists()
