"""Charge files (billing-api.md §8.1–8.3): tell the format of an upload and stream it as raw records.

The readers only parse. Each JSONL line or XLSX data row becomes a `RawLine` carrying either the record in the
JSONL shape of §8.2 (original key spelling, exact numbers) or the V01 parser message; the validator applies the
rules of §8.5. A file that is unusable as a whole raises `ChargeFileError` (journal error BJO:0002).

Numbers are exact: JSON fractions and exponent forms come out as `Decimal`, integers as `int` of any size (the
line is parsed again by `json` only when orjson produced a float), XLSX numeric cells as `int` or `Decimal`.
A JSON number beyond a double (``1e999``) fails V01 as orjson reports it; it would be out of range anyway (§3.3).
"""

from __future__ import annotations

import json
import os
from collections.abc import Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, Literal

import openpyxl
import orjson

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_JSONL_MEDIA_TYPES = frozenset({"application/jsonl", "application/x-ndjson", "application/json", "text/plain"})
_JSONL_EXTENSIONS = frozenset({".jsonl", ".ndjson", ".json", ".txt"})
_ZIP_MAGIC = b"PK\x03\x04"
_BOM = b"\xef\xbb\xbf"

#: A float in orjson's result comes from a fraction, an exponent or an integer beyond 64 bits (19+ digits). On
#: the line with every digit turned into "0", those are cheap substring tests; strings can match too (e.g.
#: "23:59:59.000Z"), so the parsed object is checked before the line is parsed again.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19
_EXACT_DECODER = json.JSONDecoder(parse_float=Decimal)

FileFormat = Literal["jsonl", "xlsx"]


class UnsupportedFormat(Exception):
    """The upload is neither JSONL nor XLSX (the caller answers 415)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ChargeFileError(Exception):
    """The whole file is unusable: journal error BJO:0002 "The file could not be read: {reason}."."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RawLine:
    """One record of a charge file: ``data`` when it could be read, else the V01 parser message in ``error``.

    ``line`` is the 1-based physical line (JSONL) or the worksheet row number (XLSX; the first data row is 2).
    ``error`` has neither the ``Line n:`` prefix nor a trailing period.
    """

    line: int
    data: dict[str, Any] | None
    error: str | None = None


