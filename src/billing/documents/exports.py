"""The rows of the CSV exports (a statement's charges, a ledger's charges, an invoice's lines): one query each,
streamed in column batches.

A statement may hold millions of charges, so no `Row`, `Decimal` or `datetime` is built per value: the query
runs on the driver's own cursor (streamed in chunks on PostgreSQL; one statement, so one snapshot), each batch of
rows is turned into columns, and values keep cheap exact forms:

- text and integer fields as the driver returns them (``None`` for NULL);
- money as an ``int`` count of micros (millionths): SQLite's storage, scaled in SQL on PostgreSQL;
- instants as naive UTC ``datetime`` (on SQLite, where they are stored as text, parsed once per distinct value
  of a batch).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any, Literal, TypeVar

from sqlalchemy import Column, DateTime, FromClause, Integer, Numeric, String, Table, Text, cast, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from billing.db.models import Charge, Invoice, InvoiceLine
from billing.db.types import Money

FieldKind = Literal["text", "integer", "money", "instant"]
#: Rows fetched per round trip; a batch's columns are the unit the CSV writer formats and writes.
BATCH_ROWS = 2000

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def per_distinct(function: Callable[[K], V], values: Sequence[K]) -> list[V]:
    """``function`` of each value, called once per distinct value: exports repeat many values (periods, prices,
    currencies, descriptions, the parent's ids), and a set and a dict cost less than a call per value."""
    distinct = set(values)
    if len(distinct) * 2 > len(values):  # mostly distinct (amounts, ids): a table would only add its own cost
        return list(map(function, values))
    table = {value: function(value) for value in distinct}
    return list(map(table.__getitem__, values))


@dataclass(frozen=True, slots=True)
class Field:
    kind: FieldKind
    column: ColumnElement[Any]


@dataclass(frozen=True)
class ExportSource:
    """The fields one export's templates may name, the parent they are filtered by and the row order."""

    fields: Mapping[str, Field]
    from_: FromClause
    parent: ColumnElement[Any]
    order: tuple[ColumnElement[Any], ...]

    def batches(self, session: Session, parent_id: str, names: Sequence[str]) -> Iterator[list[Sequence[Any]]]:
        """The parent's rows, ``BATCH_ROWS`` at a time, as one value sequence per name of ``names``."""
        connection = session.connection()
        dialect = connection.dialect.name
        fields = [self.fields[name] for name in names]
        stmt = (
            select(*[_selected(field, dialect) for field in fields])
            .select_from(self.from_)
            .where(self.parent == parent_id)
            .order_by(*self.order)
        )
        compiled = stmt.compile(dialect=connection.dialect)
        params: Any = compiled.construct_params()
        if compiled.positional:
            params = [params[name] for name in compiled.positiontup or ()]
        decoders = [_decoder(field.kind, dialect) for field in fields]
        raw: Any = connection.connection.dbapi_connection  # sqlite3 or psycopg, used natively (see the docstring)
        cursor = raw.cursor()
        row_batches = _row_batches(cursor, dialect, str(compiled), params)
        try:
            for rows in row_batches:
                yield [
                    column if decode is None else decode(column)
                    for column, decode in zip(zip(*rows, strict=True), decoders, strict=True)
                ]
        finally:
            row_batches.close()  # a stream left early is ended (cancelled and drained) before its cursor goes
            cursor.close()


def _row_batches(cursor: Any, dialect: str, sql: str, params: Any) -> Generator[list[tuple[Any, ...]]]:
    if dialect == "postgresql":
        # libpq's chunked rows: the server keeps sending while this process formats (a server-side cursor would
        # wait for a round trip per batch); memory stays bounded by the socket's buffers
        rows = cursor.stream(sql, params, size=BATCH_ROWS)
        try:
            while batch := list(islice(rows, BATCH_ROWS)):
                yield batch
        finally:
            rows.close()
        return
    cursor.execute(sql, params)
    while batch := cursor.fetchmany(BATCH_ROWS):
        yield batch


def _selected(field: Field, dialect: str) -> ColumnElement[Any]:
    if field.kind == "money" and dialect != "sqlite":
        # NUMERIC(21, 6) × 10^6 has no fraction; its text is the exact integer, whatever its size
        return cast(cast(field.column * 1_000_000, Numeric(27, 0)), Text)
    return field.column


def _decoder(kind: FieldKind, dialect: str) -> Callable[[Sequence[Any]], Sequence[Any]] | None:
    if kind == "money" and dialect != "sqlite":
        return _micros
    if kind == "instant" and dialect == "sqlite":
        return lambda column: per_distinct(_instant, column)
    return None


def _micros(column: Sequence[str | None]) -> Sequence[int | None]:
    try:
        return list(map(int, column))  # type: ignore[arg-type]
    except TypeError:  # NULLs
        return [None if value is None else int(value) for value in column]


def _instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _kind(column: Column[Any]) -> FieldKind | None:
    column_type = column.type
    if isinstance(column_type, Money):
        return "money"
    if isinstance(column_type, DateTime):
        return "instant"
    if isinstance(column_type, Integer):
        return "integer"
    if isinstance(column_type, String | Text):
        return "text"
    return None  # JSON documents are not exported


def _fields(table: Table, prefix: str = "") -> dict[str, Field]:
    """A field per scalar column of ``table``, named after it (with ``prefix``)."""
    return {
        prefix + column.name: Field(kind, column) for column in table.columns if (kind := _kind(column)) is not None
    }


_charge: Table = Charge.__table__  # type: ignore[assignment]
_invoice: Table = Invoice.__table__  # type: ignore[assignment]
_line: Table = InvoiceLine.__table__  # type: ignore[assignment]

#: A statement's or a ledger's charges in file order (``seq`` = line × 100 + child is unique among them: both
#: hold the charges of one journal or one custom ledger file), served by the partial indexes on (parent, seq).
STATEMENT_CHARGES = ExportSource(_fields(_charge), _charge, _charge.c.statement_id, (_charge.c.seq,))
LEDGER_CHARGES = ExportSource(_fields(_charge), _charge, _charge.c.ledger_id, (_charge.c.seq,))
#: An invoice's lines in ERP order, each with its invoice's fields as ``invoice.<column>``.
INVOICE_LINES = ExportSource(
    _fields(_line) | _fields(_invoice, "invoice."),
    _line.join(_invoice, _line.c.invoice_id == _invoice.c.id),
    _line.c.invoice_id,
    (_line.c.line_no,),
)
