"""Set-based inserts for hot tables: COPY on PostgreSQL, one executemany on SQLite.

Rows are dicts keyed by column name. Values are converted once per column kind (money, instant, JSON)
without going through SQLAlchemy's per-value bind processing, which dominates at a million rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, DateTime, Table
from sqlalchemy.orm import Session

from billing.db.types import Money, json_dumps

Converter = Callable[[Any], Any]


def _identity(value: Any) -> Any:
    return value


def _sqlite_money(value: Decimal | None) -> int | None:
    return None if value is None else int(value.scaleb(6))


def _sqlite_instant(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%d %H:%M:%S.%f")


def _json(value: Any) -> str | None:
    return None if value is None else json_dumps(value)


def _converters(table: Table, columns: Sequence[str], dialect: str) -> list[Converter]:
    converters: list[Converter] = []
    for name in columns:
        column_type = table.c[name].type
        if isinstance(column_type, Money):
            converters.append(_sqlite_money if dialect == "sqlite" else _identity)
        elif isinstance(column_type, DateTime):
            converters.append(_sqlite_instant if dialect == "sqlite" else _identity)
        elif isinstance(column_type, JSON) or isinstance(getattr(column_type, "impl", None), JSON):
            converters.append(_json)
        else:
            converters.append(_identity)
    return converters


def insert_rows(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` into ``table`` in the session's transaction."""
    if not rows:
        return
    columns = list(rows[0])
    dialect = session.get_bind().dialect.name
    converters = _converters(table, columns, dialect)
    pairs = list(zip(columns, converters, strict=True))
    tuples = [tuple(convert(row[name]) for name, convert in pairs) for row in rows]
    raw: Any = session.connection().connection.dbapi_connection  # psycopg or sqlite3, used natively below
    assert raw is not None
    names = ", ".join(f'"{name}"' for name in columns)
    if dialect == "postgresql":
        with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for values in tuples:
                copy.write_row(values)
        return
    marks = ", ".join("?" for _ in columns)
    cursor = raw.cursor()
    try:
        cursor.executemany(f'INSERT INTO "{table.name}" ({names}) VALUES ({marks})', tuples)
    finally:
        cursor.close()
