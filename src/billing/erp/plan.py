"""Statement → ERP document plan (erp-integration.md §1.7), built from the statement and *current* reference data.

Debit → sales invoice, Credit → sales credit memo. At most ``detailed_max_charges`` charges give one line per
charge with a non-zero quantity, in charge id order; more give one line per ERP item, aggregated in SQL, so
memory does not grow with the charge count. Lines are numbered 10000, 20000, … so that a resumed push can tell
which exist. A missing customer or item mapping is `PlanError` (``ERP:0006``), raised before any ERP call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from billing.erp.errors import ERP_MAPPING
from billing.erp.gateway import DocType, PlannedHeader, PlannedLine
from billing.erp.settings import ErpSettings

MAX_EXTERNAL_DOCUMENT_NO = 35
MAX_YOUR_REFERENCE = 35
_UNIT = Decimal("0.00001")  # unit prices and quantities: up to 5 decimals (§1.1)
LINE_STEP = 10000


class PlanError(Exception):
    """The statement cannot be mapped to an ERP document; the statement goes to Error with ``ERP:0006``."""

    error_id = ERP_MAPPING


@dataclass(frozen=True, slots=True)
class DocumentPlan:
    doc_type: DocType
    header: PlannedHeader
    lines: tuple[PlannedLine, ...]

    @property
    def line_nos(self) -> frozenset[int]:
        return frozenset(line.line_no for line in self.lines)


@dataclass(frozen=True, slots=True)
class StatementFacts:
    """What a plan needs of the statement (read as one row, not an ORM object: this runs for every push)."""

    id: str
    type: str
    seller_id: str
    buyer_id: str
    licensee_id: str | None
    agreement_id: str
    currency_sale: str | None
    currency_purchase: str | None
    queued_at: datetime | None


@dataclass(frozen=True, slots=True)
class ChargeLine:
    """What a detailed line needs of one charge."""

    id: str
    item_id: str | None
    erp_item_id: str | None
    cco: str | None
    description1: str | None
    description2: str | None
    quantity: Decimal
    unit_sp: Decimal | None
    unit_pp: Decimal | None
    period_start: datetime | None
    period_end: datetime | None


@dataclass(frozen=True, slots=True)
class ItemTotal:
    """What a compact line needs: the charges of one ERP item, summed in SQL."""

    item_id: str | None
    erp_item_id: str | None
    cco: str | None
    count: int
    total_sp: Decimal
    total_pp: Decimal
    period_start: datetime | None
    period_end: datetime | None


def doc_type_of(statement: Any) -> DocType:
    """Debit → invoice, Credit → credit memo (of a `Statement` or `StatementFacts`)."""
    return "invoice" if statement.type == "Debit" else "credit_memo"


def customer_no(party: Mapping[str, Any] | None, seller_id: str) -> str | None:
    """The party's ERP customer number for the seller (``erpCustomers[]``)."""
    for entry in (party or {}).get("erpCustomers") or ():
        if entry.get("seller") == seller_id and entry.get("customerNo"):
            return str(entry["customerNo"])
    return None


