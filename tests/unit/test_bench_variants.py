"""The HTTP benchmark's variants: each one, written from the base project, is a mega project that
boots and answers both benchmark endpoints; the hash of its files identifies it."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from mega.testing import make_client, running

HARNESS = Path(__file__).resolve().parents[2] / "bench" / "http" / "harness"


def _harness(module: str) -> ModuleType:
    # bench/ is not a package: load the harness under a private name, without touching sys.path.
    if "bench_http_harness" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "bench_http_harness", HARNESS / "__init__.py", submodule_search_locations=[str(HARNESS)])
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules["bench_http_harness"] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"bench_http_harness.{module}")


variants = _harness("variants")
project = _harness("project")
apps = _harness("apps")
NAMES = [v.name for v in variants.VARIANTS]


@pytest.mark.parametrize("name", NAMES)
async def test_every_variant_boots_and_answers_both_endpoints(name: str, tmp_path: Path) -> None:
    variant = variants.BY_NAME[name]
    root = tmp_path / name
    record = project.materialise(variant, root)
    assert record["changes"] == variant.changes()
    async with running(root, env="production") as rt, make_client(rt) as client:
        for endpoint, path in apps.ENDPOINTS.items():
            resp = await client.get(path)
            assert resp.status_code == 200, (path, resp.text)
            assert resp.headers["content-type"].startswith("application/json")
            assert resp.json() == apps.MEGA_BODIES[endpoint]
            # the variant's config change took effect: secure headers unless helmet is off
            assert ("x-frame-options" in resp.headers) == (variant.app_config.get("helmet") is not False)
        assert (rt.access_log is not None) == variant.access_log
        routes = [row for app in rt.apps.values() for row in app.describe_routes()
                  if not row["handler"].startswith("openapi:")]  # the OpenAPI rows when it is on
    assert len(routes) == 2 + variant.filler_routes


@pytest.mark.parametrize("name", NAMES)
def test_a_variant_hashes_the_same_every_time(name: str, tmp_path: Path) -> None:
    first = project.materialise(variants.BY_NAME[name], tmp_path / "a")
    second = project.materialise(variants.BY_NAME[name], tmp_path / "b")
    assert first["sha256"] == second["sha256"]
    assert first["files"] == second["files"] == 4


def test_variants_that_change_files_hash_apart_and_a_launcher_change_does_not(tmp_path: Path) -> None:
    hashes = {v.name: project.materialise(v, tmp_path / v.name)["sha256"] for v in variants.VARIANTS}
    # mega_stock_uvicorn serves the base project's files on another server: same files, same hash.
    assert hashes.pop("mega_stock_uvicorn") == hashes["mega_10"]
    assert len(set(hashes.values())) == len(hashes)
    assert hashes["mega_10"] == project.tree_hash(project.BASE_PROJECT)[0]


def test_the_variant_changes_land_in_the_written_files(tmp_path: Path) -> None:
    root = project.materialise(variants.BY_NAME["mega_1000"], tmp_path / "routes")
    assert "COUNT = 998\n" in (tmp_path / "routes" / project.FILLER).read_text()
    assert root["changes"] == {"filler_routes": 998}
    project.materialise(variants.BY_NAME["mega_nosec"], tmp_path / "nosec")
    text = (tmp_path / "nosec" / project.APP_CONFIG).read_text()
    assert "'helmet': False" in text and "'rate_limit': False" in text
