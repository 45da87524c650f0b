"""`req.form()`: the body streamed through python-multipart as the server hands it over, each limit
checked on the bytes seen so far, so reading stops at the first one crossed. Files go to the
request's Spool as they arrive; text fields stay in memory (bounded by the limits below).

Limits, for one request (FormLimits, from the app's `forms` section and the route's `form_limits`):
- urlencoded: the whole body is at most the route's `body_limit` (it is held in memory, as JSON is);
- multipart: the whole body is at most `max_body`, the text fields together at most `body_limit`;
- both: each text field at most `max_field_size`, at most `max_fields` fields; for multipart each
  file at most `max_file_size`, at most `max_files` files.
"""

from __future__ import annotations

import re
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import unquote_to_bytes

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, QuerystringParser, parse_options_header

from mega._digits import ascii_digits
from mega.errors import BadRequestError, MegaError
from mega.forms._files import Spool, UploadedFile, sanitize_filename
from mega.forms._form import Form, FormValue
from mega.forms._settings import DEFAULT_LIMITS, FormLimits

if TYPE_CHECKING:
    from pathlib import Path

    from mega.http.request import Request

__all__ = ["FORM_TYPES", "read_form"]

URLENCODED = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
FORM_TYPES = (URLENCODED, MULTIPART)
# RFC 2046 §5.1.1: 1 to 70 characters, the last not a space.
_BOUNDARY = re.compile(rb"^[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]$")


def too_large_file(limit: int, field: str) -> MegaError:
    return MegaError("upload.too_large", f"file in field {field!r} exceeds the limit of {limit} bytes",
                     status=413, details={"limit": limit, "field": field},
                     hint="send a smaller file, or raise forms.max_file_size (or the route's form_limits)")


def _too_large(message: str, limit: int) -> MegaError:
    # The codes of mega.http.request's errors; built here as that module imports this one lazily.
    return MegaError("body.too_large", message, status=413, details={"limit": limit})


def invalid(message: str) -> BadRequestError:
    return BadRequestError("form.invalid", message, hint="send a well-formed "
                           "application/x-www-form-urlencoded or multipart/form-data body")


def _check_declared(req: Request, limit: int) -> None:
    declared = req.headers.get("content-length")
    if declared is not None and ascii_digits(declared) and \
            (len(declared) > 18 or int(declared) > limit):
        raise _too_large(f"request body of {declared} bytes exceeds the limit of {limit} bytes", limit)


async def read_form(req: Request) -> Form:
    """Parse the request body as a form (415 `body.unsupported_media_type` for any other body)."""
    ctype = req.content_type
    media, options = parse_options_header(ctype)
    limits = req.form_limits or DEFAULT_LIMITS
    if media == MULTIPART.encode():
        return await _multipart(req, options.get(b"boundary"), limits)
    if media == URLENCODED.encode():
        return await _urlencoded(req, limits)
    raise MegaError("body.unsupported_media_type",
                    f"expected a form body ({URLENCODED} or {MULTIPART}), got {ctype or 'none'!r}",
                    status=415, details={"content_type": ctype},
                    hint=f"send the form as {URLENCODED} or {MULTIPART}")


async def _next_chunk(req: Request) -> tuple[bytes, bool]:
    try:  # the body was read already (req.body(), or ASP's plaintext): that is the whole of it
        return req._body, False
    except AttributeError:
        pass
    message = await req.receive()
    if message["type"] == "http.disconnect":
        raise BadRequestError("body.disconnected", "client disconnected while sending the body")
    return message.get("body", b""), bool(message.get("more_body", False))


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise invalid(f"{what} is not valid UTF-8") from None


def _too_many_fields(limit: int) -> MegaError:
    return MegaError("form.too_many_fields", f"the form has more than {limit} fields", status=400,
                     details={"limit": limit}, hint="send fewer fields, or raise forms.max_fields")


def _field_too_large(limit: int, field: str) -> MegaError:
    return MegaError("form.field_too_large", f"field {field!r} exceeds the limit of {limit} bytes",
                     status=413, details={"limit": limit, "field": field},
                     hint="send a shorter value, or raise forms.max_field_size")


async def _urlencoded(req: Request, limits: FormLimits) -> Form:
    body_limit = req.body_limit
    if body_limit:
        _check_declared(req, body_limit)
    items: list[tuple[str, FormValue]] = []
    name = bytearray()
    value = bytearray()
    max_field, max_fields = limits.max_field_size, limits.max_fields

    def on_field_start() -> None:
        if len(items) >= max_fields:
            raise _too_many_fields(max_fields)
        name.clear()
        value.clear()

    def on_field_name(data: bytes, start: int, end: int) -> None:
        name.extend(data[start:end])
        if len(name) > max_field:
            raise _field_too_large(max_field, bytes(name[:64]).decode("latin-1"))

    def on_field_data(data: bytes, start: int, end: int) -> None:
        value.extend(data[start:end])
        if len(value) > max_field:
            raise _field_too_large(max_field, _text(_unquote(name), "a field name"))

    def on_field_end() -> None:
        items.append((_text(_unquote(name), "a field name"), _text(_unquote(value), "a field value")))

    parser = QuerystringParser({"on_field_start": on_field_start, "on_field_name": on_field_name,
                                "on_field_data": on_field_data, "on_field_end": on_field_end})
    chunks: list[bytes] = []
    size = 0
    more = True
    while more:
        chunk, more = await _next_chunk(req)
        size += len(chunk)
        if body_limit and size > body_limit:
            raise _too_large(f"request body exceeds the limit of {body_limit} bytes", body_limit)
        chunks.append(chunk)
        try:
            parser.write(chunk)
        except FormParserError as exc:
            raise invalid(f"malformed urlencoded body: {exc}") from None
    parser.finalize()
    req._body = b"".join(chunks)  # small and already read: req.body() still works after req.form()
    return Form(items)


