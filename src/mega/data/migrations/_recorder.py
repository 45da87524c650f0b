"""Which migrations a database has applied: the `mega_migrations` table.

One row per applied migration (app, name, applied_at, checksum of the file), written in the same
transaction as the migration where the dialect allows it; (app, name) is unique, so a migration can
never be recorded twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from mega.data.sqltypes import UTCDateTime

TABLE = "mega_migrations"

metadata = sa.MetaData()
migrations = sa.Table(
    TABLE,
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("app", sa.String(100), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("applied_at", UTCDateTime(), nullable=False),
    sa.Column("checksum", sa.String(64), nullable=True),
    sa.UniqueConstraint("app", "name", name="uq_mega_migrations_app_name"),
)


@dataclass(frozen=True)
class Applied:
    id: int
    app: str
    name: str
    applied_at: dt.datetime
    checksum: str | None

    @property
    def key(self) -> tuple[str, str]:
        return (self.app, self.name)


async def exists(conn: AsyncConnection) -> bool:
    return bool(await conn.run_sync(lambda c: sa.inspect(c).has_table(TABLE)))


async def ensure(conn: AsyncConnection) -> None:
    await conn.run_sync(lambda c: metadata.create_all(c, checkfirst=True))


async def applied(conn: AsyncConnection) -> list[Applied]:
    """The applied migrations, in the order they were applied."""
    rows = await conn.execute(sa.select(migrations).order_by(migrations.c.id))
    return [Applied(r.id, r.app, r.name, r.applied_at, r.checksum) for r in rows]


async def record(conn: AsyncConnection, app: str, name: str, checksum: str | None) -> None:
    await conn.execute(migrations.insert().values(app=app, name=name, checksum=checksum,
                                                  applied_at=dt.datetime.now(dt.UTC)))


async def forget(conn: AsyncConnection, app: str, name: str) -> None:
    await conn.execute(migrations.delete().where(migrations.c.app == app, migrations.c.name == name))
