"""The two kinds of posted ERP document (billing-api.md §6.8–6.11): what differs between invoices and credit
memos, declared once so the upsert, the repository and the API serve both from the same code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from billing.db.models import CreditMemo, CreditMemoLine, Invoice, InvoiceLine
from billing.posted_documents.data import DocType


@dataclass(frozen=True)
class DocKind:
    doc_type: DocType
    label: str  # "Invoice"
    line_label: str  # "Invoice line"
    model: Any  # Invoice | CreditMemo
    line_model: Any  # InvoiceLine | CreditMemoLine
    line_parent: str  # the line's parent column: "invoice_id"
    prefix: str  # INV
    line_prefix: str  # INL
    statement_type: str  # Debit | Credit
    statement_field: str  # Statement.invoice_id | credit_memo_id
    total_field: str  # invoice_total | credit_memo_total
    parent_ref: str  # the line sub-resource's parent reference: "invoice" | "creditMemo"

    def line_parent_column(self) -> Any:
        return getattr(self.line_model, self.line_parent)


INVOICE = DocKind(
    doc_type="invoice",
    label="Invoice",
    line_label="Invoice line",
    model=Invoice,
    line_model=InvoiceLine,
    line_parent="invoice_id",
    prefix="INV",
    line_prefix="INL",
    statement_type="Debit",
    statement_field="invoice_id",
    total_field="invoice_total",
    parent_ref="invoice",
)
CREDIT_MEMO = DocKind(
    doc_type="credit_memo",
    label="Credit memo",
    line_label="Credit memo line",
    model=CreditMemo,
    line_model=CreditMemoLine,
    line_parent="credit_memo_id",
    prefix="CRD",
    line_prefix="CRL",
    statement_type="Credit",
    statement_field="credit_memo_id",
    total_field="credit_memo_total",
    parent_ref="creditMemo",
)
KINDS: dict[str, DocKind] = {INVOICE.doc_type: INVOICE, CREDIT_MEMO.doc_type: CREDIT_MEMO}
