"""CSV exports for finance (statement charges, ledger charges, invoice lines) from column templates.

A template (``csv/<kind>.toml`` under the templates directory) names the columns::

    bom = false                 # optional: start with a UTF-8 byte order mark (Excel on Windows needs one)

    [[columns]]
    header = "Amount"           # the header cell
    field = "spx1"              # a field of the export (`billing.documents.exports`)
    format = "money"            # optional: "money" (needs `currency`), "date" or "datetime"
    currency = "currency_sale"  # money only: the field holding the row's currency

Output is RFC 4180 (comma, CRLF, fields quoted only when they contain a comma, a quote or a line break) in
UTF-8. Money is exact plain notation, or rounded half away from zero to the currency's minor units with
``format = "money"``; instants are ISO 8601 UTC (``datetime``, the default) or their date (``date``). Text cells
that a spreadsheet would read as a formula are neutralised as in the API's charge export.

On PostgreSQL the server writes the CSV (`billing.documents.exports.ExportSource.copy_csv`, cells formatted by the
same rules in SQL; the tests check both ways against the same golden files). Otherwise the writer works on column
batches: money and instants are formatted once per distinct value of a batch, and a
text column is checked as a whole for formula leads (its smallest value) and characters that need quoting, so a
typical batch becomes lines with no Python call per text cell. ``csv.writer`` alone costs more per row than the
whole export budget (≥ 200,000 rows/s); the tests check that both write the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, BinaryIO

from babel.core import get_global
from babel.numbers import get_currency_precision
from sqlalchemy.orm import Session

from billing.charges.csvexport import FORMULA_LEADS, cell
from billing.documents.exports import (
    INVOICE_LINES,
    LEDGER_CHARGES,
    STATEMENT_CHARGES,
    Cell,
    ExportSource,
    per_distinct,
)
from billing.documents.templating import TemplateError, Templates
from billing.kit.timeutil import format_instant


@dataclass(frozen=True, slots=True)
class CsvKind:
    template: str  # relative to the templates directory
    source: ExportSource


#: The CSV outputs by name (``documents.outputs``): their template and the rows they export.
CSV_KINDS: dict[str, CsvKind] = {
    "statement_charges_csv": CsvKind("csv/statement_charges.toml", STATEMENT_CHARGES),
    "ledger_charges_csv": CsvKind("csv/ledger_charges.toml", LEDGER_CHARGES),
    "invoice_lines_csv": CsvKind("csv/invoice_lines.toml", INVOICE_LINES),
}

#: Formats allowed per field kind (None: the kind's default).
FORMATS: dict[str, frozenset[str | None]] = {
    "text": frozenset({None}),
    "integer": frozenset({None}),
    "money": frozenset({None, "money"}),
    "instant": frozenset({None, "datetime", "date"}),
}
_TEMPLATE_KEYS = frozenset({"bom", "columns"})
_COLUMN_KEYS = frozenset({"header", "field", "format", "currency"})
_BOM = b"\xef\xbb\xbf"

_SPECIAL = re.compile('[",\r\n]')
#: printf-style formats cost about half of format specs here (money is formatted once per distinct amount).
_SEVEN_DIGITS = "%07d"
#: Every formula lead is a single character no higher than this one.
_HIGHEST_LEAD = max(FORMULA_LEADS)

Cells = Sequence[str]
ColumnFormatter = Callable[[Sequence[Sequence[Any]]], Cells]


@dataclass(frozen=True, slots=True)
class CsvColumn:
    header: str
    field: str
    format: str | None = None
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class CsvTemplate:
    columns: tuple[CsvColumn, ...]
    bom: bool = False


def write_csv(kind: str, session: Session, parent_id: str, templates: Templates, out: BinaryIO) -> int:
    """Write the ``kind`` export of ``parent_id`` (a statement, ledger or invoice id) to ``out``, batch by
    batch; returns the number of rows written (the header excluded)."""
    if kind not in CSV_KINDS:
        raise ValueError(f"Unknown CSV export {kind!r}; known: {', '.join(CSV_KINDS)}.")
    csv_kind = CSV_KINDS[kind]
    template = load_template(templates, csv_kind)
    if template.bom:
        out.write(_BOM)
    out.write(_lines([_text_cells([column.header]) for column in template.columns]))
    if session.connection().dialect.name == "postgresql" and len(template.columns) > 1:
        return _copy_csv(csv_kind.source, session, parent_id, template, out)
    names = list(dict.fromkeys(name for c in template.columns for name in (c.field, c.currency) if name))
    formatters = [_formatter(column, csv_kind.source, names.index) for column in template.columns]
    written = 0
    for columns in csv_kind.source.batches(session, parent_id, names):
        out.write(_lines([format_column(columns) for format_column in formatters]))
        written += len(columns[0])
    return written


def _copy_csv(source: ExportSource, session: Session, parent_id: str, template: CsvTemplate, out: BinaryIO) -> int:
    """The rows as the database writes them (`ExportSource.copy_csv`, by the same rules); returns their number."""
    cells = [
        Cell(
            column.field,
            column.format,
            column.currency,
            leads="".join(FORMULA_LEADS),
            places=_MINOR_UNITS if column.currency else (),
            default_places=_DEFAULT_MINOR_UNITS,
        )
        for column in template.columns
    ]
    return source.copy_csv(session, parent_id, cells, out)


def load_template(templates: Templates, kind: CsvKind) -> CsvTemplate:
    """The kind's template, checked against the export's fields (a `TemplateError` names the file and column)."""
    document = templates.toml(kind.template)
    where = str(templates.path(kind.template))
    if unknown := set(document) - _TEMPLATE_KEYS:
        raise TemplateError(f"{where}: unknown keys {', '.join(sorted(unknown))}.")
    bom = document.get("bom", False)
    raw_columns = document.get("columns")
    if not isinstance(bom, bool):
        raise TemplateError(f"{where}: bom must be true or false.")
    if not isinstance(raw_columns, list) or not raw_columns or not all(isinstance(c, dict) for c in raw_columns):
        raise TemplateError(f"{where}: needs at least one [[columns]] table.")
    columns = tuple(
        _column(raw, kind.source, f"{where}: column {number} ({raw.get('header')!r})")
        for number, raw in enumerate(raw_columns, start=1)
    )
    return CsvTemplate(columns, bom)


def _column(raw: dict[str, Any], source: ExportSource, where: str) -> CsvColumn:
    if unknown := set(raw) - _COLUMN_KEYS:
        raise TemplateError(f"{where}: unknown keys {', '.join(sorted(unknown))}.")
    header, name, cell_format, currency = (raw.get(key) for key in ("header", "field", "format", "currency"))
    if not isinstance(header, str) or not header:
        raise TemplateError(f"{where}: header must be a non-empty string.")
    if not isinstance(name, str) or (field := source.fields.get(name)) is None:
        raise TemplateError(f"{where}: unknown field {name!r}.")
    if not isinstance(cell_format, str | None) or cell_format not in FORMATS[field.kind]:
        allowed = ", ".join(repr(f) for f in sorted(f for f in FORMATS[field.kind] if f)) or "none"
        raise TemplateError(
            f"{where}: format {cell_format!r} does not apply to the {field.kind} field {name!r} (allowed: {allowed})."
        )
    if (cell_format == "money") != (currency is not None):
        raise TemplateError(f"{where}: currency is required with format 'money', and only with it.")
    if currency is not None and (not isinstance(currency, str) or _kind_of(source, currency) != "text"):
        raise TemplateError(f"{where}: currency {currency!r} is not a text field.")
    return CsvColumn(header, name, cell_format, currency)


def _kind_of(source: ExportSource, name: str) -> str | None:
    field = source.fields.get(name)
    return None if field is None else field.kind


def _formatter(column: CsvColumn, source: ExportSource, position: Callable[[str], int]) -> ColumnFormatter:
    """How a batch's columns become the column's cells."""
    at = position(column.field)
    kind = source.fields[column.field].kind
    if kind == "text":
        return lambda columns: _text_cells(columns[at])
    if kind == "integer":
        return lambda columns: _integer_cells(columns[at])
    if kind == "instant":
        instant = _day if column.format == "date" else _instant
        return lambda columns: per_distinct(instant, columns[at])
    if column.currency is not None:
        currency_at = position(column.currency)
        return lambda columns: _money_cells(columns[at], columns[currency_at])
    return lambda columns: per_distinct(_exact, columns[at])


def _lines(cells: list[Cells]) -> bytes:
    """A batch's rows (one cell sequence per template column), CRLF-terminated, in UTF-8."""
    if len(cells) == 1:  # a lone empty cell would make a blank line: quote it, as csv.writer does
        cells = [['""' if value == "" else value for value in cells[0]]]
    return ("\r\n".join(map(",".join, zip(*cells, strict=True))) + "\r\n").encode("utf-8")


