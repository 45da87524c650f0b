"""The /docs page: its own CSP allowing exactly its shipped assets, served with ETag and Cache-Control."""

from __future__ import annotations

import re
from pathlib import Path

from mega.testing import make_client, running

FULL = Path(__file__).resolve().parents[2] / "fixtures" / "projects" / "openapi_full"
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
            "connect-src 'self' https://api.example.com; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'self'")


async def test_the_page_has_its_own_csp_and_names_its_hashed_assets() -> None:
    async with running(FULL) as rt, make_client(rt, host="api.test") as client:
        page = await client.get("/docs")
        assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.headers["content-security-policy"] == DOCS_CSP  # servers' origins may be called
        assert page.headers["x-frame-options"] == "SAMEORIGIN"  # the app's other secure headers stay
        assert page.headers["cache-control"] == "no-cache" and page.headers["etag"]
        assets = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page.text)
        assert len(assets) == 3 and all(re.fullmatch(r"/docs/assets/[\w-]+\.[0-9a-f]{12}\.(js|css)", a)
                                        for a in assets)
        assert 'data-url="/openapi.json"' in page.text
        assert "<script>" not in page.text and "style=" not in page.text  # nothing inline to allow
        assert "http" not in page.text.replace("http-equiv", "")  # no CDN, no other origin
        app_page = await client.get("/openapi.json")
        assert "default-src 'self'" in app_page.headers["content-security-policy"]  # the app's own CSP


async def test_assets_are_cached_for_a_year_revalidated_by_etag_and_gzipped() -> None:
    async with running(FULL) as rt, make_client(rt, host="api.test") as client:
        page = await client.get("/docs")
        bundle = next(a for a in re.findall(r'src="([^"]+)"', page.text) if "swagger-ui-bundle" in a)
        plain = await client.get(bundle, headers={"accept-encoding": "identity"})
        assert plain.status_code == 200 and plain.headers["content-type"] == "text/javascript; charset=utf-8"
        assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "content-encoding" not in plain.headers and len(plain.content) > 1_000_000
        assert plain.headers["vary"] == "accept-encoding"
        zipped = await client.get(bundle, headers={"accept-encoding": "gzip"})
        assert zipped.headers["content-encoding"] == "gzip" and zipped.content == plain.content
        assert int(zipped.headers["content-length"]) < len(plain.content) // 3
        assert zipped.headers["etag"] != plain.headers["etag"]
        again = await client.get(bundle, headers={"accept-encoding": "identity",
                                                  "if-none-match": plain.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == plain.headers["etag"]
        refused = await client.get(bundle, headers={"accept-encoding": "gzip;q=0"})
        assert "content-encoding" not in refused.headers
        assert (await client.get("/docs/assets/swagger-ui-bundle.000000000000.js")).status_code == 404


async def test_the_shipped_assets_carry_their_licence() -> None:
    import mega.openapi

    folder = Path(mega.openapi.__file__).parent / "_assets" / "swagger-ui"
    assert "Apache License" in (folder / "LICENSE").read_text()
    assert (folder / "NOTICE").exists() and (folder / "swagger-ui-bundle.js.LICENSE.txt").exists()
