"""The Money column type keeps 6-place decimals exactly on SQLite and PostgreSQL, including SQL sums."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select

from billing.db.types import Money

metadata = MetaData()
amounts = Table("test_money_amounts", metadata, Column("id", Integer, primary_key=True), Column("value", Money))

VALUES = [
    Decimal("0.000001"),
    Decimal("-0.000001"),
    Decimal("9.090909"),
    Decimal("-123456789.123456"),
    Decimal("999999999999.999999"),
    Decimal("100"),
    Decimal("0"),
]


@pytest.fixture
def table(database):
    metadata.create_all(database.engine)  # a type test of its own, outside the application schema
    yield database
    metadata.drop_all(database.engine)


def test_values_round_trip_exactly(table):
    with table.session_scope() as session:
        session.execute(insert(amounts), [{"id": i, "value": v} for i, v in enumerate(VALUES)])
    with table.read_scope() as session:
        stored = session.execute(select(amounts.c.value).order_by(amounts.c.id)).scalars().all()
        total = session.execute(select(func.sum(amounts.c.value, type_=Money))).scalar_one()
        ordered = session.execute(select(amounts.c.value).order_by(amounts.c.value)).scalars().all()
        above = session.execute(select(func.count()).where(amounts.c.value > Decimal("9.09090"))).scalar_one()
    assert stored == VALUES
    assert total == sum(VALUES)
    assert ordered == sorted(VALUES)
    assert above == 3


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        (Decimal("0.0000005"), Decimal("0.000001")),
        (Decimal("-0.0000005"), Decimal("-0.000001")),
        (Decimal("1.2345674"), Decimal("1.234567")),
        (Decimal("2.5000005"), Decimal("2.500001")),
    ],
)
def test_values_are_rounded_half_away_from_zero_once(table, raw, stored):
    with table.session_scope() as session:
        session.execute(insert(amounts), [{"id": 1, "value": raw}])
    with table.read_scope() as session:
        assert session.execute(select(amounts.c.value)).scalar_one() == stored
