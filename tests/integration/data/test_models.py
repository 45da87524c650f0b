"""The model suite: one set of tests, unchanged across SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa

from mega.adapters.sql import SqlAdapter
from mega.data import fields as f
from mega.data.model import Model
from mega.data.records import Record
from mega.data.sqltypes import UTCDateTime
from mega.errors import MegaError
from mega.http.envelope import ok_body
from tests.conftest import asgi_client, build_app
from tests.integration.data.conftest import RUN, create_tables, drop_tables

pytestmark = pytest.mark.asyncio(loop_scope="module")


class Status(enum.Enum):
    NEW = "new"
    ACTIVE = "active"
    BANNED = "banned"


class Org(Model):
    id = f.id()
    name = f.string(80, unique=True)

    class Meta:
        table = f"{RUN}_orgs"


class Member(Model):
    id = f.id()
    org_id = f.foreign_key(f"{RUN}_orgs.id", on_delete="cascade", nullable=True)
    email = f.string(120, unique=True)
    name = f.string(80, nullable=True)
    age = f.integer(nullable=True)
    score = f.float(nullable=True)
    balance = f.decimal(12, 2, default=Decimal("0"))
    active = f.boolean(default=True)
    status = f.enum(Status, default=Status.NEW)
    profile = f.json(nullable=True)
    born = f.date(nullable=True)
    seen_at = f.datetime(nullable=True)

    class Meta:
        table = f"{RUN}_members"
        timestamps = True


class Ticket(Model):
    id = f.uuid_pk()
    title = f.string(80)
    member_id = f.foreign_key(f"{RUN}_members.id", nullable=True)  # no action: a member with tickets stays

    class Meta:
        table = f"{RUN}_tickets"


class Setting(Model):
    id = f.id()
    key = f.string(40, unique=True)
    value = f.integer(default=0)
    note = f.string(40, nullable=True)

    class Meta:
        table = f"{RUN}_settings"
        timestamps = True


MODELS = [Org, Member, Ticket, Setting]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def tables(sql_db: SqlAdapter) -> AsyncIterator[SqlAdapter]:
    metadata = await create_tables(sql_db, MODELS)
    try:
        yield sql_db
    finally:
        await drop_tables(sql_db, metadata)


@pytest_asyncio.fixture(loop_scope="module")
async def db(tables: SqlAdapter) -> AsyncIterator[SqlAdapter]:
    """Models bound to this dialect's adapter, every table empty."""
    for model in reversed(MODELS):
        model.bind(tables)
        await model.delete({})
    yield tables
    for model in MODELS:
        model.bind(None)


async def codes(call: Any) -> tuple[str, int, Any]:
    with pytest.raises(MegaError) as info:
        await call
    return info.value.code, info.value.status, info.value.details


async def seed_members() -> dict[str, Record]:
    org = await Org.create(name="acme")
    rows = [
        dict(email="ann@x.io", name="Ann", age=31, score=1.5, status=Status.ACTIVE, org_id=org.id),
        dict(email="bob@x.io", name="Bob", age=25, score=2.5, status="new"),
        dict(email="cy@y.io", name=None, age=None, score=None, status="banned", active=False),
        dict(email="di_100%@y.io", name="Di", age=40, score=0.0),
    ]
    out = {}
    for row in rows:
        rec = await Member.create(**row)
        out[rec.email] = rec
    return out


def emails(rows: list[Record]) -> list[str]:
    return sorted(r.email for r in rows)


# -- create / get ----------------------------------------------------------------------------

