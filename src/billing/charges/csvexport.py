"""CSV charge export (billing-api.md §3.12): RFC 4180, UTF-8, CRLF, role-filtered columns, streamed."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

from billing.auth.principal import Role
from billing.charges.repository import ChargeRow
from billing.kit.money import format_decimal
from billing.kit.timeutil import format_instant

C, V, O = Role.CLIENT, Role.VENDOR, Role.OPERATIONS
ALL = frozenset({C, V, O})
VO, CO, OPS = frozenset({V, O}), frozenset({C, O}), frozenset({O})
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def _search(charge: ChargeRow, *path: str) -> Any:
    node: Any = charge.search or {}
    if path[0] == "source" and "source" not in node and "subscription" in node:
        if path[1] == "type":
            return "Subscription"
        node = node["subscription"]
        path = path[1:]
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _joined(values: list[str] | None) -> str:
    return " | ".join(values or [])


#: (header, value, visible to, numeric?) in the spec's order.
COLUMNS: list[tuple[str, Callable[[ChargeRow], Any], frozenset[Role], bool]] = [
    ("Charge ID", lambda c: c.id, ALL, False),
    ("Line", lambda c: c.line, VO, True),
    ("Entry ID", lambda c: c.external_vendor, ALL, False),
    ("External Reference", lambda c: c.external_reference, ALL, False),
    ("Vendor Invoice Reference", lambda c: c.external_invoice, ALL, False),
    ("Source", lambda c: _search(c, "source", "type"), VO, False),
    ("Source Criteria", lambda c: _search(c, "source", "criteria"), VO, False),
    ("Source Value", lambda c: _search(c, "source", "value"), VO, False),
    ("Order Search Criteria", lambda c: _search(c, "order", "criteria"), VO, False),
    ("Order Search Value", lambda c: _search(c, "order", "value"), VO, False),
    ("Item Search Criteria", lambda c: _search(c, "item", "criteria"), VO, False),
    ("Item Search Value", lambda c: _search(c, "item", "value"), VO, False),
    ("Usage Start Time", lambda c: c.period_start, ALL, True),
    ("Usage End Time", lambda c: c.period_end, ALL, True),
    ("Quantity", lambda c: c.quantity, ALL, True),
    ("Purchase Currency", lambda c: c.currency_purchase, VO, False),
    ("Purchase Price", lambda c: c.unit_pp, VO, True),
    ("Total Purchase Price", lambda c: c.ppx1, VO, True),
    ("Sale Currency", lambda c: c.currency_sale, CO, False),
    ("Sale Price", lambda c: c.unit_sp, CO, True),
    ("Total Sale Price", lambda c: c.spx1, CO, True),
    ("Markup", lambda c: c.markup, OPS, True),
    ("Margin", lambda c: c.margin, OPS, True),
    ("Market Segment", lambda c: c.segment, ALL, False),
    ("Description1", lambda c: c.description1, ALL, False),
    ("Description2", lambda c: c.description2, ALL, False),
    ("Billing Type", lambda c: c.billing_type, ALL, False),
    ("Upload Status", lambda c: c.upload_status, VO, False),
    ("Upload Errors", lambda c: _joined(c.upload_errors), VO, False),
    ("Processing Status", lambda c: c.processing_status, OPS, False),
    ("Processing Errors", lambda c: _joined(c.processing_errors), OPS, False),
    ("Parent Charge ID", lambda c: c.parent_id, ALL, False),
    ("Split Percentage", lambda c: c.split_percentage, ALL, True),
    ("Agreement ID", lambda c: c.agreement_id, ALL, False),
    ("Subscription ID", lambda c: c.subscription_id, ALL, False),
    ("Asset ID", lambda c: c.asset_id, ALL, False),
    ("Item ID", lambda c: c.item_id, ALL, False),
    ("Item Vendor ID", lambda c: None, ALL, False),  # resolved from reference data by `csv_rows`
    ("Client ID", lambda c: c.client_id, ALL, False),
    ("Buyer ID", lambda c: c.buyer_id, ALL, False),
    ("Licensee ID", lambda c: c.licensee_id, ALL, False),
    ("Seller ID", lambda c: c.seller_id, ALL, False),
    ("Ledger ID", lambda c: c.ledger_id or c.custom_ledger_id, OPS, False),
    ("Statement ID", lambda c: c.statement_id, CO, False),
    ("Statement Type", lambda c: c.statement_type, CO, False),
]


def cell(value: Any, numeric: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format_decimal(value)
    if isinstance(value, datetime):
        return format_instant(value)
    text = str(value)
    if not numeric and text.startswith(FORMULA_LEADS):
        return "'" + text  # neutralise spreadsheet formulas
    return text


def csv_rows(
    charges: Iterable[ChargeRow], role: Role, item_vendor_id: Callable[[str | None], str | None]
) -> Iterator[bytes]:
    """The header and one CSV line per charge, in chunks of ~64 KiB."""
    columns = [(header, getter, numeric) for header, getter, roles, numeric in COLUMNS if role in roles]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([header for header, _, _ in columns])
    for charge in charges:
        values = []
        for header, getter, numeric in columns:
            raw = item_vendor_id(charge.item_id) if header == "Item Vendor ID" else getter(charge)
            values.append(cell(raw, numeric))
        writer.writerow(values)
        if buffer.tell() > 65536:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")
