"""The rows of the CSV exports (a statement's charges, a ledger's charges, an invoice's lines): one query each,
streamed in column batches.

A statement may hold millions of charges, so no `Row`, `Decimal` or `datetime` is built per value: the query
runs on the driver's own cursor (streamed in chunks on PostgreSQL; one statement, so one snapshot), each batch of
rows is turned into columns, and values keep cheap exact forms:

- text and integer fields as the driver returns them (``None`` for NULL);
- money as an ``int`` count of micros (millionths): SQLite's storage, scaled in SQL on PostgreSQL;
- instants as naive UTC ``datetime`` (on SQLite, where they are stored as text, parsed once per distinct value
  of a batch).

On PostgreSQL `ExportSource.copy_csv` has the server write the CSV itself (``COPY … TO STDOUT (FORMAT csv)``
over cells it formats by the same rules, `Cell`): this process only passes the bytes on. (On SQLite the same
expressions would run in this process, slower than the formatting in Python: SQLite evaluates them in its
bytecode engine.)
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any, BinaryIO, Literal, TypeVar

from sqlalchemy import (
    Column,
    DateTime,
    FromClause,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    case,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from billing.charges.repository import charge_statement, charges_with_statement, in_ledger, in_statement
from billing.db.models import Charge, Invoice, InvoiceLine
from billing.db.types import Money

FieldKind = Literal["text", "integer", "money", "instant"]
#: Rows fetched per round trip; a batch's columns are the unit the CSV writer formats and writes.
BATCH_ROWS = 2000
#: Bytes of COPY's output passed on at a time.
COPY_CHUNK_BYTES = 256 * 1024

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


@dataclass(frozen=True, slots=True)
class Cell:
    """A CSV cell as `ExportSource.copy_csv` has the database write it, by the rules of
    `billing.documents.csv_export`: text neutralised (``leads``: the characters that make a spreadsheet read a
    formula; the CSV quoting is COPY's), integers in decimal, money exact in plain notation or rounded half away
    from zero to the minor units of the row's ``currency`` (``places``: the currencies whose minor units differ
    from ``default_places``), instants as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` or their date."""

    field: str
    format: str | None = None
    currency: str | None = None
    leads: str = ""
    places: tuple[tuple[str, int], ...] = ()
    default_places: int = 2


@dataclass(frozen=True)
class ExportSource:
    """The fields one export's templates may name, the rows of a parent (by its id) and the row order."""

    fields: Mapping[str, Field]
    from_: FromClause
    of_parent: Callable[[str], ColumnElement[bool]]
    order: tuple[ColumnElement[Any], ...]

    def batches(self, session: Session, parent_id: str, names: Sequence[str]) -> Iterator[list[Sequence[Any]]]:
        """The parent's rows, ``BATCH_ROWS`` at a time, as one value sequence per name of ``names``."""
        connection = session.connection()
        dialect = connection.dialect.name
        fields = [self.fields[name] for name in names]
        sql, params = self._query(session, [_selected(field, dialect) for field in fields], parent_id)
        decoders = [_decoder(field.kind, dialect) for field in fields]
        cursor = _driver_connection(session).cursor()
        row_batches = _row_batches(cursor, dialect, sql, params)
        try:
            for rows in row_batches:
                yield [
                    column if decode is None else decode(column)
                    for column, decode in zip(zip(*rows, strict=True), decoders, strict=True)
                ]
        finally:
            row_batches.close()  # a stream left early is ended (cancelled and drained) before its cursor goes
            cursor.close()

    def copy_csv(self, session: Session, parent_id: str, cells: Sequence[Cell], out: BinaryIO) -> int:
        """PostgreSQL: write the parent's rows to ``out`` as CSV lines (CRLF-terminated, UTF-8) that the server
        writes; returns their number. COPY quotes a cell exactly when ``csv.writer`` does (a comma, a quote, CR or
        LF) and writes NULL unquoted but an empty text quoted, so empty texts are sent as NULL. (A template of one
        column is left to `batches`: COPY would also quote a lone ``\\.``.)"""
        sql, params = self._query(session, [self._cell(cell) for cell in cells], parent_id)
        cursor = _driver_connection(session).cursor()
        try:
            with cursor.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
                for chunk in _crlf_chunks(copy):
                    out.write(chunk)
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def _query(self, session: Session, columns: list[ColumnElement[Any]], parent_id: str) -> tuple[str, Any]:
        """The parent's rows of ``columns`` in order, as the driver's SQL text and parameters."""
        stmt = select(*columns).select_from(self.from_).where(self.of_parent(parent_id)).order_by(*self.order)
        compiled = stmt.compile(dialect=session.connection().dialect, compile_kwargs={"render_postcompile": True})
        params: Any = compiled.construct_params()
        if compiled.positional:
            params = [params[name] for name in compiled.positiontup or ()]
        return str(compiled), params

    def _cell(self, cell: Cell) -> ColumnElement[Any]:
        """PostgreSQL's text for the cell: ``to_char`` truncates to milliseconds as `format_instant` does, and
        ``round`` on NUMERIC rounds half away from zero and keeps the places it rounds to (``12.50``, ``1300``)."""
        field = self.fields[cell.field]
        column = field.column
        if field.kind == "text":
            leads = [ord(lead) for lead in cell.leads]
            return case((func.ascii(column).in_(leads), literal("'") + column), else_=func.nullif(column, ""))
        if field.kind == "integer":
            return cast(column, Text)
        if field.kind == "instant":
            return func.to_char(column, "YYYY-MM-DD" if cell.format == "date" else 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
        exact = cast(func.trim_scale(column), Text)
        if cell.currency is None:
            return exact
        currency = self.fields[cell.currency].column
        places = case(dict(cell.places), value=currency, else_=cell.default_places) if cell.places else None
        rounded = cast(func.round(column, literal(cell.default_places) if places is None else places), Text)
        return case((func.coalesce(currency, "") == "", exact), else_=rounded)


def _driver_connection(session: Session) -> Any:
    """sqlite3's or psycopg's own connection, used natively (see the module docstring)."""
    return session.connection().connection.dbapi_connection


def _crlf_chunks(rows: Iterable[Any]) -> Iterator[bytes]:
    """COPY's CSV rows (LF-terminated, one per message) as CRLF-terminated lines in chunks; a LF inside a quoted
    cell stays as it is (quotes are balanced within a row: a row's text between its quotes alternates outside,
    inside, outside…)."""
    chunk: list[Any] = []
    size = 0
    for row in rows:
        chunk.append(row)
        size += len(row)
        if size >= COPY_CHUNK_BYTES:
            yield _crlf(b"".join(chunk))
            chunk, size = [], 0
    if chunk:
        yield _crlf(b"".join(chunk))


def _crlf(rows: bytes) -> bytes:
    if b'"' not in rows:
        return rows.replace(b"\n", b"\r\n")
    parts = rows.split(b'"')
    parts[::2] = [part.replace(b"\n", b"\r\n") for part in parts[::2]]
    return b'"'.join(parts)


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
#: hold the charges of one journal or one custom ledger file), served by the charge indexes ending in seq.
STATEMENT_CHARGES = ExportSource(_fields(_charge), _charge, in_statement, (_charge.c.seq,))
#: (a ledger's charges show their statement once it exists, as the API shows them)
LEDGER_CHARGES = ExportSource(
    _fields(_charge) | {"statement_id": Field("text", charge_statement.c.id)},
    charges_with_statement,
    in_ledger,
    (_charge.c.seq,),
)
#: An invoice's lines in ERP order, each with its invoice's fields as ``invoice.<column>``.
INVOICE_LINES = ExportSource(
    _fields(_line) | _fields(_invoice, "invoice."),
    _line.join(_invoice, _line.c.invoice_id == _invoice.c.id),
    lambda invoice_id: _line.c.invoice_id == invoice_id,
    (_line.c.line_no,),
)
