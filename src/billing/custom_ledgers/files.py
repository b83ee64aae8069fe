"""Custom ledger files (billing-api.md §8.7): stream the rows of an ERP "sales document import" workbook.

The reader only parses. The header row is the first row holding ``Document No.``, ``No.`` and ``Quantity``
(case-insensitive, trimmed); free-form preamble rows above it are ignored, and the row directly below it is skipped
when its ``Quantity`` cell is not numeric (the "type/length" description row). Every following non-empty row that
is not a ``Title`` text row becomes a `SalesRow` keyed by the canonical column names of §8.7; the caller validates
it. A file that is unusable as a whole raises `ChargeFileError`.

Cell values: text is trimmed (empty cells leave their column out); the numeric columns (``Quantity``,
``Unit Price``, ``Purchase Price``) hold ``int`` or an exact ``Decimal`` (text there stays text for the caller to
reject); the date columns hold ISO-8601 UTC text such as ``2025-01-01T00:00:00Z`` (Excel dates carry no zone and
are taken as UTC, §3.4; a text ``YYYY-MM-DD`` is written the same way, other text is kept); in the other columns a
number or date typed into the cell means its text (a ``No.`` typed as 1001 is ``"1001"``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, BinaryIO

import openpyxl

from billing.journals.files import ChargeFileError, describe_error, is_blank_cell, worksheet_rows

__all__ = ["COLUMNS", "REQUIRED_COLUMNS", "ChargeFileError", "SalesRow", "iter_sales_rows", "sign_of"]

#: §8.7 in table order.
COLUMNS = (
    "Document No.",
    "Document Type",
    "Type",
    "No.",
    "Description",
    "Description 2",
    "Quantity",
    "Unit Price",
    "Purchase Price",
    "Sales Currency Code",
    "Purchase Currency Code",
    "Startdate",
    "Enddate",
    "Order Type",
    "Contract No.",
    "External Document No.",
    "External Document No. 2",
    "Your Reference",
    "Vendor Invoice Reference",
    "Sell-to Customer No.",
    "Bill-to Customer No.",
    "License Contact No.",
    "Posting Date",
)
#: In the order of the "missing required column(s)" message.
REQUIRED_COLUMNS = (
    "Document No.",
    "Document Type",
    "Type",
    "No.",
    "Quantity",
    "Unit Price",
    "Purchase Price",
    "Sales Currency Code",
    "Purchase Currency Code",
    "Startdate",
    "Enddate",
)
_HEADER_MARKERS = ("document no.", "no.", "quantity")
_NUMERIC = frozenset({"Quantity", "Unit Price", "Purchase Price"})
_DATES = frozenset({"Startdate", "Enddate", "Posting Date"})
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_SIGNS = {"order": 1, "credit memo": -1}


@dataclass(frozen=True, slots=True)
class SalesRow:
    """One data row: ``line`` is its worksheet row number, ``values`` its non-empty known cells by column name."""

    line: int
    values: dict[str, Any]


def sign_of(document_type: str) -> int | None:
    """1 for ``Order``, -1 for ``Credit Memo`` (case-insensitive, trimmed), else None (unsupported type)."""
    return _SIGNS.get(document_type.strip().casefold())


def iter_sales_rows(stream: BinaryIO) -> Iterator[SalesRow]:
    """Stream the data rows of the first worksheet of a custom ledger workbook opened in binary mode.

    Raises `ChargeFileError` before the first row when the workbook cannot be opened, has no header row or lacks a
    required column, and later if the worksheet turns out to be corrupt further down.
    """
    try:
        workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl fails on bad input with zipfile, XML, KeyError, ValueError … errors
        raise ChargeFileError(f"the workbook could not be opened: {describe_error(exc)}") from exc
    try:
        if not workbook.worksheets:
            raise ChargeFileError("the workbook has no worksheet")
        sheet = workbook.worksheets[0]
        sheet.reset_dimensions()  # some writers record wrong dimensions; read what the sheet holds
        rows = enumerate(worksheet_rows(sheet), start=1)
        columns: dict[str, int] | None = None
        for _number, row in rows:
            columns = _header(row)
            if columns is not None:
                break
        if columns is None:
            raise ChargeFileError("no header row with 'Document No.', 'No.' and 'Quantity' was found")
        quantity = columns["Quantity"]
        type_column = columns["Type"]
        first = True
        for number, row in rows:
            if first:
                first = False
                if not _is_number(_at(row, quantity)):
                    continue  # the type/length description row
            if all(is_blank_cell(value) for value in row):
                continue
            kind = _at(row, type_column)
            if isinstance(kind, str) and kind.strip().casefold() == "title":
                continue
            yield SalesRow(number, _values(row, columns))
    finally:
        workbook.close()


def _header(row: tuple[Any, ...]) -> dict[str, int] | None:
    """The known columns of ``row`` by position when it is the header row, else None.

    The first of equal titles wins; a header row lacking a required column raises `ChargeFileError`.
    """
    positions: dict[str, int] = {}
    for index, title in enumerate(row):
        if isinstance(title, str):
            positions.setdefault(title.strip().casefold(), index)
    if not all(marker in positions for marker in _HEADER_MARKERS):
        return None
    missing = [name for name in REQUIRED_COLUMNS if name.casefold() not in positions]
    if missing:
        raise ChargeFileError(f"missing required column(s) {', '.join(missing)}")
    return {name: positions[name.casefold()] for name in COLUMNS if name.casefold() in positions}


def _values(row: tuple[Any, ...], columns: dict[str, int]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, index in columns.items():
        value = _cell(_at(row, index))
        if value is None:
            continue
        if name in _DATES:
            if isinstance(value, str) and _ISO_DATE.fullmatch(value) and _is_date(value):
                value = f"{value}T00:00:00Z"
        elif name not in _NUMERIC and not isinstance(value, str):
            value = str(value)  # a number typed into a text column means its text
        values[name] = value
    return values


def _at(row: tuple[Any, ...], index: int) -> Any:
    return row[index] if index < len(row) else None


def _cell(value: Any) -> Any:
    """A cell value: stripped text, int, exact Decimal, ISO-8601 UTC text for dates; None when empty."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat() + "Z"  # Excel dates carry no zone: taken as UTC (§3.4)
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    return str(value)  # a time of day or a duration: the validator rejects it as a date


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float | Decimal):
        return True
    if isinstance(value, str):
        try:
            return Decimal(value.strip()).is_finite()
        except InvalidOperation:
            return False
    return False


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
