"""Temporary tables that carry a small plan (one row per group) into one set-based UPDATE of a hot table."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session


@contextmanager
def scratch_table(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> Iterator[Table]:
    """Create the ``TEMPORARY`` ``table`` in the session's transaction, fill it, and drop it after the block.

    Both databases roll temporary DDL back with the transaction, so a failed block leaves nothing behind.
    """
    connection = session.connection()
    table.create(connection)
    if rows:
        session.execute(insert(table), rows)
    yield table
    table.drop(connection)
