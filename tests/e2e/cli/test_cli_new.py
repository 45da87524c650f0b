"""`mega new`: a runnable project whose own tests pass; bad names and taken directories are refused."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mega import __version__
from mega.cli._new import project_tokens, version_bound

from .conftest import mega

EXPECTED_FILES = {
    "mega_config.py",
    ".env",
    ".env.example",
    ".gitignore",
    "README.md",
    "pytest.ini",
    "pyproject.toml",
    "apps/main/app_config.py",
    "apps/main/routes/home.py",
    "apps/main/controllers/home_controller.py",
    "apps/main/services/greeting.py",
    "tests/test_home.py",
    *(
        f"apps/main/{d}/.gitkeep"
        for d in ("middlewares", "models", "migrations", "views", "locales/server", "public")
    ),
}


def test_new_creates_a_project(project: Path) -> None:
    files = {p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()}
    assert files >= EXPECTED_FILES
    assert "{{" not in "".join((project / f).read_text() for f in EXPECTED_FILES)
    assert "PORT=3000" in (project / ".env.example").read_text()
    assert "Hello from demo" in (project / "apps/main/services/greeting.py").read_text()
    assert not [p for p in project.parent.iterdir() if p.name.startswith(".")]  # no staging dir left


def _env_lines(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if line and line[0] != "#")


def test_the_env_gets_a_random_session_secret_and_the_example_a_placeholder(project: Path,
                                                                           tmp_path: Path) -> None:
    env, example = _env_lines(project / ".env"), _env_lines(project / ".env.example")
    assert example["SESSION_SECRET"] == ""  # a placeholder: empty counts as unset, never a usable secret
    assert len(env["SESSION_SECRET"]) >= 40 and env["SESSION_SECRET"].isascii()
    assert {k: v for k, v in env.items() if k != "SESSION_SECRET"} == {
        k: v for k, v in example.items() if k != "SESSION_SECRET"}
    assert "secrets.token_urlsafe" in (project / ".env.example").read_text()  # how to make one
    assert (project / ".env").stat().st_mode & 0o077 == 0  # a secret: readable by its owner only
    assert mega("new", "other", cwd=tmp_path).returncode == 0
    assert _env_lines(tmp_path / "other" / ".env")["SESSION_SECRET"] != env["SESSION_SECRET"]


def test_the_generated_readme_links_no_package_index(project: Path) -> None:
    # `mega` on a package index is another project with the same name.
    text = (project / "README.md").read_text()
    assert "pypi.org" not in text and "](http" not in text


def test_the_project_pyproject_names_mega_with_a_version_bound(project: Path) -> None:
    meta = tomllib.loads((project / "pyproject.toml").read_text())
    bound = version_bound(__version__)
    assert meta["project"]["name"] == "demo"
    assert meta["project"]["dependencies"] == [f"mega{bound}"]
    assert meta["project"]["optional-dependencies"] == {"test": [f"mega[test]{bound}"]}
    assert meta["build-system"]["build-backend"] == "hatchling.build"
    assert "mega[postgres]" in (project / "pyproject.toml").read_text()  # the commented extras line


@pytest.mark.parametrize(("version", "bound"), [("0.1.0", ">=0.1.0,<0.2"), ("0.12.3", ">=0.12.3,<0.13"),
                                                ("1.4.2", ">=1.4.2,<2"), ("2.0.0rc1", ">=2.0.0rc1,<3")])
def test_the_version_bound_stops_before_the_next_breaking_release(version: str, bound: str) -> None:
    assert version_bound(version) == bound


def test_a_name_with_edge_underscores_is_a_valid_distribution_name() -> None:
    assert project_tokens("_my_site_")["dist_name"] == "my_site"
    assert project_tokens("_")["dist_name"] == "project"


def test_the_new_project_passes_its_tests(project: Path) -> None:
    result = mega("test", "-q", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_mega_test_passes_arguments_and_exit_code(project: Path) -> None:
    result = mega("test", "-q", "-k", "no_such_test", cwd=project)
    assert result.returncode == 5  # pytest: no tests collected
    assert "2 deselected" in result.stdout


def test_new_into_an_existing_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "site").mkdir()
    result = mega("new", "site", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "mega_config.py").is_file()


@pytest.mark.parametrize("name", ["1abc", "my app", "a/b", "héllo", "..", "a.b"])
def test_bad_name_exits_2_and_creates_nothing(tmp_path: Path, name: str) -> None:
    result = mega("new", name, cwd=tmp_path)
    assert result.returncode == 2
    assert f"invalid project name {name!r}" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_existing_non_empty_directory_exits_2_and_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    result = mega("new", "taken", cwd=tmp_path)
    assert result.returncode == 2
    assert "already exists and is not empty" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["keep.txt"]


def test_dir_option_and_missing_parent(tmp_path: Path) -> None:
    (tmp_path / "parent").mkdir()
    result = mega("new", "x", "--dir", str(tmp_path / "parent"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "parent" / "x" / "mega_config.py").is_file()
    result = mega("new", "y", "--dir", str(tmp_path / "missing"), cwd=tmp_path)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
