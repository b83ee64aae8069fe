"""Set-based work on a hot table: temporary tables that carry a small plan (one row per group) into one UPDATE,
and aggregates over rows that were just rewritten."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.orm import Session

from billing.db.bulk import insert_rows


@contextmanager
def scratch_table(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> Iterator[Table]:
    """Create the ``TEMPORARY`` ``table`` in the session's transaction, fill it (COPY on PostgreSQL, with the
    column types' bind processing on SQLite), and drop it after the block.

    Both databases roll temporary DDL back with the transaction, so a failed block leaves nothing behind.
    """
    connection = session.connection()
    table.create(connection)
    if rows and connection.dialect.name == "postgresql":
        insert_rows(session, table, rows)
    elif rows:
        session.execute(insert(table), rows)
    yield table
    table.drop(connection)


def hash_aggregates(session: Session) -> None:
    """PostgreSQL, for the rest of the transaction: group by hashing, with room for it. Right after rating rewrote
    a journal's charges the table's statistics still say "no charge rated" (autovacuum samples it later), so a
    GROUP BY over them is planned for one row: a sort, spilled to disk at a million rows."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL enable_sort = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))
