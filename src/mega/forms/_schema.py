"""`form=` route schemas: the parsed form checked like `body=` is, with the same error envelope.

The schema sees `Form.to_dict()`: one value per name (a list when a name is sent more than once, or
when the schema declares the field an array). Files:
- a pydantic model declares them `UploadedFile` and gets the objects (their JSON Schema, for OpenAPI,
  is `{"type": "string", "format": "binary"}`);
- a JSON Schema property `{"type": "string", "format": "binary"}` (OpenAPI's file) must be a file:
  a text value there fails, and the schema sees the file's name;
- any other JSON Schema property sees a file as `{"filename", "content_type", "size"}`.
The handler gets the UploadedFile objects back in the validated dict.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any

from mega.errors import ValidationError
from mega.forms._files import UploadedFile
from mega.forms._form import Form
from mega.http._validation import compile_part

__all__ = ["compile_form"]

_SEQUENCES = (list, tuple, set, frozenset)


def compile_form(spec: Any, *, route: str) -> Callable[[Form], Any]:
    validate = compile_part("form", spec, route=route)
    arrays = _array_fields(spec)
    if not isinstance(spec, dict):
        return lambda form: validate(_shaped(form, arrays)[0])
    binary = _binary_fields(spec)

    def check_schema(form: Form) -> Any:
        value, files = _shaped(form, arrays)
        view = value
        if files or binary:
            view = {name: _view(name, item, name in binary) for name, item in value.items()}
        result = validate(view)
        if files and isinstance(result, dict):
            for name in files:
                if name in result:
                    result[name] = value[name]
        return result

    return check_schema


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


def _view(name: str, value: Any, binary: bool) -> Any:
    """What a JSON Schema sees of one field."""
    if isinstance(value, list):
        return [_view(name, v, binary) for v in value]
    if binary:
        if not isinstance(value, UploadedFile):
            message = "must be a file (multipart/form-data with a filename)"
            raise ValidationError(message=f"invalid form/{name}: {message}",
                                  details=[{"in": "form", "path": f"/{name}", "message": message}])
        return value.filename
    return value.metadata() if isinstance(value, UploadedFile) else value


def _is_binary(prop: Any) -> bool:
    return isinstance(prop, dict) and prop.get("type") == "string" and prop.get("format") == "binary"


def _binary_fields(schema: dict[str, Any]) -> frozenset[str]:
    props = schema.get("properties") or {}
    return frozenset(name for name, prop in props.items()
                     if _is_binary(prop) or (isinstance(prop, dict) and _is_binary(prop.get("items"))))


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