def detect_format(content_type: str | None, filename: str | None, head: bytes) -> FileFormat:
    """The format of an uploaded charge file (§8.1): from its content type, else its first bytes, else its name."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type in _JSONL_MEDIA_TYPES:
        return "jsonl"
    if media_type == XLSX_MEDIA_TYPE:
        return "xlsx"
    if media_type not in ("", "application/octet-stream"):
        raise UnsupportedFormat(
            f"Unsupported content type '{media_type}'; a charge file is JSONL ({', '.join(sorted(_JSONL_MEDIA_TYPES))})"
            f" or XLSX ({XLSX_MEDIA_TYPE})."
        )
    if head.startswith(_ZIP_MAGIC):
        return "xlsx"
    extension = os.path.splitext(filename or "")[1].lower()
    if extension in _JSONL_EXTENSIONS:
        return "jsonl"
    if extension == ".xlsx":
        return "xlsx"
    raise UnsupportedFormat(
        f"Cannot tell the format of the file '{filename or ''}'; a charge file is JSONL (.jsonl, .ndjson, .json, .txt)"
        " or XLSX (.xlsx)."
    )


def has_charges(path: str | Path, fmt: str) -> bool:
    """Whether the file holds at least one non-blank JSONL line or non-empty XLSX data row.

    Reads only up to the first record. An XLSX file that cannot be read counts as having charges: the
    validation reports it (BJO:0002).
    """
    if fmt == "jsonl":
        with open(path, "rb") as stream:
            return next(iter_jsonl(stream), None) is not None
    if fmt != "xlsx":
        raise ValueError(f"unknown charge file format {fmt!r}")
    try:
        with closing(iter_xlsx(path)) as rows:
            return next(rows, None) is not None
    except ChargeFileError:
        return True


# --- JSONL -------------------------------------------------------------------------------------------------------


def iter_jsonl(stream: BinaryIO, *, max_line_bytes: int = 16 * 1024 * 1024) -> Iterator[RawLine]:
    """Stream the records of a JSONL file opened in binary mode, one line in memory at a time.

    Blank and whitespace-only lines are skipped but counted. A line longer than ``max_line_bytes`` (without its
    line end) is reported as an error and skipped without being held in memory.
    """
    limit = max_line_bytes + 2  # room for CRLF
    number = 0
    loads = orjson.loads
    while raw := stream.readline(limit):
        number += 1
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        if len(raw) > max_line_bytes and len(raw.rstrip(b"\r\n")) > max_line_bytes:
            if not raw.endswith(b"\n"):
                _skip_rest_of_line(stream, limit)
            yield RawLine(number, None, f"the line is longer than {max_line_bytes} bytes")
            continue
        if not raw or raw.isspace():
            continue
        try:
            data = loads(raw)
        except orjson.JSONDecodeError as exc:
            yield RawLine(number, None, _parser_message(raw, exc))
            continue
        if type(data) is not dict:
            yield RawLine(number, None, "not a JSON object")
            continue
        yield _exactly(number, raw) if _may_hold_float(raw) and _has_float(data) else RawLine(number, data, None)


def _skip_rest_of_line(stream: BinaryIO, chunk: int) -> None:
    while (part := stream.readline(chunk)) and not part.endswith(b"\n"):
        pass


def _parser_message(raw: bytes, exc: orjson.JSONDecodeError) -> str:
    # orjson words every encoding problem as "str is not valid UTF-8: surrogates not allowed"; name the byte.
    try:
        raw.decode()
    except UnicodeDecodeError as bad:
        return f"not valid UTF-8: byte 0x{raw[bad.start]:02x} at column {bad.start + 1} (char {bad.start})"
    return str(exc)


def _may_hold_float(raw: bytes) -> bool:
    zeroed = raw.translate(_DIGITS_TO_ZERO)
    return b"0." in zeroed or b"0e" in zeroed or b"0E" in zeroed or _NINETEEN_DIGITS in zeroed


def _has_float(data: dict[str, Any]) -> bool:
    pending: list[Any] = [data]
    while pending:
        node = pending.pop()
        for value in node.values() if type(node) is dict else node:
            kind = type(value)
            if kind is float:
                return True
            if kind is dict or kind is list:
                pending.append(value)
    return False


def _exactly(number: int, raw: bytes) -> RawLine:
    """Parse a line orjson read with floats again, keeping each fraction or exponent number as an exact Decimal."""
    try:
        return RawLine(number, _EXACT_DECODER.decode(raw.decode()), None)
    except RecursionError:  # json's C scanner nests less deeply than orjson (about 1000 levels against 1024)
        return RawLine(number, None, "depth limit exceeded")


# --- XLSX --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Column:
    header: str
    path: tuple[str, ...]
    numeric: bool = False


#: §8.3 in table order (the order of "missing required column(s)" messages).
_COLUMNS = (
    _Column("Entry ID", ("externalIds", "vendor")),
    _Column("External Reference", ("externalIds", "reference")),
    _Column("Vendor Invoice Reference", ("externalIds", "invoice")),
    _Column("Source", ("search", "source", "type")),
    _Column("Source Criteria", ("search", "source", "criteria")),
    _Column("Source Value", ("search", "source", "value")),
    _Column("Subscription Search Criteria", ("search", "subscription", "criteria")),
    _Column("Subscription Search Value", ("search", "subscription", "value")),
    _Column("Order Search Criteria", ("search", "order", "criteria")),
    _Column("Order Search Value", ("search", "order", "value")),
    _Column("Item Search Criteria", ("search", "item", "criteria")),
    _Column("Item Search Value", ("search", "item", "value")),
    _Column("Usage Start Time", ("period", "start")),
    _Column("Usage End Time", ("period", "end")),
    _Column("Quantity", ("quantity",), numeric=True),
    _Column("Purchase Price", ("price", "unitPP"), numeric=True),
    _Column("Total Purchase Price", ("price", "PPx1"), numeric=True),
    _Column("Currency", ("price", "currency")),
    _Column("Description1", ("description", "value1")),
    _Column("Description2", ("description", "value2")),
    _Column("Market Segment", ("segment",)),
    _Column("Optional Agreement Vendor ID", ("attributes", "agreementVendorId")),
)
_REQUIRED = (
    "Entry ID",
    "Item Search Criteria",
    "Item Search Value",
    "Usage Start Time",
    "Usage End Time",
    "Quantity",
    "Purchase Price",
)
_SOURCE = ("Source", "Source Criteria", "Source Value")
_LEGACY_SOURCE = ("Subscription Search Criteria", "Subscription Search Value")


def iter_xlsx(path: str | Path) -> Generator[RawLine, None, None]:
    """Stream the data rows of the first worksheet of an XLSX charge file, mapped to the JSONL shape.

    Empty cells leave their member out. Text is trimmed; numbers and dates typed into a text column become their
    text (an Entry ID typed as 1001 is "1001"). A row counts unless every cell, known column or not, is empty.
    Raises `ChargeFileError` before the first row when the workbook cannot be opened or lacks a required column,
    and later if the worksheet turns out to be corrupt further down (the whole file is then unusable).
    """
    # Opened here: given a path, openpyxl refuses names without a spreadsheet extension (uploads are stored by id).
    with open(path, "rb") as handle:
        try:
            workbook = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl fails on bad input with zipfile, XML, KeyError, ValueError … errors
            raise ChargeFileError(f"the workbook could not be opened: {describe_error(exc)}") from exc
        try:
            if not workbook.worksheets:
                raise ChargeFileError("the workbook has no worksheet")
            sheet = workbook.worksheets[0]
            sheet.reset_dimensions()  # some writers record wrong dimensions; read what the sheet holds
            rows = worksheet_rows(sheet)
            columns = _columns(next(rows, ()))
            for number, row in enumerate(rows, start=2):
                if not all(is_blank_cell(value) for value in row):
                    yield RawLine(number, _record(row, columns), None)
        finally:
            workbook.close()


def worksheet_rows(sheet: Any) -> Iterator[tuple[Any, ...]]:
    """The rows of ``sheet`` as values, gaps filled; a corrupt worksheet is only discovered while reading it."""
    rows = sheet.iter_rows(values_only=True)
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as exc:
            raise ChargeFileError(f"the worksheet could not be read: {describe_error(exc)}") from exc
        yield row


def _columns(header: tuple[Any, ...]) -> list[tuple[int, _Column]]:
    """The known columns of the header row with their positions (the first of equal titles wins).

    The three Source columns are required unless the header has legacy Subscription Search columns and none of
    them; a missing required column raises `ChargeFileError`.
    """
    positions: dict[str, int] = {}
    for index, title in enumerate(header):
        if title is not None:
            positions.setdefault(str(title).strip().casefold(), index)
    present = {column.header for column in _COLUMNS if column.header.casefold() in positions}
    legacy = present.intersection(_LEGACY_SOURCE) and not present.intersection(_SOURCE)
    required = {*_REQUIRED, *(_LEGACY_SOURCE if legacy else _SOURCE)}
    missing = [column.header for column in _COLUMNS if column.header in required - present]
    if missing:
        raise ChargeFileError(f"missing required column(s) {', '.join(missing)}")
    return [(positions[column.header.casefold()], column) for column in _COLUMNS if column.header in present]


def _record(row: tuple[Any, ...], columns: list[tuple[int, _Column]]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for index, column in columns:
        value = _cell(row[index]) if index < len(row) else None
        if value is None:
            continue
        if not column.numeric and not isinstance(value, str):
            value = str(value)  # a number or a date typed into a text column means its text
        *parents, leaf = column.path
        node = record
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value
    return record


def is_blank_cell(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _cell(value: Any) -> Any:
    """A cell value in JSONL terms: stripped text, int, exact Decimal, ISO-8601 UTC text; None when empty."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, datetime):
        return value.isoformat() + "Z"  # Excel dates carry no zone: taken as UTC (§3.4)
    return str(value)  # a time of day or a duration: the validator rejects it as a date


def describe_error(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
