"""Set-based inserts for hot tables: COPY on PostgreSQL, one executemany on SQLite.

Rows are dicts keyed by column name. Values are taken with one `itemgetter` per row and only the columns
whose storage differs from the Python value (money and instants on SQLite, JSON everywhere) are converted,
with repeated instants and amounts converted once per batch — per-value bind processing would otherwise
cost more than the database's own insert at a million rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import JSON, DateTime, Table
from sqlalchemy.orm import Session

from billing.db.types import Money, json_dumps

Converter = Callable[[Any], Any]


@lru_cache(maxsize=65536)
def _sqlite_money(value: Decimal) -> int:
    return int(value.scaleb(6))


@lru_cache(maxsize=65536)
def _sqlite_instant(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _json(value: Any) -> str | None:
    """Empty objects and lists are stored as NULL (readers treat both alike); most charges have no errors."""
    return json_dumps(value) if value else None


def _converter(column_type: Any, dialect: str) -> Converter | None:
    """How a column's Python value is stored, or None when it is stored as it is."""
    if isinstance(column_type, Money):
        return _sqlite_money if dialect == "sqlite" else None
    if isinstance(column_type, DateTime):
        return _sqlite_instant if dialect == "sqlite" else None
    if isinstance(column_type, JSON) or isinstance(getattr(column_type, "impl", None), JSON):
        return _json
    return None


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table`` in the session's transaction."""
    if not rows:
        return
    columns = list(rows[0])
    dialect = session.get_bind().dialect.name
    take = itemgetter(*columns)
    converted = [
        (position, convert)
        for position, name in enumerate(columns)
        if (convert := _converter(table.c[name].type, dialect)) is not None
    ]
    values: list[Any] = []
    for row in rows:
        record = list(take(row))
        for position, convert in converted:
            value = record[position]
            if value is not None:
                record[position] = convert(value)
        values.append(record)
    raw: Any = session.connection().connection.dbapi_connection  # psycopg or sqlite3, used natively below
    assert raw is not None
    names = ", ".join(f'"{name}"' for name in columns)
    if dialect == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for record in values:
                copy.write_row(record)
        return
    marks = ", ".join("?" for _ in columns)
    cursor = raw.cursor()
    try:
        cursor.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', values)
    finally:
        cursor.close()
