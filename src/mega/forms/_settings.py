"""The `forms` config section (app_config.py) and the `form_limits` route option, checked by one spec.

    forms = {
        "max_file_size": "10 MiB",   # one uploaded file (413 upload.too_large)
        "max_files": 10,             # files in one request (413 upload.too_many_files)
        "max_fields": 1000,          # text fields in one request (400 form.too_many_fields)
        "max_field_size": "256 KiB", # one text field (413 form.field_too_large)
        "max_body": "64 MiB",        # a whole multipart body (413 body.too_large)
        "temp_dir": None,            # where uploads are spooled; None: the system temp dir
    }

A route's `form_limits={...}` replaces the keys it gives, the app's others stay.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from mega.config import _checks as c
from mega.config._specs import Leaf, Section, const
from mega.config.sections import APP, Resolve, checked, register_section

__all__ = ["DEFAULT_LIMITS", "FORMS", "FormLimits", "app_form_limits", "route_form_limits"]

KIB = 1024
MIB = 1024 * KIB
_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": KIB, "mib": MIB, "gib": MIB * KIB}
_SIZE = re.compile(r"^\s*(\d+)\s*([a-z]*)\s*$")


@dataclass(frozen=True, slots=True)
class FormLimits:
    """What one route's `req.form()` accepts (bytes and counts) and where its files go."""

    max_file_size: int = 10 * MIB
    max_files: int = 10
    max_fields: int = 1000
    max_field_size: int = 256 * KIB
    max_body: int = 64 * MIB
    temp_dir: str | None = None  # None: tempfile.gettempdir(), read when the first file arrives
    root: str | None = None  # the project root, which a relative temp_dir is taken from

    def spool_root(self) -> str:
        if self.temp_dir is None:
            return tempfile.gettempdir()
        return os.path.join(self.root, self.temp_dir) if self.root is not None else self.temp_dir


DEFAULT_LIMITS = FormLimits()


def size(value: Any) -> int:
    """Bytes: an integer, or a string such as "10 MiB", "500 KB", "1024"."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise c.Invalid(c.INVALID_VALUE, f"must be at least 1 byte, got {value!r}")
        return value
    if isinstance(value, str):
        found = _SIZE.match(value.lower())
        if found is not None and found.group(2) in _UNITS:
            number = int(found.group(1)) * _UNITS[found.group(2)]
            if number >= 1:
                return number
    raise c.Invalid(c.INVALID_VALUE, f"must be a size in bytes (an integer >= 1 or a string such as "
                    f"'10 MiB'), got {value!r}", hint="units: B, KB, MB, GB, KiB, MiB, GiB")


def _directory(value: Any) -> str:
    text = c.string(value)
    if not text.strip():
        raise c.Invalid(c.INVALID_VALUE, "must be a directory path, got an empty string",
                        hint="use None for the system temp dir")
    return text


FORMS = Section(
    {
        "max_file_size": Leaf(size, const(DEFAULT_LIMITS.max_file_size)),
        "max_files": Leaf(c.integer(0), const(DEFAULT_LIMITS.max_files)),
        "max_fields": Leaf(c.integer(0), const(DEFAULT_LIMITS.max_fields)),
        "max_field_size": Leaf(size, const(DEFAULT_LIMITS.max_field_size)),
        "max_body": Leaf(size, const(DEFAULT_LIMITS.max_body)),
        "temp_dir": Leaf(c.optional(_directory), const(None)),
    }
)


def form_settings(value: dict[str, Any], resolve: Resolve) -> FormLimits:
    return FormLimits(**value)


register_section("forms", FORMS, scope=APP, settings=form_settings)


def app_form_limits(config: Mapping[str, Any], *, file: str, root: Path | None = None) -> FormLimits:
    """An app's limits from its config dict (raw, or as the loader validated it). A relative
    `temp_dir` (here or in a route's `form_limits`) is taken from the project root."""
    base = replace(DEFAULT_LIMITS, root=str(root)) if root is not None else DEFAULT_LIMITS
    return _checked(config.get("forms"), base, file, "forms")


def route_form_limits(given: Any, base: FormLimits, *, route: str) -> FormLimits:
    """`base` with the keys of a route's `form_limits` replaced (checked as the config section is)."""
    if given is None:
        return base
    return _checked(given, base, route, "form_limits")


def _checked(given: Any, base: FormLimits, file: str, key: str) -> FormLimits:
    value = checked(FORMS, given, key, file=file)
    keys = set(given) if isinstance(given, dict) else set()
    return replace(base, **{name: value[name] for name in keys if name in value})