def _text_cells(values: Sequence[str | None]) -> Cells:
    """Cells of a text column, neutralised and quoted value by value only when the column as a whole shows a need:
    its smallest value could start with a formula lead, or its values hold a quote, a comma or a line break."""
    try:
        joined = "".join(values)  # type: ignore[arg-type]
    except TypeError:  # NULLs
        values = ["" if value is None else value for value in values]
        joined = "".join(values)  # type: ignore[arg-type]
    lowest = min(filter(None, values), default=None)
    if (
        (lowest is not None and lowest[0] <= _HIGHEST_LEAD)
        or '"' in joined
        or "," in joined
        or "\n" in joined
        or "\r" in joined
    ):
        return per_distinct(_text_cell, values)
    return values  # type: ignore[return-value]


def _text_cell(value: str | None) -> str:
    text = cell(value, False)
    return '"' + text.replace('"', '""') + '"' if _SPECIAL.search(text) else text


def _integer_cells(values: Sequence[int | None]) -> Cells:
    if None in values:
        return ["" if value is None else str(value) for value in values]
    return list(map(str, values))


def _exact(micros: int | None) -> str:
    """Plain notation without trailing zeros (as `billing.kit.money.format_decimal`), from integer micros."""
    if micros is None:
        return ""
    digits = _SEVEN_DIGITS % abs(micros)  # at least one digit before the six decimals
    text = f"{digits[:-6]}.{digits[-6:]}".rstrip("0").rstrip(".")
    return "-" + text if micros < 0 else text


