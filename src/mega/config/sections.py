"""Feature sections: each feature declares its config section beside itself and registers it here.

    register_section("lock", LOCK_SPEC, scope=BOTH, settings=lock_settings, backend_keys=("driver", "redis"))

The loader validates every registered section with the rest of the file (one pass, every problem),
then, once every file is read, turns each section's value into the feature's typed settings object
(`settings(value, resolve)`), where checks across sections (an alias declared under `services`) report
into the same problem list. A key of a feature that is not built yet is refused (`config.not_supported`)
until its feature registers a section under that name.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mega.config import scopes
from mega.config._problems import ConfigError, close_match
from mega.config._specs import Context, Spec
from mega.config.scopes import Scope

__all__ = [
    "APP",
    "BOTH",
    "GLOBAL",
    "NOT_BUILT",
    "Resolve",
    "SectionDef",
    "allowed_in",
    "checked",
    "keys_for",
    "register_section",
    "registered",
    "scope_of",
    "section_settings",
    "unregister_section",
]

GLOBAL = frozenset({Scope.GLOBAL})
APP = frozenset({Scope.APP})
BOTH = frozenset({Scope.GLOBAL, Scope.APP})

# The modules that declare the built-in sections; imported before the first validation.
BUILTIN = ("mega.lock._settings", "mega.bus._settings", "mega.sessions._settings", "mega.security._settings",
           "mega.data.migrations._settings", "mega.i18n._settings", "mega.forms._settings",
           "mega.static._settings", "mega.views._settings", "mega.openapi._settings", "mega.asp._settings",
           "mega.auth._settings", "mega.observe._metrics_settings", "mega.observe._tracing_settings",
           "mega.jobs._settings", "mega.schedules._settings", "mega.workers._settings",
           "mega.ws._settings", "mega.ws.hub._settings", "mega.ws.hub._bridge_settings",
           "mega.ws.presence._settings",
           "mega.cluster._settings")

# Keys of features planned but not built: refused by name, never accepted and ignored.
NOT_BUILT: dict[str, str] = {
    "plugins": "plugins",
    "security": "the `security` section",
}


@dataclass
class Resolve:
    """What a section's `settings` function may look at and report into, once every file is validated.

    `services` is mega_config.py's validated `services` (None where they are not known, as for route
    options: aliases are then checked when used); `file_of(key)` the file a key was written in (a key
    an app inherits from mega_config.py is reported there, once).
    """

    ctx: Context
    services: Mapping[str, Any] | None
    section: str
    files: Mapping[str, str] = field(default_factory=dict)  # top key of the section -> file
    default_file: str = ""

    def file_of(self, key: str) -> str:
        return self.files.get(key, self.default_file)

    def declared(self, group: str) -> dict[str, Any]:
        """The entries of `services.<group>`."""
        return dict((self.services or {}).get(group) or {})

    def report(self, code: str, key: str, text: str, hint: str | None = None) -> None:
        """A problem at `<section>.<key>`: `text` completes the sentence "<section>.<key> ..."."""
        where = f"{self.section}.{key}" if key else self.section
        file = self.file_of(key.split(".", 1)[0])
        self.ctx.report(code, where, f"{file}: {where} {text}", hint, file=file)

    def alias(self, key: str, value: str, group: str, *, accept: Callable[[Any], bool] | None = None,
              want: str = "", example: str = "{'url': ...}") -> bool:
        """Whether `value` names a declared `services.<group>` alias (that `accept` likes, and `want`
        describes); else reports why not."""
        if self.services is None:
            return True
        entries = self.declared(group)
        declared = {name for name, entry in entries.items() if accept is None or accept(entry)}
        if value in declared:
            return True
        if value in entries:
            driver = entries[value].get("driver") if isinstance(entries[value], dict) else None
            self.report("config.invalid_value", key, f"names {value!r}, which is not {want} "
                        f"(services.{group}.{value} has driver {driver!r})",
                        f"name one of: {', '.join(sorted(declared)) or 'none declared'}")
            return False
        listed = ", ".join(sorted(declared)) or "none"
        near = close_match(value, declared)
        guess = f"did you mean {near!r}? " if near else ""
        declare = f"services = {{{group!r}: {{{value!r}: {example}}}}}"
        self.report("config.unknown_alias", key,
                    f"names {value!r}, which is not declared in services.{group} (declared: {listed})",
                    f"{guess}declare it in mega_config.py: {declare}")
        return False


Settings = Callable[[Any, Resolve], Any]


@dataclass(frozen=True)
class SectionDef:
    """One registered section: its spec, the files it may appear in, and how it becomes settings."""

    name: str
    spec: Spec
    scopes: frozenset[Scope]
    settings: Settings | None = None
    # Keys that choose a backend: an app naming one takes none of mega_config.py's (sections in BOTH).
    backend_keys: tuple[str, ...] = ()


_SECTIONS: dict[str, SectionDef] = {}
_loaded = False


def register_section(name: str, spec: Spec, *, scope: frozenset[Scope], settings: Settings | None = None,
                     backend_keys: Iterable[str] = ()) -> SectionDef:
    """Declare the config section `name` (replacing an earlier one of that name)."""
    section = SectionDef(name, spec, frozenset(scope), settings, tuple(backend_keys))
    _SECTIONS[name] = section
    return section


def unregister_section(name: str) -> None:
    """Forget a section (tests; a built-in one comes back on the next `registered()` only if re-imported)."""
    _SECTIONS.pop(name, None)


def registered() -> Mapping[str, SectionDef]:
    """Every registered section, the built-in ones included."""
    global _loaded
    if not _loaded:
        _loaded = True
        for module in BUILTIN:
            importlib.import_module(module)
    return _SECTIONS


def not_built(key: object) -> str | None:
    """The feature a key belongs to when that feature is not built yet (and no section took the key)."""
    if not isinstance(key, str) or key in registered():
        return None
    return NOT_BUILT.get(key)


def _section_scopes() -> dict[str, frozenset[Scope]]:
    return {name: section.scopes for name, section in registered().items()}


def keys_for(scope: Scope) -> frozenset[str]:
    """Every key valid in a file of this scope: the core keys and the registered sections'."""
    core = (scopes.GLOBAL_ONLY if scope is Scope.GLOBAL else scopes.APP_ONLY) | scopes.BOTH
    return core | {name for name, where in _section_scopes().items() if scope in where}


