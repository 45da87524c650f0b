"""PublicFolder's caches: one version per file version, bounded whatever names clients make up."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mega.static import _files
from mega.static._files import PublicFolder, hashed_name


def folder(tmp_path: Path) -> PublicFolder:
    public = tmp_path / "public"
    (public / "css").mkdir(parents=True)
    (public / "css/app.css").write_text("body {}\n")
    (public / "loop").symlink_to(public)  # one file, endless names
    return PublicFolder(str(public))


def test_a_version_is_built_once_and_rebuilt_when_the_file_changes(tmp_path: Path) -> None:
    files = folder(tmp_path)
    first = files.find("css/app.css")
    assert first is not None and files.find("css/app.css") is first
    (tmp_path / "public/css/app.css").write_text("body { margin: 0 }\n")
    second = files.find("css/app.css")
    assert second is not None and second is not first and second.etag != first.etag
    assert second.body == b"body { margin: 0 }\n"


def test_made_up_names_do_not_grow_the_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_files, "MAX_ENTRIES", 8)
    files = folder(tmp_path)
    for depth in range(1, 30):
        assert files.find("loop/" * depth + "css/app.css") is not None
    assert len(files._versions) == 8
    version = files.find("css/app.css")
    assert version is not None
    for i in range(100):
        found = files.find_hashed(f"css/app.{i:010x}.css")
        assert found is not None and found[1] is False  # served, not immutable
    assert files._aliases == {}
    current = hashed_name("css/app.css", files.content_hash(version))
    assert files.find_hashed(current) == (version, True)
    assert list(files._aliases) == [current]
    assert files._in_memory == sum(v.size for v in files._versions.values() if v.body is not None)


def test_siblings_older_than_their_file_are_ignored(tmp_path: Path) -> None:
    files = folder(tmp_path)
    css = tmp_path / "public/css/app.css"
    (tmp_path / "public/css/app.css.gz").write_bytes(b"gz")
    (tmp_path / "public/css/app.css.br").write_bytes(b"br")
    old = os.stat(css).st_mtime_ns - 5_000_000_000
    os.utime(tmp_path / "public/css/app.css.br", ns=(old, old))
    later = os.stat(css).st_mtime_ns + 5_000_000_000
    os.utime(tmp_path / "public/css/app.css.gz", ns=(later, later))
    version = files.find("css/app.css")
    assert version is not None and [coding for coding, _ in version.encoded] == [b"gzip"]
