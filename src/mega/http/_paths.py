"""Confining a relative file name to a folder: the one check behind the static files and
`reply.file(name, root=...)`.

A name is split on "/" and refused (None, so the caller answers 404) when it is empty or absolute, or
any segment is empty, "." or "..", starts with a dot, or holds a backslash or NUL; the real path
(symlinks resolved) must stay inside the folder and out of dot-directories. Nothing is decoded here:
the server decoded the URL once, so "..%2f" arrives as the literal name "..%2f" and simply does not
exist.
"""

from __future__ import annotations

import os

__all__ = ["confine", "folder"]


def folder(root: str | os.PathLike[str]) -> str:
    """The real path of `root` with a trailing separator: what `confine` takes as `inside`."""
    real = os.path.realpath(root)
    return real if real.endswith(os.sep) else real + os.sep


def confine(inside: str, rel: str) -> str | None:
    """The real path of `rel` below the folder `inside` (from `folder()`), or None when `rel` leaves it."""
    if not rel or "\\" in rel or "\0" in rel:
        return None
    for segment in rel.split("/"):
        if not segment or segment[0] == ".":  # "", ".", "..", dotfiles, dot-directories, "//", "/abs"
            return None
    real = os.path.realpath(inside + rel)
    if not real.startswith(inside):
        return None  # a symlink that leaves the folder
    if "/." in "/" + real[len(inside):]:
        return None  # a symlink into a dot-directory
    return real
