"""`reply.file(name, root=...)` stays in its folder, `reply.redirect()` stays on the site, and download
names are encoded per RFC 6266: the attacks an attack run made against them, each refused."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pytest

from mega import RedirectResponse
from mega.errors import MegaError
from mega.http.response import content_disposition


@pytest.fixture
def folders(tmp_path: Path) -> Path:
    public = tmp_path / "downloads"
    (public / "sub").mkdir(parents=True)
    (public / "report.txt").write_text("report")
    (public / "sub" / "deep.txt").write_text("deep")
    (public / ".env").write_text("SECRET=1")
    (tmp_path / "secret.txt").write_text("secret")
    (public / "out").symlink_to(tmp_path / "secret.txt")  # a symlink pointing outside
    (public / "inside").symlink_to(public / "report.txt")  # one staying inside is fine
    return public


def file_routes(public: Path):
    def declare(r):
        r.get("/dl/{name:path}", lambda req, reply: reply.file(req.params["name"], root=public))
        r.get("/q", lambda req, reply: reply.file(req.query["name"], root=str(public)))
    return declare


async def test_a_confined_file_is_served_from_its_folder(make_client, folders):
    async with make_client(file_routes(folders)) as http:
        for name, body in (("report.txt", "report"), ("sub/deep.txt", "deep"), ("inside", "report")):
            r = await http.get(f"/dl/{name}")
            assert (r.status_code, r.text) == (200, body), name


@pytest.mark.parametrize("name", [
    "..%2fsecret.txt",  # encoded: the server decodes the URL once, giving "../secret.txt"
    "..%2F..%2Fsecret.txt",
    "%2e%2e/secret.txt",
    "out",  # a symlink leaving the folder
    ".env",  # dotfiles
    "a%00b",  # NUL
    "report.txt%00.png",
    "sub\\..\\..\\secret.txt",  # backslashes
    "sub//deep.txt",
])
async def test_escapes_from_the_folder_are_404_without_a_hint(make_client, folders, name):
    async with make_client(file_routes(folders)) as http:
        r = await http.get(f"/dl/{name}")
        assert r.status_code == 404, name
        assert r.json()["error"] == {"code": "file.not_found", "message": "file not found", "details": {}}


@pytest.mark.parametrize("name", ["/etc/passwd", str(Path(__file__).resolve()), "../secret.txt",
                                  "sub/../../secret.txt", "", "./report.txt",
                                  "..%2fsecret.txt", "secret.txt\x00"])
async def test_absolute_and_query_names_are_refused(make_client, folders, name):
    async with make_client(file_routes(folders)) as http:
        r = await http.get("/q", params={"name": name})
        assert r.status_code == 404 and r.json()["error"]["code"] == "file.not_found", name


async def test_a_nul_in_an_unconfined_path_is_a_404_not_a_500(make_client, folders):
    def declare(r):
        r.get("/raw", lambda req, reply: reply.file(str(folders) + "/" + req.query["name"]))

    async with make_client(declare) as http:
        assert (await http.get("/raw", params={"name": "report.txt"})).text == "report"
        r = await http.get("/raw", params={"name": "report.txt\x00"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "file.not_found"


def parse_disposition(value: str) -> tuple[str, str | None]:
    """(filename, filename*) as a client reads them."""
    assert value.isascii() and value.isprintable(), value
    fallback = value.split('filename="', 1)[1].split('"', 1)[0]
    star = value.split("filename*=UTF-8''", 1)[1] if "filename*=" in value else None
    return fallback, unquote(star) if star is not None else None


@pytest.mark.parametrize("name, fallback, exact", [
    ("report.txt", "report.txt", None),
    ("naïve café.pdf", "naive cafe.pdf", "naïve café.pdf"),
    ("отчёт.txt", "_____.txt", "отчёт.txt"),
    ('say "hi".txt', "say _hi_.txt", 'say "hi".txt'),
    ("a\r\nSet-Cookie: x=1.txt", "a__Set-Cookie: x=1.txt", None),
    ("nul\x00.txt", "nul_.txt", None),
    ("back\\slash;%41.txt", "back_slash;_41.txt", "back\\slash;%41.txt"),
])
async def test_download_names_are_encoded_per_rfc_6266(make_client, folders, name, fallback, exact):
    def declare(r):
        r.get("/dl", lambda req, reply: reply.file(folders / "report.txt", filename=name))

    async with make_client(declare) as http:
        r = await http.get("/dl")
        assert r.status_code == 200 and r.text == "report"
        assert parse_disposition(r.headers["content-disposition"]) == (fallback, exact)


async def test_a_bad_download_name_is_an_error_before_anything_is_sent(make_client, folders):
    def declare(r):
        r.get("/empty", lambda req, reply: reply.file(folders / "report.txt", filename=""))

    async with make_client(declare) as http:
        r = await http.get("/empty")
        assert r.status_code == 500 and r.json()["error"]["code"] == "response.invalid_filename"
    with pytest.raises(MegaError) as caught:
        content_disposition(5)  # type: ignore[arg-type]
    assert caught.value.code == "response.invalid_filename"


def redirect_routes(r):
    r.get("/next", lambda req, reply: reply.redirect(req.query["to"]))
    r.get("/out", lambda req, reply: reply.redirect(req.query["to"], 303, allow_external=True))


@pytest.mark.parametrize("target, location", [
    ("/account", "/account"),
    ("/a/b?x=1#top", "/a/b?x=1#top"),
    ("settings", "settings"),
    ("?page=2", "?page=2"),
    ("/search?q=a:b", "/search?q=a:b"),
    ("/café", "/caf%C3%A9"),
    ("/a b", "/a%20b"),
    ("/search?q=tea ", "/search?q=tea%20"),
    ("/%2F%2Fevil.com", "/%2F%2Fevil.com"),  # still encoded in the Location: a path of this site
    ("/%5Cevil.com", "/%5Cevil.com"),
])
async def test_redirects_within_the_site_pass(make_client, target, location):
    async with make_client(redirect_routes) as http:
        r = await http.get("/next", params={"to": target})
        assert r.status_code == 302 and r.headers["location"] == location


@pytest.mark.parametrize("target", [
    "//evil.com", "///evil.com", "/\\evil.com", "\\\\evil.com", "/\\/evil.com", "https://evil.com",
    "http://evil.com/path", "HTTPS://evil.com", "javascript:alert(1)", "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>", "mailto:a@evil.com", "evil.com:80/x",
])
async def test_other_hosts_and_schemes_are_refused(make_client, target):
    async with make_client(redirect_routes) as http:
        r = await http.get("/next", params={"to": target})
        assert r.status_code == 400 and "location" not in r.headers, target
        assert r.json()["error"]["code"] == "redirect.external"
        # The same targets arriving percent-encoded in a query are decoded once by the query parser.
        raw = "".join(f"%{b:02X}" for b in target.encode())
        r = await http.get(f"/next?to={raw}")
        assert r.status_code == 400 and r.json()["error"]["code"] == "redirect.external"


@pytest.mark.parametrize("target", ["", " //evil.com", "/\t/evil.com", "/\n/evil.com",
                                    "/x\r\nSet-Cookie: a=1", "/\x00", "/a\x7f"])
async def test_control_characters_and_stray_spaces_are_refused(make_client, target):
    async with make_client(redirect_routes) as http:
        for path in ("/next", "/out"):  # even when external targets are allowed
            r = await http.get(path, params={"to": target})
            assert r.status_code == 400 and r.json()["error"]["code"] == "redirect.invalid", (path, target)
            assert "set-cookie" not in r.headers


async def test_allow_external_lets_a_chosen_site_through(make_client):
    async with make_client(redirect_routes) as http:
        r = await http.get("/out", params={"to": "https://github.com/login/oauth?x=1"})
        assert r.status_code == 303 and r.headers["location"] == "https://github.com/login/oauth?x=1"
    assert dict(RedirectResponse("https://a.test/", allow_external=True).headers)[b"location"] == b"https://a.test/"
    with pytest.raises(MegaError) as caught:
        RedirectResponse("//a.test/")
    assert caught.value.code == "redirect.external" and caught.value.status == 400
    assert caught.value.hint is not None and "allow_external=True" in caught.value.hint


def test_the_static_folder_and_reply_file_share_one_check():
    from mega.http import _paths
    from mega.static import _files

    assert _files.confine is _paths.confine
