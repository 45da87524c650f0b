"""An app's public folder: safe lookups of request paths, one cached `FileVersion` per file version,
content hashes for `static_url`.

A request path is confined to the folder by `mega.http._paths.confine` (the same check as
`reply.file(name, root=...)`): None, so the caller answers 404, for "..", dotfiles, backslashes, NUL
and symlinks that leave the folder. Nothing is decoded here: the server decoded the URL once, so
"%252e" arrives as the literal name "%2e" and simply does not exist.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import stat
from dataclasses import dataclass
from email.utils import formatdate

from mega.http._paths import confine, folder

__all__ = ["FileVersion", "PublicFolder", "hashed_name"]

# Files up to this size are kept in memory (answered with one write); larger ones are streamed.
MEMORY_FILE_LIMIT = 64 * 1024
# What one folder may keep in memory in all; files past it are streamed.
MEMORY_BUDGET = 32 * 1024 * 1024
# Request paths remembered per folder; past it, new ones are looked up every time (symlinks can give one
# file endless names, which must not grow memory).
MAX_ENTRIES = 16384
# Length of the content hash in hashed URLs (hex digits of sha256).
HASH_LENGTH = 10

# Precompressed siblings, in the server's order of preference: Content-Encoding token, file suffix.
ENCODINGS = (("br", ".br"), ("gzip", ".gz"))

_TEXT_LIKE = ("application/javascript", "application/json", "application/manifest+json", "application/xml",
              "image/svg+xml")
# mimetypes without the machine's /etc/mime.types, so that a file gets the same type everywhere.
_TYPES = mimetypes.MimeTypes(filenames=())
for _ext, _type in ((".js", "text/javascript"), (".mjs", "text/javascript"), (".css", "text/css"),
                    (".json", "application/json"), (".map", "application/json"),
                    (".webmanifest", "application/manifest+json"), (".svg", "image/svg+xml"),
                    (".webp", "image/webp"), (".avif", "image/avif"), (".woff", "font/woff"),
                    (".woff2", "font/woff2"), (".wasm", "application/wasm"),
                    (".ico", "image/vnd.microsoft.icon")):
    _TYPES.add_type(_type, _ext)
_ENCODED_TYPES = {"gzip": "application/gzip", "br": "application/x-brotli", "bzip2": "application/x-bzip2",
                  "xz": "application/x-xz"}

_HASHED = re.compile(rf"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{{{HASH_LENGTH}}})(?P<ext>\.[^.]+)?$")
_EXT = re.compile(r"\.[^.]+$")


def media_type(name: str) -> bytes:
    """The Content-Type of a file name: text types with `; charset=utf-8`."""
    guessed, encoding = _TYPES.guess_type(name, strict=False)
    if encoding is not None:  # "x.css.gz" asked for by name: the bytes are gzip, not CSS
        guessed = _ENCODED_TYPES.get(encoding, "application/octet-stream")
    guessed = guessed or "application/octet-stream"
    if guessed.startswith("text/") or guessed in _TEXT_LIKE:
        guessed += "; charset=utf-8"
    return guessed.encode("latin-1")


def hashed_name(rel: str, digest: str) -> str:
    """`css/app.css` -> `css/app.<digest>.css` (a name without extension gets `.<digest>` appended)."""
    head, _, name = rel.rpartition("/")
    ext = _EXT.search(name[1:])  # a leading dot is not an extension (dotfiles are never served anyway)
    at = ext.start() + 1 if ext is not None else len(name)
    name = name[:at] + "." + digest + name[at:]
    return f"{head}/{name}" if head else name


@dataclass(frozen=True, slots=True)
class FileVersion:
    """One version of one file: what its responses need, computed once."""

    path: str  # real path
    key: tuple[int, int, int]  # (mtime_ns, size, inode): a new value is a new version
    size: int
    mtime: int  # whole seconds, what Last-Modified says
    etag: bytes
    head: bytes  # content-type, etag, last-modified, content-encoding and vary header lines
    body: bytes | None  # the content, for files small enough to keep in memory
    encoded: tuple[tuple[bytes, FileVersion], ...]  # precompressed siblings: (coding, version)
    coding: bytes | None = None  # Content-Encoding of a sibling


def _key(st: os.stat_result) -> tuple[int, int, int]:
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class PublicFolder:
    """The files under one folder, looked up by request path."""

    def __init__(self, root: str, *, precompressed: bool = True) -> None:
        self.root = os.path.realpath(root)
        self._inside = folder(self.root)
        self._precompressed = precompressed
        self._versions: dict[str, FileVersion] = {}
        self._hashes: dict[str, tuple[tuple[int, int, int], str]] = {}
        self._aliases: dict[str, tuple[str, str]] = {}  # hashed name -> (plain name, hash in the name)
        self._in_memory = 0

    def find(self, rel: str) -> FileVersion | None:
        """The current version of the file at `rel` (a request path below the prefix), else None."""
        version = self._versions.get(rel)
        if version is not None:
            try:
                st = os.stat(version.path)
            except OSError:
                st = None
            if st is not None and _key(st) == version.key:
                return version
            self._forget(rel, version)
        real = self._resolve(rel)
        if real is None:
            return None
        try:
            st = os.stat(real)
        except OSError:
            return None
        if not stat.S_ISREG(st.st_mode):
            return None  # directories are never listed
        version = self._version(real, st, rel, None)
        if len(self._versions) < MAX_ENTRIES:
            self._versions[rel] = version
        else:
            self._release(version)  # its bytes go with it
        return version

    def find_hashed(self, rel: str) -> tuple[FileVersion, bool] | None:
        """`find`, also for hashed names (`app.<hash>.css`): (version, whether the hash is current)."""
        alias = self._aliases.get(rel) if rel not in self._versions else None
        if alias is None:
            version = self.find(rel)
            if version is not None:
                return version, False
            head, _, name = rel.rpartition("/")
            match = _HASHED.match(name)
            if match is None:
                return None
            plain = match["stem"] + (match["ext"] or "")
            alias = (f"{head}/{plain}" if head else plain, match["hash"])
        version = self.find(alias[0])
        if version is None:
            return None
        try:
            current = self.content_hash(version) == alias[1]
        except OSError:
            return None  # gone since the stat
        if current and len(self._aliases) < MAX_ENTRIES:
            # A current hashed name then skips the lookup of a file by its own name: one stat, like a plain
            # one. Only current ones: any other hash a client makes up must not grow this dict.
            self._aliases.setdefault(rel, alias)
        return version, current

    def content_hash(self, version: FileVersion) -> str:
        """The first hex digits of the file's sha256, computed once per version."""
        known = self._hashes.get(version.path)
        if known is not None and known[0] == version.key:
            return known[1]
        if version.body is not None:
            digest = hashlib.sha256(version.body).hexdigest()
        else:
            with open(version.path, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
        short = digest[:HASH_LENGTH]
        self._hashes[version.path] = (version.key, short)
        return short

    def _resolve(self, rel: str) -> str | None:
        return confine(self._inside, rel)

    def _version(self, real: str, st: os.stat_result, name: str, coding: bytes | None) -> FileVersion:
        size = st.st_size
        mtime = int(st.st_mtime)
        etag = b'"%x-%x%s"' % (size, st.st_mtime_ns, b"-" + coding if coding else b"")
        encoded = () if coding is not None else self._siblings(real, st)
        head = (b"content-type: " + media_type(name) + b"\r\netag: " + etag + b"\r\nlast-modified: "
                + formatdate(mtime, usegmt=True).encode() + b"\r\n")
        if coding is not None:
            head += b"content-encoding: " + coding + b"\r\nvary: Accept-Encoding\r\n"
        elif encoded:
            head += b"vary: Accept-Encoding\r\n"
        body = None
        if size <= MEMORY_FILE_LIMIT and self._in_memory + size <= MEMORY_BUDGET:
            try:
                with open(real, "rb") as f:
                    body = f.read(size + 1)
            except OSError:
                body = None
            if body is not None and len(body) != size:
                body = None  # changed while read: stream it instead
            if body is not None:
                self._in_memory += size
        return FileVersion(real, _key(st), size, mtime, etag, head, body, encoded, coding)

    def _siblings(self, real: str, st: os.stat_result) -> tuple[tuple[bytes, FileVersion], ...]:
        if not self._precompressed:
            return ()
        found = []
        for coding, suffix in ENCODINGS:
            try:
                sib = os.stat(real + suffix)
            except OSError:
                continue
            # A sibling older than its file is stale (the build forgot it): never serve old content.
            if stat.S_ISREG(sib.st_mode) and sib.st_mtime_ns >= st.st_mtime_ns:
                found.append((coding.encode(), self._version(real + suffix, sib, os.path.basename(real),
                                                             coding.encode())))
        return tuple(found)

    def _forget(self, rel: str, version: FileVersion) -> None:
        del self._versions[rel]
        self._release(version)

    def _release(self, version: FileVersion) -> None:
        for v in (version, *(sib for _, sib in version.encoded)):
            if v.body is not None:
                self._in_memory -= v.size