def _unquote(raw: bytearray) -> bytes:
    return unquote_to_bytes(bytes(raw).replace(b"+", b" "))


class _Multipart:
    """python-multipart's callbacks for one body: builds the items, enforcing the limits."""

    def __init__(self, spool: Spool, limits: FormLimits, text_limit: int) -> None:
        self.spool = spool
        self.limits = limits
        self.text_limit = text_limit  # the route's body_limit, over every text field together
        self.items: list[tuple[str, FormValue]] = []
        self.files = 0
        self.fields = 0
        self.text_size = 0
        self.done = False
        self.header_name = bytearray()
        self.header_value = bytearray()
        self.headers: dict[str, str] = {}
        self.kind = ""  # "field", "file" or "skip" (a file input left empty)
        self.name = ""
        self.filename = ""
        self.buffer = bytearray()
        self.size = 0
        self.path: Path | None = None
        self.out: IO[bytes] | None = None

    def callbacks(self) -> Any:
        return {"on_part_begin": self.on_part_begin, "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished, "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end, "on_end": self.on_end}

    def on_part_begin(self) -> None:
        self.headers = {}
        self.kind = ""

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name.extend(data[start:end])

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value.extend(data[start:end])

    def on_header_end(self) -> None:
        self.headers[self.header_name.decode("latin-1").strip().lower()] = self.header_value.decode("latin-1")
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        disposition, params = parse_options_header(self.headers.get("content-disposition"))
        if disposition != b"form-data" or b"name" not in params:
            raise invalid("a multipart part has no Content-Disposition: form-data with a name")
        self.name = _text(params[b"name"], "a field name")
        self.size = 0
        if b"filename" not in params:
            self.fields += 1
            if self.fields > self.limits.max_fields:
                raise _too_many_fields(self.limits.max_fields)
            self.kind = "field"
            self.buffer.clear()
            return
        raw_name = params[b"filename"]
        if not raw_name:  # a file input left empty: browsers send the part anyway
            self.kind = "skip"
            return
        self.files += 1
        if self.files > self.limits.max_files:
            raise MegaError("upload.too_many_files", f"the form has more than {self.limits.max_files} files",
                            status=413, details={"limit": self.limits.max_files},
                            hint="send fewer files, or raise forms.max_files")
        self.kind = "file"
        self.filename = sanitize_filename(raw_name.decode("utf-8", "replace"))
        self.path, self.out = self.spool.new_file()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        count = end - start
        self.size += count
        if self.kind == "file":
            if self.size > self.limits.max_file_size:
                raise too_large_file(self.limits.max_file_size, self.name)
            assert self.out is not None
            # Written at once, in the loop: one chunk into the page cache costs less than a thread hop.
            self.out.write(memoryview(data)[start:end])
        elif self.kind == "field":
            if self.size > self.limits.max_field_size:
                raise _field_too_large(self.limits.max_field_size, self.name)
            self.text_size += count
            if self.text_limit and self.text_size > self.text_limit:
                raise _too_large(f"the form's text fields exceed the limit of {self.text_limit} bytes",
                                 self.text_limit)
            self.buffer.extend(data[start:end])
        elif self.kind == "skip" and self.size > 0:
            raise invalid(f"field {self.name!r} sends content under an empty filename")

    def on_part_end(self) -> None:
        if self.kind == "field":
            self.items.append((self.name, _text(bytes(self.buffer), f"field {self.name!r}")))
        elif self.kind == "file":
            self.close()
            assert self.path is not None
            media = self.headers.get("content-type", "").strip() or "application/octet-stream"
            self.items.append((self.name, UploadedFile(self.name, self.filename, media, self.size,
                                                       self.path, dict(self.headers))))
        self.kind = ""

    def on_end(self) -> None:
        self.done = True

    def close(self) -> None:
        if self.out is not None:
            self.out.close()
            self.out = None


async def _multipart(req: Request, boundary: bytes | None, limits: FormLimits) -> Form:
    if not boundary or _BOUNDARY.match(boundary) is None:
        raise invalid("multipart/form-data needs a boundary parameter of 1-70 allowed characters "
                      f"(got {boundary!r})")
    max_body = limits.max_body
    _check_declared(req, max_body)
    spool = req._spool = Spool(limits.spool_root())  # set before any file exists: the pipeline discards it
    state = _Multipart(spool, limits, req.body_limit)
    parser = MultipartParser(boundary, state.callbacks())
    size = 0
    more = True
    try:
        while more:
            chunk, more = await _next_chunk(req)
            size += len(chunk)
            if size > max_body:
                raise _too_large(f"request body exceeds the limit of {max_body} bytes", max_body)
            if state.done:
                continue  # the epilogue after the closing boundary: ignored, as RFC 2046 says
            try:
                parser.write(chunk)
            except FormParserError as exc:
                raise invalid(f"malformed multipart body: {exc}") from None
    finally:
        state.close()
    if not state.done:
        raise invalid("the multipart body ends before its closing boundary (truncated?)")
    return Form(state.items)
