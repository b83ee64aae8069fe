"""The posted-document upsert (erp-integration.md §4.2, §4.5; billing-api.md §10.3, §12.1) and the statuses it
derives (§7.5, §7.6, erp-integration.md §4.4)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from billing.db.models import ErpOutbox, Invoice, InvoiceLine, Statement
from billing.kit.timeutil import utcnow
from billing.posted_documents.lifecycle import apply_balance, mark_overdue
from invoices.factory import CLIENT_AGREEMENT, line, make_statement, observe_balance, posted, upsert

INVOICE_ID = re.compile(r"^INV-\d{4}-\d{4}-\d{4}-\d{4}$")


def _invoice(db, document_no: str = "US-SIN-1001") -> Invoice:
    with db.session_scope() as session:
        return session.execute(select(Invoice).where(Invoice.document_no == document_no)).scalar_one()


def _lines(db, invoice_id: str) -> dict[int, str]:
    with db.session_scope() as session:
        rows = session.execute(select(InvoiceLine.line_no, InvoiceLine.id).where(InvoiceLine.invoice_id == invoice_id))
        return dict(rows.all())


def _statement(db, statement_id: str) -> Statement:
    with db.session_scope() as session:
        statement = session.get(Statement, statement_id)
        assert statement is not None
        return statement


def _count(db) -> int:
    with db.session_scope() as session:
        return session.execute(select(func.count()).select_from(Invoice)).scalar_one()


class TestInsertUpdate:
    def test_unlinked_document_is_skipped_without_writing(self, db):
        result = upsert(db, posted())
        assert result.outcome == "skipped_unlinked"
        assert _count(db) == 0

    def test_unlinked_document_is_imported_when_configured(self, db):
        result = upsert(db, posted(), import_unlinked=True)
        assert result.outcome == "inserted" and INVOICE_ID.match(result.document_id)
        invoice = _invoice(db)
        assert (invoice.billing_type, invoice.client_id, invoice.statement_id) == ("Manual", None, None)
        assert invoice.status == "Issued" and set(invoice.audit) >= {"created", "issued", "updated"}
        digits = result.document_id[4:]
        assert _lines(db, invoice.id) == {1: f"INL-{digits}-0001", 2: f"INL-{digits}-0002"}

    def test_same_row_version_is_unchanged(self, db):
        upsert(db, posted(), import_unlinked=True)
        before = _invoice(db)
        result = upsert(db, posted(balance="0"), import_unlinked=True)
        assert result.outcome == "unchanged"
        after = _invoice(db)
        assert after.updated_at == before.updated_at and after.balance_due == Decimal(100)

    def test_newer_row_version_updates_and_lines_keep_their_ids(self, db):
        inserted = upsert(db, posted(), import_unlinked=True)
        ids = _lines(db, inserted.document_id)
        changed = posted(row_version=2, lines=(line(3), line(1, amount="60")), total="110")
        result = upsert(db, changed, import_unlinked=True)
        assert result.outcome == "updated"
        lines = _lines(db, inserted.document_id)
        digits = inserted.document_id[4:]
        assert lines == {1: ids[1], 3: f"INL-{digits}-0003"}  # line 2 removed, its ordinal never reused
        invoice = _invoice(db)
        assert invoice.total_sp == Decimal(110) and invoice.row_version == 2
        # a line coming back later gets a new ordinal
        upsert(db, posted(row_version=3), import_unlinked=True)
        assert _lines(db, inserted.document_id) == {1: ids[1], 2: f"INL-{digits}-0004"}

    def test_without_row_version_a_content_change_bumps_the_local_counter(self, db):
        upsert(db, posted(row_version=None), import_unlinked=True)
        assert _invoice(db).row_version == 1
        assert upsert(db, posted(row_version=None), import_unlinked=True).outcome == "unchanged"
        result = upsert(db, posted(row_version=None, total="120"), import_unlinked=True)
        assert result.outcome == "updated"
        assert _invoice(db).row_version == 2

    def test_without_row_version_modification_time_decides(self, db):
        first = datetime(2025, 5, 2, 8)
        upsert(db, posted(row_version=None, modified=first), import_unlinked=True)
        stale = posted(row_version=None, modified=first, total="999")
        assert upsert(db, stale, import_unlinked=True).outcome == "unchanged"
        newer = posted(row_version=None, modified=first + timedelta(hours=1), total="120")
        assert upsert(db, newer, import_unlinked=True).outcome == "updated"
        assert _invoice(db).total_sp == Decimal(120)


class TestLinking:
    def test_external_document_no_links_case_insensitively(self, db):
        statement_id = make_statement(db, outbox_no="US-PSI-1")
        result = upsert(db, posted(external=statement_id.lower()))
        assert result.outcome == "inserted" and result.statement_id == statement_id
        invoice = _invoice(db)
        assert invoice.statement_id == statement_id and invoice.billing_type == "Automated"
        assert {name: getattr(invoice, name) for name in CLIENT_AGREEMENT} == CLIENT_AGREEMENT
        statement = _statement(db, statement_id)
        assert statement.invoice_id == invoice.id and statement.status == "Issued"
        assert (statement.total_st, statement.total_gt) == (Decimal(10), Decimal(110))
        assert "issued" in statement.audit and statement.external_erp_id == "US-PSI-1"
        with db.session_scope() as session:
            row = session.execute(select(ErpOutbox).where(ErpOutbox.statement_id == statement_id)).scalar_one()
            assert (row.state, row.resolution) == ("done", "found")

    @pytest.mark.parametrize(
        ("lease_left", "state"), [(timedelta(minutes=5), "pending"), (-timedelta(seconds=1), "done")]
    )
    def test_an_outbox_row_held_by_a_replica_is_left_to_its_fenced_finish(self, db, lease_left, state):
        statement_id = make_statement(db, outbox_no="US-PSI-1")
        with db.session_scope() as session:
            row = session.execute(select(ErpOutbox).where(ErpOutbox.statement_id == statement_id)).scalar_one()
            row.lease_owner, row.lease_token, row.lease_until = "r1", "t1", utcnow() + lease_left
        assert upsert(db, posted(external=statement_id)).statement_id == statement_id
        assert _statement(db, statement_id).status == "Issued"
        with db.session_scope() as session:
            row = session.execute(select(ErpOutbox).where(ErpOutbox.statement_id == statement_id)).scalar_one()
            assert (row.state, row.erp_document_no) == (state, "US-PSI-1")
            assert row.resolution == ("found" if state == "done" else None)

    def test_outbox_number_links_the_pre_assigned_document(self, db):
        statement_id = make_statement(db, outbox_no="US-PSI-7")
        result = upsert(db, posted(pre_assigned="US-PSI-7"))
        assert result.statement_id == statement_id

    def test_statement_erp_id_links_after_mark_as_sent(self, db):
        statement_id = make_statement(db, status="Issued", erp_id="US-SIN-1001")
        assert upsert(db, posted()).statement_id == statement_id
        assert _statement(db, statement_id).status == "Issued"

    def test_type_mismatch_is_not_linked(self, db):
        statement_id = make_statement(db, type="Credit")
        result = upsert(db, posted(external=statement_id))
        assert result.outcome == "skipped_unlinked" and result.warning
        assert _statement(db, statement_id).invoice_id is None

    def test_second_document_for_a_linked_statement_is_a_duplicate_imported_unlinked(self, db):
        statement_id = make_statement(db)
        first = upsert(db, posted(external=statement_id))
        second = upsert(db, posted(document_no="US-SIN-1002", external=statement_id))
        assert second.outcome == "inserted" and second.duplicate and second.statement_id is None
        assert _statement(db, statement_id).invoice_id == first.document_id
        assert _invoice(db, "US-SIN-1002").client_id is None

    def test_external_document_no_wins_over_the_erp_number(self, db):
        named = make_statement(db)
        other = make_statement(db, "SOM-1111-3333-5010-9701-4062", outbox_no="US-PSI-9")
        result = upsert(db, posted(external=named, pre_assigned="US-PSI-9"))
        assert result.statement_id == named and result.warning and other in result.warning

    def test_unlinked_document_links_when_updated_later(self, db):
        upsert(db, posted(pre_assigned="US-PSI-5"), import_unlinked=True)
        statement_id = make_statement(db, outbox_no="US-PSI-5")
        result = upsert(db, posted(pre_assigned="US-PSI-5", row_version=2), import_unlinked=True)
        assert result.statement_id == statement_id
        assert _statement(db, statement_id).status == "Issued"


class TestInvoiceStatus:
    def test_zero_balance_is_paid(self, db):
        upsert(db, posted(balance="0"), import_unlinked=True)
        invoice = _invoice(db)
        assert invoice.status == "Paid" and {"issued", "paid"} <= set(invoice.audit)

    def test_ledger_entry_observation_wins_over_the_header(self, db):
        observe_balance(db, "invoice", "US-SIN-1001", "0")
        upsert(db, posted(balance="100"), import_unlinked=True)
        assert _invoice(db).status == "Paid" and _invoice(db).balance_due == 0

    def test_past_due_with_balance_is_overdue(self, db):
        upsert(db, posted(due=datetime(2020, 1, 31)), import_unlinked=True)
        invoice = _invoice(db)
        assert invoice.status == "Overdue" and "overdue" in invoice.audit

    def test_payment_and_reversed_payment(self, db):
        upsert(db, posted(due=datetime(2020, 1, 31)), import_unlinked=True)
        now = utcnow()
        with db.session_scope() as session:
            assert apply_balance(session, "invoice", "US-SIN-1001", Decimal(0), now) == "Paid"
        with db.session_scope() as session:
            assert apply_balance(session, "invoice", "US-SIN-1001", Decimal(25), now) == "Overdue"
        invoice = _invoice(db)
        assert invoice.balance_due == Decimal(25) and {"paid", "overdue"} <= set(invoice.audit)

    def test_reversed_payment_before_the_due_date_is_issued_again(self, db):
        upsert(db, posted(balance="0"), import_unlinked=True)
        with db.session_scope() as session:
            assert apply_balance(session, "invoice", "US-SIN-1001", Decimal(5), utcnow()) == "Issued"

    def test_balance_of_a_document_not_imported_is_ignored(self, db):
        with db.session_scope() as session:
            assert apply_balance(session, "invoice", "US-SIN-4040", Decimal(0), utcnow()) is None

    def test_mark_overdue(self, db):
        then = datetime(2025, 6, 15)
        upsert(db, posted(due=datetime(2025, 6, 30)), import_unlinked=True, now=then)
        paid = posted(document_no="US-SIN-1002", due=datetime(2025, 6, 30), balance="0")
        upsert(db, paid, import_unlinked=True, now=then)
        upsert(db, posted(document_no="US-SIN-1003", due=datetime(2025, 7, 1)), import_unlinked=True, now=then)
        assert _invoice(db).status == "Issued"
        with db.session_scope() as session:
            assert mark_overdue(session, date(2025, 7, 1)) == 1
        with db.session_scope() as session:
            assert mark_overdue(session, date(2025, 7, 1)) == 0
        assert _invoice(db).status == "Overdue"
        assert [_invoice(db, no).status for no in ("US-SIN-1002", "US-SIN-1003")] == ["Paid", "Issued"]

    def test_statement_link_does_not_change_with_unchanged_content(self, db):
        statement_id = make_statement(db)
        upsert(db, posted(external=statement_id))
        result = upsert(db, replace(posted(external=statement_id), row_version=1))
        assert result.outcome == "unchanged"
