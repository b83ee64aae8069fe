"""Builders for the charge-file corpus (billing-api.md §8.1–8.3): JSONL bytes and XLSX workbooks made on the spot."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
from openpyxl import Workbook

#: The §8.3 columns of the current form, in table order.
CURRENT_HEADER = [
    "Entry ID",
    "External Reference",
    "Vendor Invoice Reference",
    "Source",
    "Source Criteria",
    "Source Value",
    "Order Search Criteria",
    "Order Search Value",
    "Item Search Criteria",
    "Item Search Value",
    "Usage Start Time",
    "Usage End Time",
    "Quantity",
    "Purchase Price",
    "Total Purchase Price",
    "Currency",
    "Description1",
    "Description2",
    "Market Segment",
    "Optional Agreement Vendor ID",
]
#: The required columns of the legacy form (subscription search instead of the three Source columns).
LEGACY_HEADER = [
    "Entry ID",
    "Subscription Search Criteria",
    "Subscription Search Value",
    "Item Search Criteria",
    "Item Search Value",
    "Usage Start Time",
    "Usage End Time",
    "Quantity",
    "Purchase Price",
]


def charge(vendor: str = "ext-2025-06-0001", **overrides: Any) -> dict[str, Any]:
    """A valid §8.2 charge line (integers only) with top-level members replaced by ``overrides``."""
    line: dict[str, Any] = {
        "externalIds": {"vendor": vendor, "invoice": "INV12345", "reference": "ORD-2413-8980-9419"},
        "search": {
            "source": {"type": "Subscription", "criteria": "id", "value": "SUB-0356-5642-8669"},
            "item": {"criteria": "item.externalIds.vendor", "value": "SKU-STD-01"},
        },
        "period": {"start": "2025-06-01", "end": "2025-06-30T23:59:59Z"},
        "quantity": 10,
        "price": {"unitPP": 10, "PPx1": 100, "currency": "USD"},
        "segment": "COM",
        "description": {"value1": "Standard seat", "value2": "June"},
        "attributes": {"agreementVendorId": "TENANT-77"},
    }
    line.update(overrides)
    return line


def jsonl(*lines: Mapping[str, Any] | bytes | str, newline: bytes = b"\n", final_newline: bool = True) -> bytes:
    """A JSONL file: mappings are serialised, ``str``/``bytes`` lines are written as they are."""
    encoded = [
        line if isinstance(line, bytes) else line.encode() if isinstance(line, str) else orjson.dumps(line)
        for line in lines
    ]
    return newline.join(encoded) + (newline if final_newline and encoded else b"")


def write_xlsx(
    path: Path,
    rows: Sequence[Sequence[Any] | None],
    *,
    extra_sheets: Mapping[str, Sequence[Sequence[Any]]] | None = None,
    active_sheet: int = 0,
) -> Path:
    """A workbook whose first worksheet holds ``rows`` from row 1 (a ``None`` row is left out of the file)."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Charges"
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row or (), start=1):
            if value is not None:
                sheet.cell(row=number, column=column, value=value)
    for title, sheet_rows in (extra_sheets or {}).items():
        extra = workbook.create_sheet(title)
        for row in sheet_rows:
            extra.append(list(row))
    workbook.active = active_sheet
    workbook.save(path)
    return path


def xlsx_row(header: Sequence[str], **cells: Any) -> list[Any]:
    """A row for ``header`` from cells named by their column title with spaces as underscores (``Entry_ID=…``)."""
    by_title = {title.replace(" ", "_"): title for title in header}
    unknown = set(cells) - set(by_title)
    if unknown:
        raise KeyError(f"not in the header: {sorted(unknown)}")
    values = {by_title[name]: value for name, value in cells.items()}
    return [values.get(title) for title in header]


def truncate_first_sheet(path: Path, keep: float = 0.5) -> Path:
    """Cut the XML of the first worksheet of ``path`` short: the workbook opens, reading it fails part-way."""
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    sheet = members["xl/worksheets/sheet1.xml"]
    members["xl/worksheets/sheet1.xml"] = sheet[: int(len(sheet) * keep)]
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return path
