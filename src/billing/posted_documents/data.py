"""A posted ERP document in neutral form: what the ERP pull (`billing.erp.pull`, mapping per
erp-integration.md §1.8) and ``POST /invoices`` / ``POST /credit-memos`` (billing-api.md §10.3) both hand to
`billing.posted_documents.upsert`. Members are already in the API's vocabulary; ``erp_data`` and ``price`` hold the
representation's members that are not columns (see `billing.db.models.erp_document`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

DocType = Literal["invoice", "credit_memo"]


@dataclass(frozen=True, slots=True)
class PostedLineData:
    line_no: int
    document_no: str | None
    item_no: str | None
    description: str | None
    description2: str | None
    period_start: datetime | None  # the ERP's empty date 1753-01-01 is None already
    period_end: datetime | None
    quantity: Decimal | None
    unit_price: Decimal | None
    amount: Decimal | None
    #: the line's ``erpData`` members (billing-api.md §6.9 / §6.11)
    erp_data: dict[str, Any] = field(default_factory=dict)
    #: the line's other ``price`` members (amountIncludingVat, lineAmount, vatPercent, purchasePrice, …)
    price: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PostedDocumentData:
    doc_type: DocType
    document_no: str  # the posted No
    erp_id: str  # Pre_Assigned_No, else No
    external_document_no: str | None  # upper-cased statement id when the push made it
    pre_assigned_no: str | None
    document_date: datetime | None
    posting_date: datetime | None
    due_date: datetime | None  # invoices
    currency: str
    total_sp: Decimal  # Amount
    total_gt: Decimal  # Amount_Including_VAT
    #: the header's Remaining_Amount at first import; later balances come from ledger entries (erp_balance)
    balance_due: Decimal | None
    #: Row_Version (or None: a local counter is bumped on each change seen)
    row_version: int | None
    erp_modified_at: datetime | None
    #: ``erpData`` members that are not columns: addresses {billTo, licenseTo, sellTo, shipTo}, referenceNumber,
    #: payment, yourReference, and for credit memos externalDocumentNo, currencyCode, navisionCountryCode, …
    erp_data: dict[str, Any] = field(default_factory=dict)
    #: ``price`` members that are not columns: currencyFactor, currencyFactor2, totalPP, totalST, markup, margin
    price: dict[str, Any] = field(default_factory=dict)
    lines: tuple[PostedLineData, ...] = ()
    applies_to_doc_no: str | None = None  # credit memos
    #: for documents that link to no statement (POST, or imported unlinked): the seller they belong to
    seller_id: str | None = None


@dataclass
class UpsertResult:
    """What one upsert did: ``inserted``, ``updated``, ``unchanged`` (not newer), or ``skipped_unlinked``.

    ``duplicate``: the document's statement was already linked to another document, so it was imported unlinked
    (§4.5, counted as a duplicate); ``warning``: why a match was not linked, or which of two matches won."""

    outcome: str
    document_id: str | None = None
    statement_id: str | None = None
    duplicate: bool = False
    warning: str | None = None
