"""The schemas of one document: pydantic ones generated together, JSON Schema dicts with their `$defs`
hoisted, every named schema under `components.schemas`.

Pydantic models and TypeAdapters of a document are generated in one call, so two models of the same
name in different modules get distinct component names and each is written once.
"""

from __future__ import annotations

import copy
from typing import Any

from mega.errors import MegaError
from mega.http._validation import SCHEMA_HINT, SCHEMA_KINDS

__all__ = ["REF", "SchemaSet"]

REF = "#/components/schemas/"
_LOCAL_REFS = ("#/$defs/", "#/definitions/")


class SchemaSet:
    """Collect every schema first (`add`), then `resolve()` once; `schema(key)` gives each result."""

    def __init__(self) -> None:
        self.components: dict[str, Any] = {}
        self._adapters: list[tuple[Any, str, Any]] = []  # (key, mode, TypeAdapter)
        self._dicts: list[tuple[Any, dict[str, Any]]] = []
        self._results: dict[Any, dict[str, Any]] = {}

    def add(self, key: Any, spec: Any, *, mode: str, where: str) -> None:
        """`mode`: "validation" for what the client sends, "serialization" for what it gets."""
        if isinstance(spec, dict):
            self._dicts.append((key, spec))
            return
        import pydantic  # only documents with pydantic schemas pay for the import

        if isinstance(spec, type) and issubclass(spec, pydantic.BaseModel):
            self._adapters.append((key, mode, pydantic.TypeAdapter(spec)))
        elif isinstance(spec, pydantic.TypeAdapter):
            self._adapters.append((key, mode, spec))
        else:
            raise MegaError("route.invalid_schema", f"{where}: the schema must be {SCHEMA_KINDS}, "
                            f"got {type(spec).__name__}", hint=SCHEMA_HINT)

    def resolve(self) -> None:
        if self._adapters:
            from pydantic import TypeAdapter

            inputs = [(key, mode, adapter) for key, mode, adapter in self._adapters]
            by_key, defs = TypeAdapter.json_schemas(inputs, ref_template=REF + "{model}")  # type: ignore[arg-type]
            self.components.update(defs.get("$defs", {}))
            for (key, _mode), schema in by_key.items():
                self._results[key] = schema
        for key, schema in self._dicts:
            self._results[key] = self._hoist(schema)

    def schema(self, key: Any) -> dict[str, Any]:
        return self._results[key]

    def object_properties(self, key: Any) -> tuple[dict[str, Any], set[str]] | None:
        """(properties, required) of an object schema (through one `$ref`), or None when it has none."""
        schema = self._results[key]
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(REF):
            schema = self.components.get(ref[len(REF):], {})
        props = schema.get("properties")
        if not isinstance(props, dict) or not props:
            return None
        return props, set(schema.get("required") or ())

    def _hoist(self, schema: dict[str, Any]) -> dict[str, Any]:
        """A dict schema with its `$defs`/`definitions` moved to components and its refs rewritten."""
        out = copy.deepcopy(schema)
        out.pop("$schema", None)  # the document's dialect applies inside it
        renames: dict[str, str] = {}
        for bucket in ("$defs", "definitions"):
            for name, sub in (out.pop(bucket, None) or {}).items():
                renames[f"#/{bucket}/{name}"] = self._component_name(name, sub)
        rewritten: dict[str, Any] = _rewrite(out, renames)
        for ref, name in renames.items():
            bucket, _, original = ref[2:].partition("/")
            self.components[name] = _rewrite(_defs_of(schema, bucket)[original], renames)
        return rewritten

    def _component_name(self, name: str, sub: Any) -> str:
        candidate, n = name, 1
        while candidate in self.components and self.components[candidate] != sub:
            n += 1
            candidate = f"{name}{n}"
        return candidate


def _defs_of(schema: dict[str, Any], bucket: str) -> dict[str, Any]:
    found: dict[str, Any] = schema.get(bucket) or {}
    return found


def _rewrite(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith(_LOCAL_REFS):
                target = renames.get(v)
                if target is None:  # a pointer into a def ('#/$defs/A/properties/x'): keep its tail
                    head = next((r for r in renames if v.startswith(r + "/")), None)
                    target = renames[head] + v[len(head):] if head else None
                out[k] = REF + target if target is not None else v
            else:
                out[k] = _rewrite(v, renames)
        return out
    if isinstance(node, list):
        return [_rewrite(v, renames) for v in node]
    return node
