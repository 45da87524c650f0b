"""Uploaded files: spooled to a per-request temp dir, exposed read-only, removed when the request ends."""

from __future__ import annotations

import os
import shutil
import tempfile
import unicodedata
import weakref
from pathlib import Path
from typing import IO, Any

__all__ = ["MAX_FILENAME", "Spool", "UploadedFile", "sanitize_filename"]

MAX_FILENAME = 200  # characters; most filesystems stop at 255 bytes
PREFIX = "mega-upload-"


def sanitize_filename(raw: str) -> str:
    """The client's filename made safe to show and to store: its last path part only, no control or
    format characters, no leading dots, at most MAX_FILENAME characters (the extension kept); "" when
    nothing is left."""
    name = unicodedata.normalize("NFC", raw)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]  # browsers on Windows may send C:\dir\file
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().lstrip(".").strip()
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        if dot and stem and 0 < len(ext) <= 16:
            name = stem[: MAX_FILENAME - len(ext) - 1].rstrip() + "." + ext
        else:
            name = name[:MAX_FILENAME]
    return name


class UploadedFile:
    """One uploaded file, already on disk. `filename` is sanitised (the raw one is never exposed);
    `path` is the temp file, deleted when the request ends unless moved away with `move_to`."""

    __slots__ = ("content_type", "field", "filename", "headers", "path", "size")

    def __init__(self, field: str, filename: str, content_type: str, size: int, path: Path,
                 headers: dict[str, str]) -> None:
        self.field = field
        self.filename = filename
        self.content_type = content_type
        self.size = size
        self.path = path
        self.headers = headers

    def open(self) -> IO[bytes]:
        """The file for reading (binary); close it, or use it in a `with` block."""
        return self.path.open("rb")

    def read(self) -> bytes:
        """The whole content: for small files only (it is read into memory)."""
        return self.path.read_bytes()

    def move_to(self, destination: str | os.PathLike[str]) -> Path:
        """Move the file to `destination` (a file path, or a directory to keep the sanitised name in);
        it is then the caller's and is not deleted with the request. Returns the new path."""
        target = Path(destination)
        if target.is_dir():
            target = target / (self.filename or self.path.name)
        moved = Path(shutil.move(str(self.path), str(target)))
        self.path = moved
        return moved

    def metadata(self) -> dict[str, Any]:
        """What a `form=` JSON Schema sees of the file."""
        return {"filename": self.filename, "content_type": self.content_type, "size": self.size}

    def __repr__(self) -> str:
        return f"UploadedFile({self.field!r}, {self.filename!r}, {self.content_type!r}, size={self.size})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """Lets a pydantic `form=` model declare `photo: UploadedFile`."""
        from pydantic_core import core_schema

        return core_schema.is_instance_schema(cls)

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        """A file in a multipart body, as OpenAPI writes it."""
        return {"type": "string", "format": "binary"}


class Spool:
    """The temp dir of one request's uploads, made when the first file arrives. `discard()` removes
    it with everything still in it; the request pipeline calls it when the response is sent."""

    __slots__ = ("__weakref__", "_count", "_dir", "_removal", "_root")

    def __init__(self, root: str) -> None:
        self._root = root
        self._dir: str | None = None
        self._removal: weakref.finalize[Any, Any] | None = None
        self._count = 0

    def new_file(self) -> tuple[Path, IO[bytes]]:
        if self._dir is None:
            os.makedirs(self._root, exist_ok=True)
            self._dir = tempfile.mkdtemp(prefix=PREFIX, dir=self._root)
            # A Request used outside the pipeline (which calls discard) still loses its files with it.
            self._removal = weakref.finalize(self, shutil.rmtree, self._dir, True)
        self._count += 1
        path = Path(self._dir) / f"{self._count}.upload"
        # O_EXCL in a dir only this process created: nothing can be there before us.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        return path, os.fdopen(fd, "wb")

    def discard(self) -> None:
        if self._removal is not None:
            self._removal()  # rmtree(dir, ignore_errors=True), once
            self._removal = None
            self._dir = None

    @property
    def directory(self) -> str | None:
        return self._dir