class Planner:
    """Builds plans with reference data looked up through ``docs(entity, id)``."""

    def __init__(self, settings: ErpSettings, docs: Any) -> None:
        self.settings = settings
        self.docs = docs  # callable (entity, id) -> dict | None

    def header(self, statement: StatementFacts) -> PlannedHeader:
        licensee = self.docs("licensees", statement.licensee_id) if statement.licensee_id else None
        buyer = self.docs("buyers", statement.buyer_id)
        sell_to = customer_no(licensee, statement.seller_id)
        bill_to = customer_no(buyer, statement.seller_id)
        if sell_to is None:
            raise PlanError(
                f"Licensee '{statement.licensee_id}' has no ERP customer number for seller '{statement.seller_id}'."
            )
        if bill_to is None:
            raise PlanError(
                f"Buyer '{statement.buyer_id}' has no ERP customer number for seller '{statement.seller_id}'."
            )
        external = statement.id.upper()
        if len(external) > MAX_EXTERNAL_DOCUMENT_NO:
            raise PlanError(f"Statement id '{external}' is longer than {MAX_EXTERNAL_DOCUMENT_NO} characters.")
        push = self.settings.push
        document_date = statement.queued_at.date() if push.document_date == "queued" and statement.queued_at else None
        return PlannedHeader(
            sell_to_customer_no=sell_to,
            bill_to_customer_no=bill_to,
            external_document_no=external,
            your_reference=push.your_reference.format(statement_id=statement.id)[:MAX_YOUR_REFERENCE],
            document_date=document_date,
            currency_code=self._currency(statement.currency_sale),
        )

    def detailed_lines(self, statement: StatementFacts, charges: list[ChargeLine]) -> tuple[PlannedLine, ...]:
        sign = 1 if statement.type == "Debit" else -1
        lines: list[PlannedLine] = []
        for charge in sorted(charges, key=lambda c: c.id):
            if not charge.quantity:
                continue
            s = sign if charge.quantity > 0 else -sign
            lines.append(
                PlannedLine(
                    line_no=LINE_STEP * (len(lines) + 1),
                    type=self.settings.push.line_type,
                    no=self._item_no(charge.erp_item_id, charge.item_id),
                    description=(charge.description1 or "")[:100],
                    description_2=(charge.description2 or "")[:50],
                    quantity=_unit(abs(charge.quantity)),
                    unit_price=_unit((charge.unit_sp or 0) * s),
                    purchase_price=_unit((charge.unit_pp or 0) * s),
                    purchase_currency_code=self._currency(statement.currency_purchase),
                    period_start=_day(charge.period_start),
                    period_end=_day(charge.period_end),
                    contract_no=self._contract(charge.cco, statement.agreement_id),
                )
            )
        return tuple(lines)

    def compact_lines(self, statement: StatementFacts, totals: list[ItemTotal]) -> tuple[PlannedLine, ...]:
        sign = 1 if statement.type == "Debit" else -1
        keyed = sorted(((self._item_no(t.erp_item_id, t.item_id), t) for t in totals), key=lambda pair: pair[0])
        lines = []
        for number, (item_no, total) in enumerate(keyed, start=1):
            item = self.docs("items", total.item_id) if total.item_id else None
            lines.append(
                PlannedLine(
                    line_no=LINE_STEP * number,
                    type=self.settings.push.line_type,
                    no=item_no,
                    description=str((item or {}).get("name") or item_no)[:100],
                    description_2=f"{total.count} charges"[:50],
                    quantity=Decimal(1),
                    unit_price=_unit(total.total_sp * sign),
                    purchase_price=_unit(total.total_pp * sign),
                    purchase_currency_code=self._currency(statement.currency_purchase),
                    period_start=_day(total.period_start),
                    period_end=_day(total.period_end),
                    contract_no=self._contract(total.cco, statement.agreement_id),
                )
            )
        return tuple(lines)

    def _item_no(self, erp_item_id: str | None, item_id: str | None) -> str:
        if erp_item_id:
            return erp_item_id
        item = self.docs("items", item_id) if item_id else None
        number = ((item or {}).get("externalIds") or {}).get("operations")
        if not number:
            raise PlanError(f"Item '{item_id}' has no ERP item number (externalIds.operations).")
        return str(number)

    def _contract(self, cco: str | None, agreement_id: str) -> str:
        if cco:
            return cco
        agreement = self.docs("agreements", agreement_id) or {}
        return str((agreement.get("externalIds") or {}).get("operations") or "")

    def _currency(self, code: str | None) -> str:
        return "" if not code or code == self.settings.local_currency else code


def _unit(value: Decimal | int) -> Decimal:
    return Decimal(value).quantize(_UNIT, rounding=ROUND_HALF_UP)


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None
