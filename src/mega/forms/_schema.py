"""`form=` route schemas: the parsed form checked like `body=` is, with the same error envelope.

The schema sees `Form.to_dict()`: one value per name (a list when a name is sent more than once, or
when the schema declares the field an array). A pydantic model sees files as `UploadedFile`
objects; a JSON Schema sees `{"filename", "content_type", "size"}` for each file, and the handler
gets the objects back in the validated dict.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any

from mega.forms._files import UploadedFile
from mega.forms._form import Form
from mega.http._validation import compile_part

__all__ = ["compile_form"]

_SEQUENCES = (list, tuple, set, frozenset)


def compile_form(spec: Any, *, route: str) -> Callable[[Form], Any]:
    validate = compile_part("form", spec, route=route)
    arrays = _array_fields(spec)
    if isinstance(spec, dict):
        def check_schema(form: Form) -> Any:
            value, files = _shaped(form, arrays)
            view = {k: _metadata(v) for k, v in value.items()} if files else value
            result = validate(view)
            if files and isinstance(result, dict):
                for name in files:
                    if name in result:
                        result[name] = value[name]
            return result

        return check_schema

    def check_model(form: Form) -> Any:
        return validate(_shaped(form, arrays)[0])

    return check_model


def _shaped(form: Form, arrays: frozenset[str]) -> tuple[dict[str, Any], list[str]]:
    value: dict[str, Any] = form.to_dict()
    files = []
    for name in value:
        if name in arrays and not isinstance(value[name], list):
            value[name] = [value[name]]
        item = value[name]
        if isinstance(item, UploadedFile) or (isinstance(item, list) and
                                              any(isinstance(v, UploadedFile) for v in item)):
            files.append(name)
    return value, files


def _metadata(value: Any) -> Any:
    if isinstance(value, UploadedFile):
        return value.metadata()
    if isinstance(value, list):
        return [v.metadata() if isinstance(v, UploadedFile) else v for v in value]
    return value


def _array_fields(spec: Any) -> frozenset[str]:
    """Fields the schema wants as a list, so that one value sent is still a list."""
    if isinstance(spec, dict):
        props = spec.get("properties") or {}
        return frozenset(name for name, prop in props.items()
                         if isinstance(prop, dict) and prop.get("type") == "array")
    fields = getattr(spec, "model_fields", None)
    if not isinstance(fields, dict):
        return frozenset()
    out = set()
    for name, info in fields.items():
        annotation = info.annotation
        origin = typing.get_origin(annotation)
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            origin = typing.get_origin(args[0]) if len(args) == 1 else None
        if origin in _SEQUENCES:
            out.add(info.alias or name)
    return frozenset(out)
