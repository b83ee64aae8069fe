"""What a rendered document shows, independent of the database: the renderers take these, the builders in
``sources.py`` make them from stored rows. Plain frozen dataclasses so that a checksum of the inputs is cheap."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Party:
    """A name and its postal lines, in print order (street, postcode + city, country)."""

    name: str
    lines: tuple[str, ...] = ()
    tax_id: str | None = None
    reference: str | None = None  # the id the party has with us (e.g. ACC-…, or the ERP customer no)


@dataclass(frozen=True, slots=True)
class DocumentLine:
    """One line of an invoice or credit memo (sale prices)."""

    number: int
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal  # net line amount
    item: str | None = None
    tax_percent: Decimal | None = None
    period: str | None = None  # e.g. "2026-10-01 – 2026-10-31"


@dataclass(frozen=True, slots=True)
class PostedDocumentView:
    """An invoice or a credit memo as posted by the ERP."""

    kind: str  # "invoice" | "credit_memo"
    id: str  # INV-… / CRD-…
    number: str  # the ERP document no
    status: str
    currency: str
    seller: Party
    bill_to: Party
    sell_to: Party | None
    ship_to: Party | None
    document_date: date | None
    due_date: date | None
    net: Decimal
    tax: Decimal
    gross: Decimal
    balance_due: Decimal | None
    lines: tuple[DocumentLine, ...]
    statement_id: str | None = None
    agreement_id: str | None = None
    external_document_no: str | None = None
    payment_terms: str | None = None
    applies_to: str | None = None  # credit memo: the invoice it is applied to


@dataclass(frozen=True, slots=True)
class ChargeLine:
    """One charge of a statement, with its sale price (what the client is billed)."""

    id: str
    description: str
    period_start: datetime | None
    period_end: datetime | None
    quantity: Decimal
    unit_price: Decimal | None
    amount: Decimal
    item: str | None = None
    subscription: str | None = None


@dataclass(frozen=True)
class StatementView:
    """A statement and its charges. ``charges`` is called once per rendering and streams (a statement may hold
    millions of charges); ``charge_count`` and ``total`` are known up front so summaries need no second pass."""

    id: str
    name: str
    type: str  # Debit | Credit
    billing_type: str
    status: str
    currency: str
    seller: Party
    client: Party
    agreement: str
    agreement_name: str | None
    vendor: str | None
    product: str | None
    period_start: datetime | None
    period_end: datetime | None
    total: Decimal  # sum of the charges' sale prices
    total_tax: Decimal | None
    total_gross: Decimal | None
    charge_count: int
    charges: Callable[[], Iterator[ChargeLine]] = field(compare=False)
    document_no: str | None = None  # the linked invoice / credit memo
    #: what identifies the charges for the checksum (count, sale total, newest change, period), read with the view
    charges_digest: tuple[object, ...] = ()
