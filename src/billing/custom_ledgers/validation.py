"""Custom ledger row validation (billing-api.md §8.7): one `SalesRow` → one charge row, its errors with it.

Rules run in column order and a rule whose input failed earlier is skipped. Prices are given, not rated:
``PPx1 = unitPP × quantity``, ``SPx1 = unitSP × quantity`` with markup and margin from them (§9.3), and a
``Credit Memo`` row inverts the quantity's sign. The ledger's currencies, when unset, come from the first row
that passes every rule; later rows must use the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from billing.custom_ledgers.files import SalesRow, sign_of
from billing.db.models import Charge, CustomLedger
from billing.journals.charge_binding import amount
from billing.kit.ids import digits_of
from billing.kit.money import round6
from billing.kit.timeutil import parse_instant
from billing.rating.pricing import rate_given_prices

#: ``attributes`` members filled from optional columns (§8.7).
ATTRIBUTE_COLUMNS = {
    "Order Type": "orderType",
    "Contract No.": "contractNo",
    "External Document No.": "externalDocumentNo",
    "External Document No. 2": "externalDocumentNo2",
    "Your Reference": "yourReference",
    "Vendor Invoice Reference": "vendorInvoiceReference",
}

CHARGE_COLUMNS = tuple(Charge.__table__.columns.keys())


@dataclass
class CustomLedgerContext:
    """What validation needs of the ledger and of reference data, read once per run."""

    ledger_id: str
    seller_id: str
    vendor_id: str
    currency_purchase: str | None
    currency_sale: str | None
    agreements: dict[str, dict[str, Any]]
    #: (product id, key) → item id, where key is the item's ``externalIds.operations`` or its id
    items_by_operations: dict[tuple[str, str], str]
    items_by_id: dict[tuple[str, str], str]
    now: datetime
    charge_prefix: str = field(init=False)

    def __post_init__(self) -> None:
        self.charge_prefix = f"CHG-{digits_of(self.ledger_id)}-"

    @classmethod
    def build(
        cls, ledger: CustomLedger, world: dict[str, dict[str, dict[str, Any]]], now: datetime
    ) -> CustomLedgerContext:
        by_operations: dict[tuple[str, str], str] = {}
        by_id: dict[tuple[str, str], str] = {}
        for item in world["items"].values():
            product = str(item.get("product") or "")
            by_id[(product, item["id"])] = item["id"]
            operations = (item.get("externalIds") or {}).get("operations")
            if operations:
                by_operations.setdefault((product, operations), item["id"])
        return cls(
            ledger_id=ledger.id,
            seller_id=ledger.seller_id,
            vendor_id=ledger.vendor_id,
            currency_purchase=ledger.currency_purchase,
            currency_sale=ledger.currency_sale,
            agreements=world["agreements"],
            items_by_operations=by_operations,
            items_by_id=by_id,
            now=now,
        )


class SalesRowValidator:
    def __init__(self, context: CustomLedgerContext) -> None:
        self.context = context

    def charge_id(self, line: int) -> str:
        digits = f"{line * 100:012d}"
        return f"{self.context.charge_prefix}{digits[:4]}-{digits[4:8]}-{digits[8:]}"

    def validate(self, row: SalesRow) -> dict[str, Any]:
        """The charge row of one data row; ``upload_status`` is ``Error`` with its messages when a rule failed."""
        values = row.values
        errors: list[str] = []
        agreement = self._agreement(values.get("Document No."), errors)
        sign = self._sign(values.get("Document Type"), errors)
        kind = values.get("Type")
        if kind is None:
            errors.append("'Type' is required.")
        elif kind.casefold() != "item":
            errors.append(f"Unsupported 'Type' '{kind}'; expected Item or Title.")
        item_id = self._item(values.get("No."), agreement, errors)
        quantity = amount(values.get("Quantity"), "Quantity", True, errors)
        unit_sp = amount(values.get("Unit Price"), "Unit Price", True, errors)
        unit_pp = amount(values.get("Purchase Price"), "Purchase Price", True, errors)
        sale = self._currency(values.get("Sales Currency Code"), "Sales Currency Code", "sales", errors)
        purchase = self._currency(values.get("Purchase Currency Code"), "Purchase Currency Code", "purchase", errors)
        start = self._instant(values.get("Startdate"), "Startdate", errors)
        end = self._instant(values.get("Enddate"), "Enddate", errors)
        if start is not None and end is not None and end < start:
            errors.append(f"Period end {values['Enddate']} is before period start {values['Startdate']}.")

        context = self.context
        if sign is not None and quantity is not None:
            quantity = quantity * sign
        charge: dict[str, Any] = dict.fromkeys(CHARGE_COLUMNS) | {
            "id": self.charge_id(row.line),
            "custom_ledger_id": context.ledger_id,
            "line": row.line,
            "child": 0,
            "seq": row.line * 100,
            "period_start": start,
            "period_end": end,
            "quantity": quantity,
            "unit_pp": unit_pp,
            "unit_sp": unit_sp,
            "currency_purchase": purchase,
            "currency_sale": sale,
            "description1": values.get("Description"),
            "description2": values.get("Description 2"),
            "attributes": {
                "documentType": values.get("Document Type"),
                **{member: values[column] for column, member in ATTRIBUTE_COLUMNS.items() if column in values},
            },
            "billing_type": "Manual",
            "vendor_id": context.vendor_id,
            "seller_id": context.seller_id,
            "item_id": item_id,
            "created_at": context.now,
            "updated_at": context.now,
        }
        if agreement is not None:
            charge.update(
                agreement_id=agreement["id"],
                client_id=agreement.get("client"),
                buyer_id=agreement.get("buyer"),
                licensee_id=agreement.get("licensee"),
                product_id=agreement.get("product"),
            )
        if quantity is not None and unit_pp is not None and unit_sp is not None:
            rated = rate_given_prices(unit_pp, unit_sp, quantity)
            charge.update(
                ppx1=round6(unit_pp * quantity),
                spx1=rated.spx1,
                unit_sp=rated.unit_sp,
                markup=rated.markup,
                margin=rated.margin,
            )
        if errors:
            charge.update(upload_status="Error", upload_errors=[f"Line {row.line}: {message}" for message in errors])
        else:
            charge.update(upload_status="Ready", upload_errors=None, processing_status="Ready")
            if context.currency_purchase is None:
                context.currency_purchase = purchase
            if context.currency_sale is None:
                context.currency_sale = sale
        return charge

    def _agreement(self, value: str | None, errors: list[str]) -> dict[str, Any] | None:
        if value is None:
            errors.append("'Document No.' is required.")
            return None
        agreement = self.context.agreements.get(value.upper())
        if agreement is None:
            errors.append(f"Agreement '{value}' was not found.")
            return None
        seller, vendor = agreement.get("seller"), agreement.get("vendor")
        if seller != self.context.seller_id:
            errors.append(
                f"Agreement '{agreement['id']}' belongs to seller '{seller}', "
                f"not to the ledger's seller '{self.context.seller_id}'."
            )
        if vendor != self.context.vendor_id:
            errors.append(
                f"Agreement '{agreement['id']}' belongs to vendor '{vendor}', "
                f"not to the ledger's vendor '{self.context.vendor_id}'."
            )
        return agreement

    @staticmethod
    def _sign(value: str | None, errors: list[str]) -> int | None:
        if value is None:
            errors.append("'Document Type' is required.")
            return None
        sign = sign_of(value)
        if sign is None:
            errors.append(f"Unsupported 'Document Type' '{value}'; expected Order or Credit Memo.")
        return sign

    def _item(self, value: str | None, agreement: dict[str, Any] | None, errors: list[str]) -> str | None:
        if value is None:
            errors.append("'No.' is required.")
            return None
        if agreement is None:
            return None  # depends on the agreement's product
        product = agreement.get("product") or ""
        item_id = self.context.items_by_operations.get((product, value)) or self.context.items_by_id.get(
            (product, value.upper())
        )
        if item_id is None:
            errors.append(f"Item '{value}' was not found in product '{product}'.")
        return item_id

    def _currency(self, value: str | None, column: str, kind: str, errors: list[str]) -> str | None:
        if value is None:
            errors.append(f"'{column}' is required.")
            return None
        code = value.upper()
        expected = self.context.currency_sale if kind == "sales" else self.context.currency_purchase
        if expected is not None and code != expected:
            errors.append(f"Currency '{value}' does not match the ledger's {kind} currency '{expected}'.")
        return code

    @staticmethod
    def _instant(value: str | None, column: str, errors: list[str]) -> datetime | None:
        if value is None:
            errors.append(f"'{column}' is required.")
            return None
        try:
            return parse_instant(value)
        except ValueError:
            errors.append(f"'{column}' is not a valid ISO 8601 date or date-time: '{value}'.")
            return None
