"""Custom ledger XLSX reader (billing-api.md §8.7): header detection, type/length row, cell values, messages."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from billing.custom_ledgers.files import SalesRow, iter_sales_rows, sign_of
from billing.journals.files import ChargeFileError

HEADER = [
    "Document No.",
    "Document Type",
    "Type",
    "No.",
    "Description",
    "Quantity",
    "Unit Price",
    "Purchase Price",
    "Sales Currency Code",
    "Purchase Currency Code",
    "Startdate",
    "Enddate",
    "Contract No.",
]
TYPE_LENGTH = [
    "Code20",
    "Option",
    "Option",
    "Code20",
    "Text100",
    "Decimal",
    "Decimal",
    "Decimal",
    "Code10",
    "Code10",
    "Date",
    "Date",
    "Code20",
]


def _order(document: str = "AGR-1", kind: str = "Order", /, **changes: Any) -> list[Any]:
    row: dict[str, Any] = {
        "Document No.": document,
        "Document Type": kind,
        "Type": "Item",
        "No.": "ITEM-1",
        "Description": "  Licence  ",
        "Quantity": 10.1,
        "Unit Price": 12,
        "Purchase Price": 0.3,
        "Sales Currency Code": "EUR",
        "Purchase Currency Code": "USD",
        "Startdate": datetime(2025, 1, 1),
        "Enddate": datetime(2025, 1, 31),
        "Contract No.": None,
    }
    row.update(changes)
    return [row[name] for name in HEADER]


def _write(path: Path, rows: list[list[Any]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row, start=1):
            if value is not None:
                sheet.cell(row=number, column=column, value=value)
    workbook.save(path)
    return path


def _read(path: Path) -> list[SalesRow]:
    with open(path, "rb") as stream:
        return list(iter_sales_rows(stream))


def _error(path: Path) -> str:
    with open(path, "rb") as stream, pytest.raises(ChargeFileError) as caught:
        list(iter_sales_rows(stream))
    return caught.value.reason


def test_preamble_type_length_row_title_and_empty_rows(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "sales.xlsx",
        [
            ["Sales document import"],
            ["Vendor", "ACME", "No.", "Quantity"],  # mentions two markers only: still preamble
            [],
            HEADER,
            TYPE_LENGTH,
            _order("AGR-1"),
            ["AGR-1", "Order", "Title", None, "Section heading"],
            [],
            ["   ", None, ""],  # blank text only: empty
            _order("AGR-2", "Credit Memo", Quantity=3),
        ],
    )
    rows = _read(path)
    assert [row.line for row in rows] == [6, 10]
    assert rows[0].values == {
        "Document No.": "AGR-1",
        "Document Type": "Order",
        "Type": "Item",
        "No.": "ITEM-1",
        "Description": "Licence",
        "Quantity": Decimal("10.1"),
        "Unit Price": 12,
        "Purchase Price": Decimal("0.3"),
        "Sales Currency Code": "EUR",
        "Purchase Currency Code": "USD",
        "Startdate": "2025-01-01T00:00:00Z",
        "Enddate": "2025-01-31T00:00:00Z",
    }
    assert rows[1].values["Document Type"] == "Credit Memo"
    assert rows[1].values["Quantity"] == 3
    assert [sign_of(row.values["Document Type"]) for row in rows] == [1, -1]


def test_title_rows_are_skipped_case_insensitively(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.xlsx", [HEADER, TYPE_LENGTH, _order(Type=" TITLE "), _order(Type="Item")])
    assert [row.line for row in _read(path)] == [4]


def test_header_matches_case_and_whitespace_insensitively(tmp_path: Path) -> None:
    header = [f"  {name.upper()} " for name in HEADER]
    path = _write(tmp_path / "h.xlsx", [header, TYPE_LENGTH, _order()])
    (row,) = _read(path)
    assert row.line == 3
    assert set(row.values) == {name for name in HEADER if name != "Contract No."}
    assert row.values["Document No."] == "AGR-1"


def test_header_further_down_and_unknown_columns_ignored(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "d.xlsx",
        [*[[f"note {n}"] for n in range(1, 12)], [*HEADER, "Unknown"], TYPE_LENGTH, [*_order(), "ignored"]],
    )
    (row,) = _read(path)
    assert row.line == 14
    assert "Unknown" not in row.values


def test_numeric_quantity_below_header_is_data(tmp_path: Path) -> None:
    path = _write(tmp_path / "n.xlsx", [HEADER, _order("AGR-1", Quantity=5), _order("AGR-2")])
    rows = _read(path)
    assert [(row.line, row.values["Document No."]) for row in rows] == [(2, "AGR-1"), (3, "AGR-2")]
    assert rows[0].values["Quantity"] == 5


def test_text_quantity_after_the_type_length_row_is_kept_as_text(tmp_path: Path) -> None:
    path = _write(tmp_path / "q.xlsx", [HEADER, TYPE_LENGTH, _order(Quantity=" abc ")])
    (row,) = _read(path)
    assert row.values["Quantity"] == "abc"


def test_missing_required_columns_message(tmp_path: Path) -> None:
    header = [name for name in HEADER if name not in ("Type", "Unit Price", "Enddate")]
    path = _write(tmp_path / "m.xlsx", [["preamble"], header, _order()])
    assert _error(path) == "missing required column(s) Type, Unit Price, Enddate"


def test_no_header_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.xlsx", [["Document No.", "Quantity"], ["AGR-1", 3]])
    assert _error(path) == "no header row with 'Document No.', 'No.' and 'Quantity' was found"


def test_empty_workbook_has_no_header_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "e.xlsx", [])
    assert _error(path) == "no header row with 'Document No.', 'No.' and 'Quantity' was found"


def test_corrupt_bytes(tmp_path: Path) -> None:
    path = tmp_path / "bad.xlsx"
    path.write_bytes(b"PK\x03\x04 this is not a workbook")
    assert _error(path).startswith("the workbook could not be opened: ")


def test_numbers_are_exact(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "num.xlsx",
        [HEADER, TYPE_LENGTH, _order(Quantity=10.1, **{"Unit Price": 0.1, "Purchase Price": 1234567})],
    )
    (row,) = _read(path)
    assert row.values["Quantity"] == Decimal("10.1")
    assert isinstance(row.values["Quantity"], Decimal)
    assert row.values["Unit Price"] == Decimal("0.1")
    assert row.values["Purchase Price"] == 1234567
    assert type(row.values["Purchase Price"]) is int


def test_number_in_a_text_column_is_its_text(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.xlsx", [HEADER, TYPE_LENGTH, _order("AGR-1", **{"No.": 1001, "Contract No.": 42})])
    (row,) = _read(path)
    assert row.values["No."] == "1001"
    assert row.values["Contract No."] == "42"


def test_dates_as_date_cells_and_as_text(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "dates.xlsx",
        [
            HEADER,
            TYPE_LENGTH,
            _order(Startdate=date(2025, 2, 1), Enddate=datetime(2025, 2, 28, 23, 59, 59)),
            _order(Startdate=" 2025-03-01 ", Enddate="2025-03-31T00:00:00Z"),
            _order(Startdate="01.04.2025", Enddate="2025-02-30"),
        ],
    )
    first, second, third = _read(path)
    assert (first.values["Startdate"], first.values["Enddate"]) == ("2025-02-01T00:00:00Z", "2025-02-28T23:59:59Z")
    assert (second.values["Startdate"], second.values["Enddate"]) == ("2025-03-01T00:00:00Z", "2025-03-31T00:00:00Z")
    assert (third.values["Startdate"], third.values["Enddate"]) == ("01.04.2025", "2025-02-30")  # left to the validator


@pytest.mark.parametrize(
    ("value", "sign"),
    [("Order", 1), (" order ", 1), ("Credit Memo", -1), ("CREDIT MEMO", -1), ("Invoice", None), ("", None)],
)
def test_sign_of(value: str, sign: int | None) -> None:
    assert sign_of(value) == sign
