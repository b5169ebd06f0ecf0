"""Gap-free number sequences kept in a service's own `counters` table (SR numbers, work order numbers)."""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession


def counter_table(metadata: MetaData) -> Table:
    return Table(
        "counters", metadata, Column("name", String(50), primary_key=True), Column("value", Integer, nullable=False)
    )


async def next_value(db: AsyncSession, table: Table, name: str, first: int = 1) -> int:
    """The UPDATE takes the row lock first, so concurrent creators queue instead of colliding."""
    for _ in range(5):
        value = (
            await db.execute(
                update(table).where(table.c.name == name).values(value=table.c.value + 1).returning(table.c.value)
            )
        ).scalar()
        if value is not None:
            return value
        try:
            async with db.begin_nested():
                await db.execute(table.insert().values(name=name, value=first))
            return first
        except IntegrityError:
            continue
    raise RuntimeError(f"could not allocate a number from {name}")
