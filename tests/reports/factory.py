"""Statements and posted documents for the reconciliation report, inserted directly (documents through the
one upsert, which links them to their statement as the ERP pull does)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy import update

from billing.db.engine import Database
from billing.db.models import CreditMemo, Statement
from billing.kit.audit import created, with_events
from billing.kit.timeutil import utcnow
from billing.posted_documents.data import DocType
from invoices.factory import CLIENT_AGREEMENT, line, posted, upsert

ACTOR = {"id": "USR-0000-0000", "name": "tests", "icon": ""}


def make_statement(
    db: Database,
    statement_id: str,
    *,
    type: str = "Debit",
    total: str = "100",
    status: str = "Queued",
    erp_id: str | None = None,
    queued_at: datetime | None = datetime(2025, 6, 1, 12),
    issued_at: datetime | None = None,
) -> str:
    now = utcnow()
    audit = created(ACTOR, now)
    if issued_at is not None:
        audit = with_events(audit, ["issued"], ACTOR, issued_at)
    with db.session_scope() as session:
        session.add(
            Statement(
                id=statement_id,
                name=f"Statement {statement_id}",
                type=type,
                billing_type="Automated",
                status=status,
                external_erp_id=erp_id,
                currency_purchase="USD",
                currency_sale="USD",
                total_pp=Decimal(total) * Decimal("0.8"),
                total_sp=Decimal(total),
                processing={},
                audit=audit,
                created_at=now,
                updated_at=now,
                queued_at=queued_at,
                **CLIENT_AGREEMENT,
            )
        )
    return statement_id


def post_document(
    db: Database,
    document_no: str,
    *,
    doc_type: DocType = "invoice",
    statement_id: str | None = None,
    amounts: tuple[str, ...] = ("50", "50"),
    posting_date: datetime | None = None,
) -> str:
    """A posted document whose net total is the sum of ``amounts`` (one line each), linked to ``statement_id``
    (by External_Document_No) or imported unlinked."""
    total = sum((Decimal(amount) for amount in amounts), Decimal(0))
    data = posted(
        doc_type,
        document_no,
        external=statement_id,
        pre_assigned=f"PRE-{document_no}",
        total=str(total),
        lines=tuple(line(number, amount=amount) for number, amount in enumerate(amounts, start=1)),
    )
    if posting_date is not None:
        data = replace(data, posting_date=posting_date)
    result = upsert(db, data, import_unlinked=statement_id is None)
    assert result.document_id is not None, result
    if statement_id is not None:
        assert result.statement_id == statement_id, result
    return result.document_id


def delete_credit_memo(db: Database, document_id: str) -> None:
    """What the periodic re-read does to a credit memo the ERP no longer has (erp-integration.md §4.4)."""
    with db.session_scope() as session:
        session.execute(update(CreditMemo).where(CreditMemo.id == document_id).values(status="Deleted"))
