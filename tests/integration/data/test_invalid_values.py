"""The same out-of-range or invalid value gets the same answer on SQLite, PostgreSQL and MariaDB:
400 `db.invalid_value`, through the model API, raw SQL and HTTP alike (never a 500)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa

from mega.adapters.sql import SqlAdapter
from mega.data import fields as f
from mega.data.model import Model
from mega.errors import MegaError
from tests.conftest import asgi_client, build_app
from tests.integration.data.conftest import RUN, create_tables, drop_tables

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Gauge(Model):
    id = f.id()
    small = f.integer(nullable=True)
    big = f.bigint(nullable=True)
    score = f.float(nullable=True)
    day = f.date(nullable=True)

    class Meta:
        table = f"{RUN}_gauges"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def db(sql_db: SqlAdapter) -> AsyncIterator[SqlAdapter]:
    metadata = await create_tables(sql_db, [Gauge])
    Gauge.bind(sql_db)
    try:
        yield sql_db
    finally:
        Gauge.bind(None)
        await drop_tables(sql_db, metadata)


async def refused(call: Any) -> tuple[str, int]:
    with pytest.raises(MegaError) as info:
        await call
    return info.value.code, info.value.status


@pytest.mark.parametrize("values", [
    {"small": 2**31}, {"small": -(2**31) - 1}, {"big": 2**63}, {"big": -(2**63) - 1}, {"big": 10**30},
    {"big": 18446744073709551615},  # what orjson decodes from a JSON body
    {"small": "abc"}, {"small": "12"}, {"small": 1.5}, {"score": float("inf")}, {"score": float("nan")},
    {"score": "x"}, {"day": "not a date"},
], ids=repr)
async def test_a_refused_value_is_400_everywhere(db: SqlAdapter, values: dict[str, Any]) -> None:
    assert await refused(Gauge.create(**values)) == ("db.invalid_value", 400)
    made = await Gauge.create()
    assert await refused(Gauge.update(made.id, **values)) == ("db.invalid_value", 400)
    await Gauge.delete({})


@pytest.mark.parametrize("value", [10**30, 2**63, -(2**63) - 1, "abc", "9" * 30, "1.5", None], ids=repr)
async def test_a_lookup_by_an_impossible_id_is_400_everywhere(db: SqlAdapter, value: Any) -> None:
    assert await refused(Gauge.get(value)) == ("db.invalid_value", 400)
    assert await refused(Gauge.delete(value)) == ("db.invalid_value", 400)


async def test_filters_and_raw_sql_refuse_integers_beyond_64_bits(db: SqlAdapter) -> None:
    assert await refused(Gauge.find(big=10**30)) == ("db.invalid_value", 400)
    assert await refused(Gauge.count(big__in=[1, 2**64])) == ("db.invalid_value", 400)
    table = f"{RUN}_gauges"
    assert await refused(db.query(f"SELECT id FROM {table} WHERE big = :v", {"v": 2**63})) == \
        ("db.invalid_value", 400)
    assert await Gauge.count(big=2**63 - 1) == 0  # the edge of the range is a value like any other


async def test_ids_from_urls_are_strings(db: SqlAdapter) -> None:
    made = await Gauge.create(small=7)
    assert (await Gauge.get(str(made.id))).small == 7
    assert (await Gauge.update(str(made.id), small=8)).small == 8
    assert await Gauge.delete(str(made.id)) == 1


async def test_a_refused_value_leaves_no_lock_behind(db: SqlAdapter) -> None:
    for _ in range(3):  # one per pooled connection it may land on
        assert await refused(Gauge.create(day="not a date")) == ("db.invalid_value", 400)
    async with db.native.begin() as conn:  # another connection: DDL needs every lock on the table
        if db.dialect == "postgresql":  # a lock left behind fails the ALTER rather than hang it
            await conn.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
        elif db.dialect == "mysql":
            await conn.execute(sa.text("SET SESSION lock_wait_timeout = 5"))
        await asyncio.wait_for(conn.execute(sa.text(f"ALTER TABLE {RUN}_gauges ADD COLUMN probe_x INTEGER")),
                               20)
        await conn.execute(sa.text(f"ALTER TABLE {RUN}_gauges DROP COLUMN probe_x"))


async def test_http_clients_get_400_envelopes(db: SqlAdapter) -> None:
    async def show(req: Any) -> Any:
        return await Gauge.get(req.params["id"])

    async def create(req: Any) -> Any:
        return await Gauge.create(**await req.json())

    def declare(r: Any) -> None:
        r.get("/gauges/{id}", show)
        r.post("/gauges", create)

    async with asgi_client(build_app(declare, env="production")) as http:
        for path in ("/gauges/99999999999999999999999", "/gauges/abc", f"/gauges/{2**63}"):
            r = await http.get(path)
            assert (r.status_code, r.json()["error"]["code"]) == (400, "db.invalid_value"), path
        for body in (b'{"big": 18446744073709551615}', b'{"small": 99999999999}', b'{"day": "x"}'):
            r = await http.post("/gauges", content=body, headers={"content-type": "application/json"})
            assert (r.status_code, r.json()["error"]["code"]) == (400, "db.invalid_value"), body