async def test_create_returns_the_stored_row(db: SqlAdapter) -> None:
    rec = await Member.create(email="a@x.io", age=3)
    assert isinstance(rec.id, int) and rec.id > 0
    assert rec["email"] == rec.email == "a@x.io"
    assert rec.balance == Decimal("0.00") and isinstance(rec.balance, Decimal)
    assert rec.active is True and rec.status == "new" and rec.profile is None
    assert rec.created_at.tzinfo is dt.UTC and rec.created_at == rec.updated_at
    assert abs(rec.created_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert rec.to_dict() == dict(rec) and type(rec.to_dict()) is dict
    assert await Member.get(rec.id) == rec
    body = ok_body(rec)  # what a handler returning the record sends
    assert b'"email":"a@x.io"' in body and b'"balance":"0.00"' in body
    with pytest.raises(AttributeError, match="did you mean 'email'"):
        _ = rec.emial


async def test_get_missing_is_404(db: SqlAdapter) -> None:
    code, status, details = await codes(Member.get(987654))
    assert (code, status) == ("db.not_found", 404)
    assert details == {"model": "Member", "id": 987654}


# -- filters ---------------------------------------------------------------------------------

@pytest.mark.parametrize("filters, expected", [
    ({"email": "bob@x.io"}, ["bob@x.io"]),
    ({"age__gt": 30}, ["ann@x.io", "di_100%@y.io"]),
    ({"age__gte": 31}, ["ann@x.io", "di_100%@y.io"]),
    ({"age__lt": 31}, ["bob@x.io"]),
    ({"age__lte": 31}, ["ann@x.io", "bob@x.io"]),
    ({"age__ne": 25}, ["ann@x.io", "cy@y.io", "di_100%@y.io"]),  # NULL rows match, like Python's !=
    ({"age__in": [25, 40, 99]}, ["bob@x.io", "di_100%@y.io"]),
    ({"age__in": []}, []),
    ({"age__not_in": [25, 40]}, ["ann@x.io", "cy@y.io"]),
    ({"age__not_in": []}, ["ann@x.io", "bob@x.io", "cy@y.io", "di_100%@y.io"]),
    ({"status__in": ["new", "banned"]}, ["bob@x.io", "cy@y.io", "di_100%@y.io"]),
    ({"email__like": "%@x.io"}, ["ann@x.io", "bob@x.io"]),
    ({"name__ilike": "a%"}, ["ann@x.io"]),
    ({"name__isnull": True}, ["cy@y.io"]),
    ({"name__isnull": False}, ["ann@x.io", "bob@x.io", "di_100%@y.io"]),
    ({"name": None}, ["cy@y.io"]),
    ({"email__contains": "100%"}, ["di_100%@y.io"]),  # % and _ are literal in contains
    ({"email__contains": "_"}, ["di_100%@y.io"]),
    ({"email__icontains": "BOB"}, ["bob@x.io"]),
    ({"email__startswith": "cy"}, ["cy@y.io"]),
    ({"email__endswith": "@y.io"}, ["cy@y.io", "di_100%@y.io"]),
    ({"active": False}, ["cy@y.io"]),
    ({"score__gte": 1.5, "age__lt": 40}, ["ann@x.io", "bob@x.io"]),
    ({"status": Status.ACTIVE}, ["ann@x.io"]),
])
async def test_filters(db: SqlAdapter, filters: dict[str, Any], expected: list[str]) -> None:
    await seed_members()
    assert emails(await Member.find(**filters)) == expected
    assert await Member.count(**filters) == len(expected)
    assert await Member.exists(**filters) is bool(expected)


async def test_order_limit_offset_columns_where(db: SqlAdapter) -> None:
    await seed_members()
    rows = await Member.find(order_by="-age", age__isnull=False)
    assert [r.age for r in rows] == [40, 31, 25]
    rows = await Member.find(order_by=["active", "email"], limit=2, offset=1)
    assert [r.email for r in rows] == ["ann@x.io", "bob@x.io"]
    rows = await Member.find(columns=["id", "email"], email="bob@x.io")
    assert list(rows[0]) == ["id", "email"]
    assert (await Member.find_one(where={"email": "bob@x.io"})).name == "Bob"  # type: ignore[union-attr]
    assert await Member.find_one(email="nobody") is None
    assert await Member.count() == 4


async def test_bad_filters_name_the_model_and_the_choices(db: SqlAdapter) -> None:
    code, status, details = await codes(Member.find(emial="x"))
    assert (code, status) == ("db.invalid_filter", 400)
    assert details["model"] == "Member" and "email" in details["columns"]
    with pytest.raises(MegaError, match="did you mean 'email'"):
        await Member.find(emial="x")
    with pytest.raises(MegaError, match="did you mean 'age__gte'"):
        await Member.find(age__gtee=1)
    assert (await codes(Member.find(age__in=5)))[0] == "db.invalid_filter"
    assert (await codes(Member.find(name__contains=5)))[0] == "db.invalid_filter"
    assert (await codes(Member.find(name__isnull="yes")))[0] == "db.invalid_filter"
    assert (await codes(Member.find(order_by="-agee")))[0] == "db.invalid_filter"
    assert (await codes(Member.find(columns=["nope"])))[0] == "db.unknown_column"
    assert (await codes(Member.find(limit=-1)))[0] == "db.invalid_argument"
    code, status, details = await codes(Member.create(email="a@x.io", nmae="x"))
    assert (code, status, details["column"]) == ("db.unknown_column", 400, "nmae")
    assert await Member.count() == 0


# -- pagination ------------------------------------------------------------------------------

async def test_paginate(db: SqlAdapter) -> None:
    await Member.create_many({"email": f"m{i:02}@x.io", "age": i % 7} for i in range(45))
    page = await Member.paginate(3, 20)
    assert (page["total"], page["page"], page["per_page"], page["pages"]) == (45, 3, 20, 3)
    assert [r.email for r in page["items"]] == [f"m{i:02}@x.io" for i in range(40, 45)]
    page = await Member.paginate(1, 10, order_by="-email", age=0)
    assert [r.email for r in page["items"]] == ["m42@x.io", "m35@x.io", "m28@x.io", "m21@x.io", "m14@x.io",
                                                "m07@x.io", "m00@x.io"]
    assert page["total"] == 7 and page["pages"] == 1
    assert (await Member.paginate(9, 20))["items"] == []
    assert (await codes(Member.paginate(0, 20)))[:2] == ("db.invalid_argument", 400)
    assert (await codes(Member.paginate(1, 0)))[0] == "db.invalid_argument"


async def test_cursor_walks_every_row_once(db: SqlAdapter) -> None:
    await Member.create_many({"email": f"m{i:02}@x.io", "age": i % 4, "active": i % 3 == 0}
                             for i in range(30))
    for order_by in (None, "-id", ["active", "-email"], "email"):
        seen: list[str] = []
        after = None
        while True:
            page = await Member.cursor(after, limit=7, order_by=order_by, age__lt=3)
            seen += [r.email for r in page["items"]]
            after = page["next"]
            if after is None:
                break
            assert isinstance(after, str)
        every = await Member.find(order_by=order_by or "id", age__lt=3)
        assert seen == [r.email for r in every] and len(seen) == 23
    first = await Member.cursor(limit=5)
    other_order = Member.cursor(first["next"], limit=5, order_by="-id")
    assert (await codes(other_order))[:2] == ("db.invalid_cursor", 400)
    assert (await codes(Member.cursor("not-a-cursor")))[0] == "db.invalid_cursor"
    assert (await codes(Member.cursor(order_by="name")))[0] == "db.invalid_argument"  # nullable column


async def test_cursor_over_datetimes_and_uuids(db: SqlAdapter) -> None:
    base = dt.datetime(2024, 5, 1, 12, tzinfo=dt.UTC)
    for i in range(9):
        await Member.create(email=f"t{i}@x.io", seen_at=base + dt.timedelta(minutes=i % 3))
    await Ticket.create_many({"title": f"t{i}"} for i in range(9))
    for model, order in ((Member, "-created_at"), (Ticket, "id")):
        seen: list[Any] = []
        after = None
        while True:
            page = await model.cursor(after, limit=4, order_by=order)  # type: ignore[attr-defined]
            seen += [r.id for r in page["items"]]
            if (after := page["next"]) is None:
                break
        assert len(seen) == len(set(seen)) == 9


# -- writes ----------------------------------------------------------------------------------

async def test_update_by_id_and_by_filters(db: SqlAdapter) -> None:
    people = await seed_members()
    ann = people["ann@x.io"]
    updated = await Member.update(ann.id, name="Annie", age=32)
    assert (updated.name, updated.age, updated.email) == ("Annie", 32, "ann@x.io")
    assert updated.updated_at > ann.updated_at and updated.created_at == ann.created_at
    same = await Member.update(ann.id, name="Annie")  # matched but unchanged: still found
    assert same.name == "Annie"
    assert await Member.update({"age__lt": 35}, active=False) == 2
    assert await Member.count(active=False) == 3
    assert await Member.update({"email": "nobody"}, age=1) == 0
    assert (await codes(Member.update(999999, name="x")))[:2] == ("db.not_found", 404)
    assert (await codes(Member.update(ann.id)))[0] == "db.invalid_argument"
    assert (await codes(Member.update(ann.id, nope=1)))[0] == "db.unknown_column"


async def test_delete(db: SqlAdapter) -> None:
    people = await seed_members()
    assert await Member.delete(people["bob@x.io"].id) == 1
    assert (await codes(Member.delete(people["bob@x.io"].id)))[:2] == ("db.not_found", 404)
    assert await Member.delete({"email__endswith": "@y.io"}) == 2
    assert emails(await Member.find()) == ["ann@x.io"]


async def test_create_many_is_all_or_nothing(db: SqlAdapter) -> None:
    assert await Member.create_many([{"email": "a@x.io"}, {"email": "b@x.io", "age": 3}]) == 2
    assert await Member.create_many([]) == 0
    code, status, _ = await codes(Member.create_many([{"email": "c@x.io"}, {"email": "a@x.io"}]))
    assert (code, status) == ("db.conflict", 409)
    assert emails(await Member.find()) == ["a@x.io", "b@x.io"]


async def test_upsert(db: SqlAdapter) -> None:
    first = await Setting.upsert({"key": "theme", "value": 1, "note": "n"}, conflict=["key"])
    again = await Setting.upsert({"key": "theme", "value": 2}, conflict=["key"])
    assert (again.id, again.value, again.note) == (first.id, 2, "n")  # only given columns change
    assert again.created_at == first.created_at and again.updated_at >= first.updated_at
    kept = await Setting.upsert({"key": "theme", "value": 3, "note": "x"}, conflict="key", update=["note"])
    assert (kept.value, kept.note) == (2, "x")
    untouched = await Setting.upsert({"key": "theme", "value": 9}, conflict=["key"], update=[])
    assert (untouched.value, untouched.note) == (2, "x")
    fresh = await Setting.upsert({"key": "lang", "value": 5}, conflict=["key"], update=[])
    assert fresh.value == 5 and await Setting.count() == 2
    code, status, details = await codes(Setting.upsert({"key": "a", "note": "b"}, conflict=["note"]))
    assert (code, status, details["conflict"]) == ("db.invalid_upsert", 500, ["note"])
    assert (await codes(Setting.upsert({"value": 1}, conflict=["key"])))[0] == "db.invalid_argument"


# -- transactions ----------------------------------------------------------------------------

async def test_transaction_commits_or_rolls_back(db: SqlAdapter) -> None:
    async with db.transaction() as tx:
        await Member.create(email="in@x.io")
        assert db.in_transaction() and tx.depth == 0
        assert (await tx.query_one(f"SELECT count(*) AS n FROM {RUN}_members")) == {"n": 1}
    assert not db.in_transaction()
    assert await Member.count() == 1
    with pytest.raises(RuntimeError):
        async with db.transaction():
            await Member.create(email="gone@x.io")
            await db.execute(f"UPDATE {RUN}_members SET age = :age", {"age": 7})
            raise RuntimeError("boom")
    assert emails(await Member.find()) == ["in@x.io"]
    assert (await Member.find())[0].age is None


async def test_nested_transactions_are_savepoints(db: SqlAdapter) -> None:
    async with db.transaction():
        await Member.create(email="outer@x.io")
        with pytest.raises(MegaError):
            async with db.transaction() as inner:
                assert inner.depth == 1
                await Member.create(email="inner@x.io")
                await Member.create(email="outer@x.io")  # conflict: only the savepoint is undone
        async with db.transaction():
            await Member.create(email="kept@x.io")
    assert emails(await Member.find()) == ["kept@x.io", "outer@x.io"]
    with pytest.raises(KeyError):
        async with db.transaction():
            async with db.transaction():
                await Member.create(email="deep@x.io")
            raise KeyError("outer fails after the inner block committed its savepoint")
    assert await Member.count() == 2


async def test_a_transaction_belongs_to_its_task(db: SqlAdapter) -> None:
    async with db.transaction():
        await Member.create(email="a@x.io")
        task = asyncio.create_task(Member.count())  # inherits the ContextVar, not the connection
        assert (await codes(task))[0] == "db.transaction_task"
    assert await Member.count() == 1


async def test_concurrent_transactions_are_isolated(db: SqlAdapter) -> None:
    async def worker(i: int) -> None:
        async with db.transaction():
            await Member.create(email=f"w{i}@x.io", age=i)
            await asyncio.sleep(0)
            assert await Member.count(email=f"w{i}@x.io") == 1

    await asyncio.gather(*(worker(i) for i in range(4)))
    assert await Member.count() == 4


# -- constraints -----------------------------------------------------------------------------

async def test_foreign_keys(db: SqlAdapter) -> None:
    org = await Org.create(name="acme")
    ann = await Member.create(email="ann@x.io", org_id=org.id)
    code, status, _ = await codes(Member.create(email="bob@x.io", org_id=999999))
    assert (code, status) == ("db.constraint", 409)
    await Ticket.create(title="t", member_id=ann.id)
    assert (await codes(Member.delete(ann.id)))[:2] == ("db.constraint", 409)  # still referenced
    await Ticket.delete({})
    await Org.delete(org.id)  # cascades
    assert await Member.count() == 0


async def test_unique_violation_is_409(db: SqlAdapter) -> None:
    await Member.create(email="ann@x.io")
    code, status, details = await codes(Member.create(email="ann@x.io"))
    assert (code, status) == ("db.conflict", 409)
    assert details["table"] == f"{RUN}_members"
    assert "ann@x.io" not in str(details)


async def test_not_null_and_check_violations_are_400(db: SqlAdapter) -> None:
    code, status, _ = await codes(Member.create(name="no email"))
    assert (code, status) == ("db.invalid_value", 400)
    code, status, _ = await codes(Member.create(email="e@x.io", status="deleted"))  # outside choices
    assert (code, status) == ("db.invalid_value", 400)
    code, status, _ = await codes(Member.create(email="x" * 200))  # longer than the column
    assert (code, status) == ("db.invalid_value", 400)
    assert await Member.count() == 0


# -- types -----------------------------------------------------------------------------------

async def test_json_and_datetime_round_trips(db: SqlAdapter) -> None:
    profile = {"tags": ["a", "ü", "日本"], "n": 1.5, "deep": {"x": None, "ok": True}, "list": [1, [2]]}
    seen = dt.datetime(2024, 2, 29, 23, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    rec = await Member.create(email="j@x.io", profile=profile, seen_at=seen, born=dt.date(1999, 12, 31))
    got = await Member.get(rec.id)
    assert got.profile == profile and got.born == dt.date(1999, 12, 31)
    assert got.seen_at == seen and got.seen_at.tzinfo is dt.UTC
    assert got.seen_at.isoformat() == "2024-03-01T04:30:15.123456+00:00"
    assert await Member.count(seen_at__gt=seen - dt.timedelta(microseconds=1)) == 1
    assert await Member.count(seen_at__gt=seen) == 0
    assert await Member.count(profile=None) == 0
    assert (await Member.create(email="k@x.io", profile=[1, 2])).profile == [1, 2]
    code, status, _ = await codes(Member.create(email="naive@x.io", seen_at=dt.datetime(2024, 1, 1)))
    assert (code, status) == ("db.invalid_value", 400)
    with pytest.raises(MegaError, match="naive datetime"):
        await Member.find(seen_at__lt=dt.datetime(2024, 1, 1))


async def test_decimals_floats_booleans(db: SqlAdapter) -> None:
    rec = await Member.create(email="d@x.io", balance=Decimal("1234567890.12"), score=0.1, active=False)
    got = await Member.get(rec.id)
    assert got.balance == Decimal("1234567890.12") and isinstance(got.balance, Decimal)
    assert isinstance(got.score, float) and got.score == pytest.approx(0.1)
    assert got.active is False
    assert await Member.count(balance__gt=Decimal("1234567890.11")) == 1
    assert (await Member.update(rec.id, balance=Decimal("0.5"))).balance == Decimal("0.50")


async def test_uuid_primary_keys(db: SqlAdapter) -> None:
    ticket = await Ticket.create(title="t")
    assert type(ticket.id) is uuid.UUID
    assert (await Ticket.get(ticket.id)).title == "t"
    assert (await Ticket.get(str(ticket.id))).id == ticket.id  # ids from URLs are strings
    assert await Ticket.count(id__in=[ticket.id, uuid.uuid4()]) == 1
    explicit = uuid.uuid4()
    assert (await Ticket.create(id=explicit, title="e")).id == explicit
    assert (await codes(Ticket.get("not-a-uuid")))[:2] == ("db.invalid_value", 400)
    assert b'"id":"' + str(ticket.id).encode() + b'"' in ok_body(ticket)


async def test_enums_take_members_or_values(db: SqlAdapter) -> None:
    rec = await Member.create(email="e@x.io", status=Status.BANNED)
    assert rec.status == "banned"
    assert (await Member.update(rec.id, status="active")).status == "active"
    assert await Member.count(status=Status.ACTIVE) == 1


# -- raw SQL ---------------------------------------------------------------------------------

async def test_raw_sql_takes_bound_parameters_only(db: SqlAdapter) -> None:
    await seed_members()
    table = f"{RUN}_members"
    rows = await db.query(f"SELECT email, age FROM {table} WHERE age > :age AND email LIKE '%@x.io' "
                          "ORDER BY age", {"age": 20})
    assert [r.to_dict() for r in rows] == [{"email": "bob@x.io", "age": 25}, {"email": "ann@x.io", "age": 31}]
    assert await db.query_one(f"SELECT email FROM {table} WHERE email = :e", {"e": "nobody"}) is None
    assert await db.execute(f"UPDATE {table} SET age = age + 1 WHERE age IS NOT NULL") == 3
    assert (await codes(db.query(f"SELECT * FROM {table} WHERE age = :age")))[0] == "db.invalid_query"
    assert (await codes(db.query(f"SELECT * FROM {table}", {"x": 1})))[0] == "db.invalid_query"
    assert (await codes(db.query(f"SELECT * FROM {table} WHERE age = %s", (1,))))[0] == "db.invalid_query"
    members = sa.table(table, sa.column("email"), sa.column("age"))
    rows = await db.query(sa.select(members.c.email).where(members.c.age.in_([26, 41])).order_by("email"))
    assert [r.email for r in rows] == ["bob@x.io", "di_100%@y.io"]
    typed = sa.text(f"SELECT created_at FROM {table} WHERE email = :e").columns(created_at=UTCDateTime())
    assert (await db.query(typed, {"e": "bob@x.io"}))[0].created_at.tzinfo is dt.UTC
    code, status, _ = await codes(db.execute(f"SELECT nope FROM {table}"))
    assert (code, status) == ("db.error", 500)


async def test_health_and_stats(db: SqlAdapter) -> None:
    assert await db.health() is True
    stats = db.stats()
    assert stats["connected"] and stats["dialect"] == db.dialect and stats["pool"]["open"] >= 1
    assert db.dialect in ("sqlite", "postgresql", "mysql")


async def test_the_observer_sees_every_call_with_its_outcome(db: SqlAdapter) -> None:
    seen: list[tuple[str, str | None, float]] = []
    db.observe = lambda adapter, op, seconds, error: seen.append(
        (op, getattr(error, "code", None) if error else None, seconds))
    try:
        ann = await Member.create(email="obs@x.io")
        await Member.get(ann.id)
        assert (await codes(Member.create(email="obs@x.io")))[0] == "db.conflict"
        async with db.transaction():
            await Member.update(ann.id, age=3)
    finally:
        db.observe = None
    ops = [(op, code) for op, code, _ in seen]
    assert ("begin", None) in ops and ("commit", None) in ops
    assert [code for _, code in ops].count("db.conflict") == 1  # the failed insert, mapped
    assert len(ops) >= 6 and all(seconds >= 0 for _, _, seconds in seen)
    await Member.get(ann.id)
    assert len(seen) == len(ops)  # unobserved again: nothing recorded


# -- how the database is chosen --------------------------------------------------------------

async def test_using_and_db_argument_pick_the_adapter(db: SqlAdapter) -> None:
    Member.bind(None)
    try:
        code, _, details = await codes(Member.count())
        assert (code, details["model"]) == ("db.unbound", "Member")
        await Member.using(db).create(email="u@x.io")
        assert await Member.count(db=db) == 1
        assert (await Member.using(db).find_one(email="u@x.io")) is not None
    finally:
        Member.bind(db)


async def test_models_find_the_app_default_database(db: SqlAdapter) -> None:
    from mega.app import registry

    class Holder:  # the adapters manager's lookup: db(alias, app)
        def db(self, alias: str | None = None, app: Any = None) -> SqlAdapter:
            assert alias is None
            return db

    app = build_app(lambda r: None, name="models_app")
    app.adapters = Holder()
    Member.bind(None)
    registry.register(app)
    try:
        await Member.create(email="app@x.io")
        assert await Member.count() == 1
    finally:
        registry.reset()
        Member.bind(db)


# -- the HTTP layer --------------------------------------------------------------------------

async def test_errors_reach_clients_as_envelopes(db: SqlAdapter) -> None:
    async def create(req: Any) -> Any:
        return await Member.create(**await req.json())

    async def show(req: Any) -> Any:
        return await Member.get(req.params["id"])

    async def page(req: Any) -> Any:
        return await Member.paginate(int(req.query.get("page", 1)), 2)

    def declare(r: Any) -> None:
        r.post("/members", create)
        r.get("/members/{id:int}", show)
        r.get("/members", page)

    async with asgi_client(build_app(declare)) as http:
        made = await http.post("/members", json={"email": "h@x.io", "profile": {"a": [1]}})
        assert made.status_code == 200, made.text
        data = made.json()["data"]
        assert data["email"] == "h@x.io" and data["profile"] == {"a": [1]} and data["balance"] == "0.00"
        assert data["created_at"].endswith("+00:00")
        got = await http.get(f"/members/{data['id']}")
        assert got.json() == made.json()
        dup = await http.post("/members", json={"email": "h@x.io"})
        assert dup.status_code == 409
        assert dup.json()["error"]["code"] == "db.conflict" and dup.json()["ok"] is False
        missing = await http.get("/members/999999")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "db.not_found"
        orphan = await http.post("/members", json={"email": "o@x.io", "org_id": 999999})
        assert (orphan.status_code, orphan.json()["error"]["code"]) == (409, "db.constraint")
        bad = await http.post("/members", json={"email": "b@x.io", "status": "nope"})
        assert (bad.status_code, bad.json()["error"]["code"]) == (400, "db.invalid_value")
        unknown = await http.post("/members", json={"email": "b@x.io", "admin": True})
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (400, "db.unknown_column")
        listing = (await http.get("/members")).json()["data"]
        assert listing["total"] == 1 and listing["items"][0]["email"] == "h@x.io"
