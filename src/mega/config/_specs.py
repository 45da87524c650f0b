"""The pieces the schema is declared with: a leaf value, a section of named keys, a dict of entries.

Each spec validates a raw value at a dotted key, reports problems into a `Context` (never raising, so
every problem in every file is collected) and returns the validated value, or its default when invalid.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from mega.config._checks import INVALID_TYPE, INVALID_VALUE, Check, Invalid, wrong_type
from mega.config._problems import ENVIRONMENT, ConfigProblem, close_match

Default = Callable[["Context"], Any]


@dataclass
class Context:
    """What validation needs to know about the file at hand, and where problems go."""

    file: str  # label of the file being validated, relative to the project root
    env: str
    environ: Mapping[str, str]
    problems: list[ConfigProblem] = field(default_factory=list)

    def report(self, code: str, key: str, message: str, hint: str | None = None, *, file: str = "") -> None:
        problem = ConfigProblem(code, key, file or self.file, message, hint)
        if problem not in self.problems:  # one key inherited by several apps is one problem
            self.problems.append(problem)


class Spec(Protocol):
    def validate(self, value: Any, key: str, ctx: Context) -> Any: ...

    def default(self, key: str, ctx: Context) -> Any: ...


def const(value: Any) -> Default:
    """A default that is a fresh copy on every load, so no two configs share a mutable default."""
    return lambda ctx: copy.deepcopy(value)


def join(prefix: str, name: object) -> str:
    text = name if isinstance(name, str) else repr(name)
    return f"{prefix}.{text}" if prefix else text


@dataclass(frozen=True)
class Leaf:
    """One value checked by `check`. `default=None` makes the key required."""

    check: Check
    default_factory: Default | None
    env_var: str | None = None  # environment variable that supplies the default when the key is absent
    required_hint: str | None = None

    def validate(self, value: Any, key: str, ctx: Context) -> Any:
        try:
            return self.check(value)
        except Invalid as exc:
            where = key + exc.subkey
            ctx.report(exc.code, where, f"{ctx.file}: {where} {exc.text}", exc.hint)
            return self._fallback(ctx)

    def default(self, key: str, ctx: Context) -> Any:
        raw = ctx.environ.get(self.env_var, "") if self.env_var else ""
        if raw:
            try:
                return self.check(raw)
            except Invalid as exc:
                message = f"{key} (from {self.env_var} in the environment) {exc.text}"
                ctx.report(exc.code, key, message, exc.hint, file=ENVIRONMENT)
                return self._fallback(ctx)
        if self.default_factory is None:
            ctx.report(INVALID_VALUE, key, f"{ctx.file}: {key} is required", self.required_hint)
            return None
        return self.default_factory(ctx)

    def _fallback(self, ctx: Context) -> Any:
        return None if self.default_factory is None else self.default_factory(ctx)


@dataclass(frozen=True)
class Section:
    """A dict of named keys. Unknown keys are problems (with a did-you-mean) unless `extra` allows them."""

    fields: Mapping[str, Spec]
    extra: bool = False
    # Rules across the keys of one given dict (e.g. `driver: memory` with a `redis` alias).
    after: Callable[[dict[str, Any], str, Context], None] | None = None

    def validate(self, value: Any, key: str, ctx: Context) -> Any:
        if value is None:  # a section set to None means "all defaults"
            return self.default(key, ctx)
        if not isinstance(value, dict):
            exc = wrong_type("a dict", value)
            ctx.report(INVALID_TYPE, key, f"{ctx.file}: {key} {exc.text}")
            return self.default(key, ctx)
        # Problems come in the file's key order; the result follows the schema's order.
        given: dict[Any, Any] = {}
        for name, item in value.items():
            spec = self.fields.get(name)
            if spec is not None:
                given[name] = spec.validate(item, join(key, name), ctx)
            elif self.extra:
                given[name] = item
            else:
                self._report_unknown(name, key, ctx)
        result = {
            name: given.pop(name) if name in given else spec.default(join(key, name), ctx)
            for name, spec in self.fields.items()
        }
        result.update(given)  # the extras, when allowed
        if self.after is not None:
            self.after(result, key, ctx)
        return result

    def default(self, key: str, ctx: Context) -> dict[str, Any]:
        return {name: spec.default(join(key, name), ctx) for name, spec in self.fields.items()}

    def _report_unknown(self, name: object, key: str, ctx: Context) -> None:
        where = join(key, name)
        message = f"unknown key {where!r} in {ctx.file}"
        close = close_match(name, self.fields)
        if close:
            message += f" — did you mean {join(key, close)!r}?"
        scope = f"under {key}" if key else f"in {ctx.file}"
        ctx.report(
            "config.unknown_key", where, message, f"valid keys {scope}: {', '.join(sorted(self.fields))}"
        )


@dataclass(frozen=True)
class Entries:
    """A dict of user-named entries (aliases, header names), each validated by `item`."""

    item: Spec
    name_check: Check

    def validate(self, value: Any, key: str, ctx: Context) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            exc = wrong_type("a dict", value)
            ctx.report(INVALID_TYPE, key, f"{ctx.file}: {key} {exc.text}")
            return {}
        result: dict[str, Any] = {}
        for name, item in value.items():
            try:
                checked = self.name_check(name)
            except Invalid as exc:
                ctx.report(exc.code, join(key, name), f"{ctx.file}: {key} {exc.text}", exc.hint)
                continue
            result[checked] = self.item.validate(item, join(key, checked), ctx)
        return result

    def default(self, key: str, ctx: Context) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class Switch:
    """A section that can also be turned off with `False`: validates to False, or to the section's dict.

    `absent` makes the value when the key is missing or None (None: the section's defaults; else e.g.
    `const(False)` for a feature that is off unless configured); `True` means the section's defaults
    when `true_ok`.
    """

    inner: Spec
    absent: Default | None
    expected: str  # completes "must be ..." when the value is of none of the accepted types
    hint: str | None = None
    true_ok: bool = False

    def validate(self, value: Any, key: str, ctx: Context) -> Any:
        if value is False:
            return False
        if value is None:
            return self.default(key, ctx)
        if value is True and self.true_ok:
            return self.inner.default(key, ctx)
        if isinstance(value, dict):
            return self.inner.validate(value, key, ctx)
        got = f"{value!r} ({type(value).__name__})"
        ctx.report(INVALID_TYPE, key, f"{ctx.file}: {key} must be {self.expected}, got {got}", self.hint)
        return self.default(key, ctx)

    def default(self, key: str, ctx: Context) -> Any:
        return self.inner.default(key, ctx) if self.absent is None else self.absent(ctx)
