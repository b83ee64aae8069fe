"""Credit memos through the shared upsert: ids, linking to Credit statements, Released (§7.6)."""

from __future__ import annotations

import re
from decimal import Decimal

from sqlalchemy import select

from billing.db.models import CreditMemo, CreditMemoLine, Statement
from billing.kit.timeutil import utcnow
from billing.posted_documents.lifecycle import apply_balance
from invoices.factory import make_statement, posted, upsert

CREDIT_MEMO_ID = re.compile(r"^CRD-\d{4}-\d{4}-\d{4}-\d{4}$")


def _credit_memo(db, document_no: str = "US-SCM-1") -> CreditMemo:
    with db.session_scope() as session:
        return session.execute(select(CreditMemo).where(CreditMemo.document_no == document_no)).scalar_one()


def test_links_to_a_credit_statement_with_crl_line_ids(db):
    statement_id = make_statement(db, type="Credit")
    result = upsert(db, posted("credit_memo", "US-SCM-1", external=statement_id, balance="-110"))
    assert result.outcome == "inserted" and CREDIT_MEMO_ID.match(result.document_id)
    with db.session_scope() as session:
        statement = session.get(Statement, statement_id)
        assert statement.credit_memo_id == result.document_id and statement.status == "Issued"
        lines = session.execute(select(CreditMemoLine.id).order_by(CreditMemoLine.line_no)).scalars().all()
    assert lines == [f"CRL-{result.document_id[4:]}-0001", f"CRL-{result.document_id[4:]}-0002"]
    assert _credit_memo(db).status == "Issued"


def test_debit_statement_is_not_linked(db):
    statement_id = make_statement(db, type="Debit")
    assert upsert(db, posted("credit_memo", "US-SCM-1", external=statement_id)).outcome == "skipped_unlinked"


def test_fully_applied_is_released(db):
    upsert(db, posted("credit_memo", "US-SCM-1", balance="-110"), import_unlinked=True)
    with db.session_scope() as session:
        assert apply_balance(session, "credit_memo", "US-SCM-1", Decimal(0), utcnow()) == "Released"
    credit_memo = _credit_memo(db)
    assert credit_memo.status == "Released" and "released" in credit_memo.audit


def test_applied_to_an_imported_invoice_is_imported_with_its_client(db):
    statement_id = make_statement(db)
    upsert(db, posted(external=statement_id))
    result = upsert(db, posted("credit_memo", "US-SCM-1", applies_to="US-SIN-1001"))
    assert result.outcome == "inserted" and result.statement_id is None
    credit_memo = _credit_memo(db)
    assert credit_memo.client_id == "ACC-8119-0187" and credit_memo.billing_type == "Manual"


def test_applied_to_an_unknown_invoice_is_skipped(db):
    assert upsert(db, posted("credit_memo", "US-SCM-1", applies_to="US-SIN-9")).outcome == "skipped_unlinked"
