"""`req.form()` through a booted project: parsing, limits, uploads on disk and their removal, `form=`."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest

from mega.testing import make_client, running, write_project

ROUTES = """
    from pydantic import BaseModel

    from mega.forms import UploadedFile


    def describe(form):
        out = {}
        for name, value in form.multi_items():
            if isinstance(value, str):
                shown = value
            else:
                with value.open() as fh:
                    content = fh.read()
                shown = {"filename": value.filename, "content_type": value.content_type, "size": value.size,
                         "sha256": __import__("hashlib").sha256(content).hexdigest(),
                         "path": str(value.path), "on_disk": value.path.exists()}
            out.setdefault(name, []).append(shown)
        return out


    async def echo(req):
        form = await req.form()
        assert form is await req.form()  # cached
        return {"items": describe(form), "first": {k: form.get(k) if isinstance(form.get(k), str) else "file"
                                                    for k in form}}


    async def boom(req):
        await req.form()
        raise RuntimeError("the handler failed after the upload")


    async def keep(req):
        form = await req.form()
        moved = form.file("doc").move_to(req.query["to"])
        return {"path": str(moved)}


    async def after_form(req):
        await req.form()
        return {"body": (await req.body()).decode()}


    async def twice(req):
        codes = []
        for _ in range(2):
            try:
                await req.form()
            except Exception as exc:
                codes.append(exc.code)
        try:
            await req.body()
        except Exception as exc:
            codes.append(exc.code)
        return {"codes": codes}


    class Signup(BaseModel):
        name: str
        age: int
        tags: list[str] = []
        avatar: UploadedFile | None = None


    async def signup(req):
        data = req.data
        return {"name": data.name, "age": data.age, "tags": data.tags,
                "avatar": data.avatar.read().decode() if data.avatar else None}


    SIGNUP = {
        "type": "object",
        "required": ["name", "age"],
        "properties": {
            "name": {"type": "string", "minLength": 2},
            "age": {"type": "integer", "minimum": 0},
            "tags": {"type": "array", "items": {"type": "string"}},
            "avatar": {"type": "object", "properties": {"size": {"maximum": 10}}},
        },
    }


    ALBUM = {
        "type": "object",
        "required": ["cover"],
        "properties": {
            "cover": {"type": "string", "format": "binary"},
            "pages": {"type": "array", "items": {"type": "string", "format": "binary"}, "maxItems": 1},
        },
    }


    async def album(req):
        pages = req.data.get("pages", [])
        return {"cover": req.data["cover"].read().decode(), "pages": [p.size for p in pages]}


    async def signup_schema(req):
        data = req.data
        avatar = data.get("avatar")
        return {"name": data["name"], "age": data["age"], "tags": data.get("tags"),
                "avatar": avatar.filename if avatar is not None else None}


    def routes(router):
        router.post("/echo", echo)
        router.post("/boom", boom)
        router.post("/keep", keep)
        router.post("/after", after_form)
        router.post("/twice", twice)
        router.post("/small", echo, form_limits={"max_file_size": 10, "max_files": 1, "max_fields": 2,
                                                 "max_field_size": 8})
        router.post("/roomy", echo, form_limits={"max_file_size": "1 MiB"})
        router.post("/spooled-elsewhere", echo, form_limits={"temp_dir": "var/other"})
        router.post("/signup", signup, form=Signup)
        router.post("/signup-schema", signup_schema, form=SIGNUP)
        router.post("/album", album, form=ALBUM)
