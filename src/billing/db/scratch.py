"""Set-based work on a hot table: temporary tables that carry a small plan (one row per group) into one UPDATE,
and aggregates over rows that were just rewritten."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table, insert, text
from sqlalchemy.orm import Session

from billing.db.bulk import insert_rows
from billing.db.engine import SQLITE_CACHE_KIB

#: SQLite page cache, in KiB, of a connection while it scans (`one_pass_reads`).
SCAN_CACHE_KIB = 8192


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


@contextmanager
def one_pass_reads(session: Session) -> Iterator[None]:
    """SQLite: a small page cache on the session's connection during the block, whose reads visit each page once
    (a scan beside a writer, e.g. rating's reader): the cache would only fill up with pages read once. The
    usual size comes back after the block."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        session.execute(text(f"PRAGMA cache_size = -{SCAN_CACHE_KIB}"))
    try:
        yield
    finally:
        if sqlite:
            session.execute(text(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}"))