def _money_cells(values: Sequence[int | None], currencies: Sequence[str | None]) -> Cells:
    if len(batch_currencies := set(currencies)) == 1:  # the usual case: no (amount, currency) pairs to build
        return per_distinct(_rounding(batch_currencies.pop()), values)
    return per_distinct(lambda pair: _rounding(pair[1])(pair[0]), list(zip(values, currencies, strict=True)))


#: Babel's minor units of the currencies whose minor units are not the default one (capped at 6: money has six
#: places), for the database's rounding; `_rounding` asks Babel one currency at a time.
_DEFAULT_MINOR_UNITS = get_currency_precision("")
_MINOR_UNITS = tuple(
    sorted(
        (code, min(fractions[0], 6))
        for code, fractions in get_global("currency_fractions").items()
        if code != "DEFAULT" and min(fractions[0], 6) != _DEFAULT_MINOR_UNITS
    )
)


@lru_cache(maxsize=256)
def _rounding(currency: str | None) -> Callable[[int | None], str]:
    """Money of ``currency`` rounded half away from zero to its minor units, all of them written: ``12.50``,
    ``1300`` (no currency: exact)."""
    if not currency:
        return _exact
    digits = min(get_currency_precision(currency), 6)
    step = 10 ** (6 - digits)
    padding = f"%0{digits + 1}d"  # at least one digit before the decimals

    def rounded(micros: int | None) -> str:
        if micros is None:
            return ""
        units = (abs(micros) + step // 2) // step
        if digits:
            padded = padding % units
            text = f"{padded[:-digits]}.{padded[-digits:]}"
        else:
            text = str(units)
        return "-" + text if micros < 0 and units else text

    return rounded


def _instant(value: datetime | None) -> str:
    return "" if value is None else format_instant(value)


def _day(value: datetime | None) -> str:
    return "" if value is None else value.date().isoformat()
