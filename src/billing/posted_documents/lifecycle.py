"""Invoice and credit memo statuses (billing-api.md §7.5, §7.6; erp-integration.md §4.4).

Statuses are not driven by actions but recomputed from the document: an invoice is **Paid** when its balance is
0, **Overdue** when the balance is positive and today (UTC) is after its due date, else **Issued** (so a
reversed payment moves Paid back); a credit memo is **Released** when fully applied, else **Issued**. Each
change records the audit event named after the new status; ``Deleted`` (a credit memo gone from the ERP) stays.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from billing.auth.principal import SYSTEM_ACTOR
from billing.kit.audit import event_name, with_events
from billing.kit.timeutil import utcnow
from billing.posted_documents.kinds import KINDS, DocKind
from billing.posted_documents.repository import PostedDocumentRepository

INVOICE_STATUSES = ("Issued", "Paid", "Overdue")
CREDIT_MEMO_STATUSES = ("Issued", "Released", "Deleted")
OVERDUE_BATCH = 500


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def target_status(kind: DocKind, balance: Decimal | None, due_date: datetime | None, today: date) -> str:
    """The status the document should have; an unknown balance is not a settled one."""
    if kind.doc_type == "credit_memo":
        return "Released" if balance is not None and balance == 0 else "Issued"
    if balance is not None and balance == 0:
        return "Paid"
    if balance is not None and balance > 0 and due_date is not None and due_date < midnight(today):
        return "Overdue"
    return "Issued"


def evaluate(document: Any, kind: DocKind, *, actor: Mapping[str, Any], at: datetime) -> bool:
    """Recompute the document's status at ``at``; records the audit event and returns True when it changed."""
    if document.status == "Deleted":
        return False
    due = getattr(document, "due_date", None)
    status = target_status(kind, document.balance_due, due, at.date())
    if status == document.status:
        return False
    document.status = status
    document.audit = with_events(document.audit, [event_name(status)], actor, at)
    document.updated_at = at
    return True


def apply_balance(session: Session, doc_type: str, document_no: str, remaining: Decimal, now: datetime) -> str | None:
    """A new balance observation (the pull's ledger stream, after storing it in ``erp_balance``): set the
    imported document's ``balanceDue`` and re-evaluate its status. Returns its status, None when the document is
    not imported (yet: the upsert reads ``erp_balance`` when it arrives)."""
    kind = KINDS[doc_type]
    document = PostedDocumentRepository(session).by_document_no(kind, document_no, for_update=True)
    if document is None:
        return None
    if document.balance_due is None or document.balance_due != remaining:
        document.balance_due = remaining
        document.audit = with_events(document.audit, [], SYSTEM_ACTOR, now)
        document.updated_at = now
    evaluate(document, kind, actor=SYSTEM_ACTOR, at=now)
    return str(document.status)


def mark_overdue(session: Session, today: date, now: datetime | None = None) -> int:
    """``invoices.mark_overdue``: Issued invoices with an open balance past their due date become Overdue (no
    ERP calls). Candidates come from the (status, due_date) index in batches; each change records ``overdue``."""
    at = now or utcnow()
    repository = PostedDocumentRepository(session)
    changed = 0
    while True:
        due = repository.due_invoices(midnight(today), limit=OVERDUE_BATCH)
        for invoice in due:
            invoice.status = "Overdue"
            invoice.audit = with_events(invoice.audit, ["overdue"], SYSTEM_ACTOR, at)
            invoice.updated_at = at
        session.flush()
        changed += len(due)
        if len(due) < OVERDUE_BATCH:
            return changed


def mark_deleted(session: Session, doc_type: str, document_nos: Iterable[str], now: datetime) -> int:
    """Documents the ERP no longer has (the periodic re-read, §4.4): Deleted, still readable (audit ``deleted``)."""
    kind = KINDS[doc_type]
    repository = PostedDocumentRepository(session)
    changed = 0
    for document_no in document_nos:
        document = repository.by_document_no(kind, document_no, for_update=True)
        if document is None or document.status == "Deleted":
            continue
        document.status = "Deleted"
        document.audit = with_events(document.audit, ["deleted"], SYSTEM_ACTOR, now)
        document.updated_at = now
        changed += 1
    return changed