"""


def project(root: Path, forms: str = "") -> Path:
    uploads = root / "uploads"
    return write_project(root, {
        "mega_config.py": 'config = {"logger": {"level": "error"}, "server": {"body_limit": 4096}}\n',
        "apps/web/app_config.py": f'config = {{"csrf": False, "forms": {{"temp_dir": {str(uploads)!r}, '
                                  f'"max_file_size": 1000, "max_files": 3, "max_fields": 20{forms}}}}}\n',
        "apps/web/routes/main.py": ROUTES,
    })


MULTIPART_B = {"content-type": "multipart/form-data; boundary=b"}


def leftovers(root: Path) -> list[str]:
    uploads = root / "uploads"
    return sorted(str(p.relative_to(uploads)) for p in uploads.rglob("*")) if uploads.exists() else []


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]["code"]


def multipart(boundary: str, *parts: str) -> bytes:
    return ("".join(f"--{boundary}\r\n{part}\r\n" for part in parts) + f"--{boundary}--\r\n").encode()


async def test_urlencoded_multi_valued_and_unicode(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        r = await http.post("/echo", data={"tag": ["a", "b"], "name": "한국어 ü", "empty": ""})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert data["items"] == {"tag": ["a", "b"], "name": ["한국어 ü"], "empty": [""]}
        assert data["first"] == {"tag": "a", "name": "한국어 ü", "empty": ""}
        raw = await http.post("/echo", content=b"a=1+2&b=%E2%9C%93&a=3&flag",
                              headers={"content-type": "application/x-www-form-urlencoded; charset=utf-8"})
        assert raw.json()["data"]["items"] == {"a": ["1 2", "3"], "b": ["✓"], "flag": [""]}
        after = await http.post("/after", data={"x": "1"})  # a urlencoded body stays readable
        assert after.json()["data"]["body"] == "x=1"


async def test_multipart_fields_and_files_on_disk_then_removed(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        content = bytes(range(256)) * 3
        r = await http.post("/echo", data={"tag": ["x", "y"], "note": "naïve ✓"},
                            files=[("doc", ("report.bin", content, "application/x-thing")),
                                   ("doc", ("second.txt", b"two", "text/plain"))])
        assert r.status_code == 200, r.text
        items = r.json()["data"]["items"]
        assert items["tag"] == ["x", "y"] and items["note"] == ["naïve ✓"]
        first, second = items["doc"]
        assert first["filename"] == "report.bin" and first["content_type"] == "application/x-thing"
        assert first["size"] == len(content) and first["sha256"] == hashlib.sha256(content).hexdigest()
        assert first["on_disk"] and second["filename"] == "second.txt" and second["size"] == 3
        assert Path(first["path"]).is_relative_to(tmp_path / "uploads")
        assert not Path(first["path"]).exists() and leftovers(tmp_path) == []  # gone with the request
        blank = multipart("b", 'Content-Disposition: form-data; name="a"\r\n\r\n1',
                          'Content-Disposition: form-data; name="blank"; filename=""\r\n'
                          "Content-Type: application/octet-stream\r\n\r\n")
        r = await http.post("/echo", content=blank, headers=MULTIPART_B)
        assert r.json()["data"]["items"] == {"a": ["1"]}  # a file input left empty is no file
        multi = await http.post("/after", files={"doc": ("a.txt", b"x", "text/plain")})
        assert error(multi) == (500, "body.consumed")


async def test_a_relative_temp_dir_is_taken_from_the_project_root(tmp_path: Path) -> None:
    async with running(project(tmp_path, ', "temp_dir": "var/up"')) as rt, make_client(rt) as http:
        r = await http.post("/echo", files={"doc": ("a.txt", b"x", "text/plain")})
        assert Path(r.json()["data"]["items"]["doc"][0]["path"]).is_relative_to(tmp_path / "var" / "up")
        routed = await http.post("/spooled-elsewhere", files={"doc": ("a.txt", b"x", "text/plain")})
        other = tmp_path / "var" / "other"
        assert Path(routed.json()["data"]["items"]["doc"][0]["path"]).is_relative_to(other)
        assert not any((tmp_path / "var" / "up").iterdir()) and not any(other.iterdir())


async def test_wrong_content_type_is_415(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        assert error(await http.post("/echo", json={"a": 1})) == (415, "body.unsupported_media_type")
        assert error(await http.post("/echo", content=b"a=1")) == (415, "body.unsupported_media_type")


@pytest.mark.parametrize(("body", "ctype"), [
    # truncated
    (b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\nhi", "multipart/form-data; boundary=b"),
    (b"no boundary here", "multipart/form-data"),
    (b"x", "multipart/form-data; boundary=" + "b" * 71),
    (b"garbage before\r\n--b\r\nbroken", "multipart/form-data; boundary=b"),
    (b"--b\r\nContent-Type: text/plain\r\n\r\nno name\r\n--b--\r\n", "multipart/form-data; boundary=b"),
    (b"--b\r\nContent-Disposition: form-data; name=a\r\n\r\n\xff\xfe\r\n--b--\r\n",
     "multipart/form-data; boundary=b"),
    (b"a=%FF", "application/x-www-form-urlencoded"),
])
async def test_malformed_bodies_are_form_invalid(tmp_path: Path, body: bytes, ctype: str) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        r = await http.post("/echo", content=body, headers={"content-type": ctype})
        assert error(r) == (400, "form.invalid"), r.text


async def test_each_limit_with_its_code_and_nothing_left_on_disk(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        big = await http.post("/echo", files={"doc": ("big.bin", b"x" * 1001, "application/octet-stream")})
        assert error(big) == (413, "upload.too_large") and big.json()["error"]["details"]["limit"] == 1000
        ok = await http.post("/echo", files={"doc": ("fits.bin", b"x" * 1000, "application/octet-stream")})
        assert ok.status_code == 200
        files = [("doc", (f"{i}.txt", b"x", "text/plain")) for i in range(4)]
        assert error(await http.post("/echo", files=files)) == (413, "upload.too_many_files")
        fields = {f"f{i}": "v" for i in range(21)}
        assert error(await http.post("/echo", data=fields)) == (400, "form.too_many_fields")
        assert error(await http.post("/echo", data=fields, files={"d": ("a", b"1", "text/plain")})) == \
            (400, "form.too_many_fields")
        assert error(await http.post("/small", data={"a": "x" * 9})) == (413, "form.field_too_large")
        assert error(await http.post("/small", data={"a": "x" * 9}, files={"d": ("a", b"1", "text/plain")})) \
            == (413, "form.field_too_large")
        # body_limit (server.body_limit = 4096) caps what is held in memory: a urlencoded body, and a
        # multipart body's text fields together; files are not counted in it.
        long_text = {f"f{i}": "x" * 1000 for i in range(5)}
        assert error(await http.post("/echo", data=long_text)) == (413, "body.too_large")
        assert error(await http.post("/echo", data=long_text, files={"d": ("a", b"1", "text/plain")})) == \
            (413, "body.too_large")
        assert leftovers(tmp_path) == []


async def test_route_form_limits_replace_the_apps(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        roomy = await http.post("/roomy", files={"doc": ("big.bin", b"x" * 5000, "text/plain")})
        assert roomy.status_code == 200 and roomy.json()["data"]["items"]["doc"][0]["size"] == 5000
        four = [("doc", (f"{i}", b"x", "text/plain")) for i in range(4)]
        assert error(await http.post("/roomy", files=four)) == (413, "upload.too_many_files")  # the app's
        assert error(await http.post("/small", files={"doc": ("a", b"x" * 11, "text/plain")})) == \
            (413, "upload.too_large")
        two = [("doc", ("a", b"x", "text/plain")), ("doc", ("b", b"x", "text/plain"))]
        assert error(await http.post("/small", files=two)) == (413, "upload.too_many_files")
        three = {"a": "1", "b": "2", "c": "3"}
        assert error(await http.post("/small", data=three)) == (400, "form.too_many_fields")


async def test_the_whole_body_limit_refuses_a_declared_length_before_reading(tmp_path: Path) -> None:
    async with running(project(tmp_path, ', "max_body": 2000')) as rt, make_client(rt) as http:
        sent = 0

        async def body() -> Any:
            nonlocal sent
            for _ in range(100):
                sent += 1
                yield b"x" * 100

        r = await http.post("/echo", content=body(), headers={
            "content-type": "multipart/form-data; boundary=b", "content-length": "10000"})
        assert error(r) == (413, "body.too_large") and sent <= 1  # refused on the header alone
        streamed = await http.post("/echo", content=multipart("b", 'Content-Disposition: form-data; name=d; '
                                                              'filename="f"\r\n\r\n' + "x" * 900) * 3,
                                   headers=MULTIPART_B)
        assert error(streamed) == (413, "body.too_large")


async def test_reading_stops_at_the_limit_crossed(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        pulled = 0

        async def body() -> Any:  # no Content-Length: only reading can find the file too large
            nonlocal pulled
            pulled += 1
            yield b'--b\r\nContent-Disposition: form-data; name="doc"; filename="f"\r\n\r\n'
            for _ in range(1000):
                pulled += 1
                yield b"x" * 100

        r = await http.post("/echo", content=body(), headers=MULTIPART_B)
        assert error(r) == (413, "upload.too_large")
        assert pulled <= 12  # 1,000 bytes allowed: the 11th chunk of 100 crosses it
        assert leftovers(tmp_path) == []


async def test_handler_error_and_limit_mid_file_leave_no_temp_file(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        r = await http.post("/boom", data={"a": "1"}, files={"doc": ("a.txt", b"x" * 500, "text/plain")})
        assert error(r) == (500, "internal")
        assert (tmp_path / "uploads").exists() and leftovers(tmp_path) == []
        second_too_big = [("doc", ("a.txt", b"x" * 500, "text/plain")),
                          ("doc", ("b.txt", b"x" * 2000, "text/plain"))]
        assert error(await http.post("/echo", files=second_too_big)) == (413, "upload.too_large")
        assert leftovers(tmp_path) == []
        # A handler that catches the error and asks again gets the same error: the body is gone.
        again = await http.post("/twice", files=second_too_big)
        assert again.json()["data"]["codes"] == ["upload.too_large", "upload.too_large", "body.consumed"]
        assert leftovers(tmp_path) == []


async def test_a_moved_file_survives_the_request(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        r = await http.post("/keep", params={"to": str(store)},
                            files={"doc": ("../../etc/passwd", b"kept", "text/plain")})
        assert r.status_code == 200, r.text
        assert Path(r.json()["data"]["path"]) == store / "passwd"
        assert (store / "passwd").read_bytes() == b"kept" and leftovers(tmp_path) == []


@pytest.mark.parametrize(("raw", "shown"), [
    ("../../etc/passwd", "passwd"),
    ("C:\\\\x\\\\y.txt", "y.txt"),
    ("a\\u0000b\\u001f.txt", "ab.txt"),
    ("..", ""),
    (".hidden", "hidden"),
    ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),
    ("사진 ü.png", "사진 ü.png"),
    ("evil\u202egnp.exe", "evilgnp.exe"),  # a right-to-left override would show it as "exe.png"
])
async def test_filenames_are_sanitised(tmp_path: Path, raw: str, shown: str) -> None:
    # NUL and control bytes written as escapes above, sent raw as a hostile client sends them
    header = raw.encode("latin-1", "backslashreplace").decode("unicode_escape")
    body = multipart("b", f'Content-Disposition: form-data; name="doc"; filename="{header}"\r\n'
                          "Content-Type: text/plain\r\n\r\nhello")
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        r = await http.post("/echo", content=body, headers=MULTIPART_B)
        assert r.status_code == 200, r.text
        assert r.json()["data"]["items"]["doc"][0]["filename"] == shown


async def test_form_schema_pydantic_and_json_schema(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        ok = await http.post("/signup", data={"name": "Ann", "age": "41", "tags": "solo"},
                             files={"avatar": ("me.png", b"png!", "image/png")})
        assert ok.status_code == 200, ok.text
        assert ok.json()["data"] == {"name": "Ann", "age": 41, "tags": ["solo"], "avatar": "png!"}
        bad = await http.post("/signup", data={"name": "Ann", "age": "old"})
        assert error(bad) == (400, "validation.failed")
        assert bad.json()["error"]["details"][0]["in"] == "form"
        assert bad.json()["error"]["details"][0]["path"] == "/age"
        schema_ok = await http.post("/signup-schema", data={"name": "Bob", "age": "7", "tags": ["a", "b"]},
                                    files={"avatar": ("b.png", b"tiny", "image/png")})
        assert schema_ok.status_code == 200, schema_ok.text
        assert schema_ok.json()["data"] == {"name": "Bob", "age": 7, "tags": ["a", "b"], "avatar": "b.png"}
        too_big = await http.post("/signup-schema", data={"name": "Bob", "age": "7"},
                                  files={"avatar": ("b.png", b"x" * 11, "image/png")})
        assert error(too_big) == (400, "validation.failed")
        assert too_big.json()["error"]["details"][0]["path"] == "/avatar/size"
        short = await http.post("/signup-schema", data={"name": "B", "age": "-1"})
        assert {d["path"] for d in short.json()["error"]["details"]} == {"/name", "/age"}
        as_json = await http.post("/signup", json={"name": "x", "age": 1})
        assert error(as_json) == (415, "body.unsupported_media_type")
        assert leftovers(tmp_path) == []


async def test_form_schema_binary_fields_must_be_files(tmp_path: Path) -> None:
    async with running(project(tmp_path)) as rt, make_client(rt) as http:
        ok = await http.post("/album", files=[("cover", ("c.png", b"cover", "image/png")),
                                              ("pages", ("1.png", b"12", "image/png"))])
        assert ok.status_code == 200, ok.text
        assert ok.json()["data"] == {"cover": "cover", "pages": [2]}
        text = await http.post("/album", data={"cover": "not a file"})
        assert error(text) == (400, "validation.failed")
        assert text.json()["error"]["details"] == [{"in": "form", "path": "/cover",
                                                    "message": "must be a file (multipart/form-data with a "
                                                               "filename)"}]
        pages = [("pages", (f"{i}.png", b"x", "image/png")) for i in range(2)]
        many = await http.post("/album", files=[("cover", ("c.png", b"c", "image/png")), *pages])
        assert error(many) == (400, "validation.failed")
        assert many.json()["error"]["details"][0]["path"] == "/pages"
        assert leftovers(tmp_path) == []


def test_an_uploaded_file_field_has_openapis_file_schema() -> None:
    from pydantic import BaseModel

    from mega.forms import UploadedFile

    class Upload(BaseModel):
        avatar: UploadedFile
        pages: list[UploadedFile] = []

    props = Upload.model_json_schema()["properties"]
    assert props["avatar"] == {"type": "string", "format": "binary", "title": "Avatar"}
    assert props["pages"]["items"] == {"type": "string", "format": "binary"}


CSRF_ROUTES = """
    async def page(req, reply, ctx):
        return {"token": ctx.csrf_token()}

    async def upload(req):
        form = await req.form()
        return {"fields": sorted(form), "size": form.file("doc").size if form.file("doc") else None}

    async def ignore():
        return {"ignored": True}

    def routes(router):
        router.get("/form", page)
        router.post("/upload", upload)
        router.post("/ignore", ignore)