def allowed_in(key: str, scope: Scope) -> bool:
    return key in keys_for(scope)


def scope_of(key: str) -> Scope | None:
    """The only scope a key is valid in; None for keys valid in both, or unknown anywhere."""
    if key in scopes.GLOBAL_ONLY:
        return Scope.GLOBAL
    if key in scopes.APP_ONLY:
        return Scope.APP
    found = _section_scopes().get(key)
    if found is not None and len(found) == 1:
        return next(iter(found))
    return None


def checked(spec: Spec, value: Any, key: str, *, file: str) -> Any:
    """`value` validated by `spec` outside the loader (a route option): its problems raise ConfigError."""
    ctx = Context(file, "", {})
    result = spec.validate(value, key, ctx)
    if ctx.problems:
        raise ConfigError(ctx.problems)
    return result


def section_settings(config: Mapping[str, Any], names: Iterable[str], *, file: str) -> dict[str, Any]:
    """The settings of the registered sections `names` of one app config dict (raw, or as the loader
    validated it), built outside the loader as the loader builds them: {name: settings}. A section is
    built only when its value validated; every problem of every section is raised as one ConfigError.
    Settings that look at `services` see none (route options cannot)."""
    ctx = Context(file, "", {})
    sections = registered()
    out: dict[str, Any] = {}
    for name in names:
        section = sections[name]
        before = len(ctx.problems)
        value = section.spec.validate(config.get(name), name, ctx)
        if len(ctx.problems) == before:
            resolve = Resolve(ctx, None, name, {}, file)
            out[name] = section.settings(value, resolve) if section.settings is not None else value
    if ctx.problems:
        raise ConfigError(ctx.problems)
    return out