"""


async def test_csrf_token_read_from_urlencoded_and_multipart_fields(tmp_path: Path) -> None:
    root = write_project(tmp_path, {
        "mega_config.py": 'config = {"logger": {"level": "error"}}\n',
        "apps/web/app_config.py": f'config = {{"forms": {{"temp_dir": {str(tmp_path / "uploads")!r}}}}}\n',
        "apps/web/routes/main.py": CSRF_ROUTES,
    })
    async with running(root) as rt, make_client(rt) as http:
        token = (await http.get("/form")).json()["data"]["token"]
        urlencoded = await http.post("/upload", data={"_csrf": token, "a": "1"})
        assert urlencoded.status_code == 200 and urlencoded.json()["data"]["fields"] == ["_csrf", "a"]
        doc = {"doc": ("a.txt", b"abc", "text/plain")}
        multi = await http.post("/upload", data={"_csrf": token}, files=doc)
        assert multi.status_code == 200, multi.text
        assert multi.json()["data"] == {"fields": ["_csrf", "doc"], "size": 3}
        wrong = await http.post("/upload", data={"_csrf": token[:-4] + "AAAA"},
                                files={"doc": ("a.txt", b"abc", "text/plain")})
        assert error(wrong) == (403, "csrf.token_invalid")
        missing = await http.post("/upload", data={"a": "1"}, files={"doc": ("a.txt", b"abc", "text/plain")})
        assert error(missing) == (403, "csrf.token_missing")
        assert error(await http.post("/upload", data={"_csrf": "nonsense"})) == (403, "csrf.token_invalid")
        # The check parsed the form (files spooled) for a handler that never looks at it: still removed.
        ignored = await http.post("/ignore", data={"_csrf": token}, files=doc)
        assert ignored.status_code == 200 and (tmp_path / "uploads").exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize(("app_config", "route", "expected"), [
    ('config = {"forms": {"max_files": -1, "max_file_size": "ten"}}\n', "router.post('/x', h)",
     ["forms.max_files must be an integer >= 0", "forms.max_file_size must be a size"]),
    ("config = {}\n", "router.post('/x', h, form_limits={'max_file': 1})",
     ["form_limits.max_file", "max_file_size"]),
    ("config = {}\n", "router.post('/x', h, form_limits={'max_body': 0})", ["form_limits.max_body"]),
    ("config = {}\n", "router.post('/x', h, body={'type': 'object'}, form={'type': 'object'})",
     ["both body= and form="]),
])
async def test_bad_limits_and_options_fail_boot(tmp_path: Path, app_config: str, route: str,
                                                expected: list[str]) -> None:
    from mega.errors import MegaError

    root = write_project(tmp_path, {
        "mega_config.py": 'config = {"logger": {"level": "error"}}\n',
        "apps/web/app_config.py": app_config,
        "apps/web/routes/main.py": f"async def h():\n    return 1\n\ndef routes(router):\n    {route}\n",
    })
    with pytest.raises(MegaError) as failed:
        async with running(root):
            pass
    text = str(failed.value) + repr(getattr(failed.value, "__cause__", None))
    for piece in expected:
        assert piece in text, text
