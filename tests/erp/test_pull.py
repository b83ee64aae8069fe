"""Acceptance: pull of posted documents and ledger entries from the real ERP simulator over SOAP
(erp-integration.md §4; scenarios §6.1 linking, §6.13 crash resume in part, §6.15, §6.16)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from billing.db.models import CreditMemo, ErpCursor, Invoice
from billing.erp.jobs import gauges
from billing.erp.pull import Puller
from billing.erp.push import Pusher
from billing.erp.settings import ErpSettings
from erp.factory import make_queued_statements
from erp.test_push import drive, statements_of

SIM = "http://erp-sim.test"


@pytest.fixture
def pull_settings(erp_settings: ErpSettings) -> ErpSettings:
    """No settle time: the simulator's clock is this host's, and tests read right after posting."""
    return erp_settings.model_copy(update={"pull": erp_settings.pull.model_copy(update={"settle_s": 0.0})})


@pytest.fixture
def posted(api, ops, db, demo_world, erp_settings, gateway, simulator) -> list[dict]:
    """Six statements (Debit and Credit) pushed, then posted by the ERP."""
    ids = make_queued_statements(db, 6, charges=(1, 4))
    drive(Pusher(db, erp_settings, gateway, "replica-1", slots=2))
    simulator.post_now()
    return list(statements_of(api, ops, [{"id": statement_id} for statement_id in ids]).values())


def pull_all(db, settings: ErpSettings, gateway) -> dict[str, dict[str, int]]:
    puller = Puller(db, settings, gateway)
    return {stream: puller.run(stream).actions for stream in ("posted_invoices", "posted_credit_memos")}


def fail_the_second_upsert(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make the pull's second page upsert raise (a failed page commit); returns the real upsert."""
    from billing.erp import pull as pull_module

    real = pull_module.upsert_page
    calls = {"n": 0}

    def failing_on_the_second_page(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("injected database failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(pull_module, "upsert_page", failing_on_the_second_page)
    return real


def posted_documents(sim_http, statement_id: str) -> list[dict[str, Any]]:
    params = {"external_document_no": statement_id.upper(), "lines": "1"}
    return [
        d
        for d in sim_http.get(f"{SIM}/_sim/documents", params=params).json()["documents"]
        if d["page"].startswith("Posted")
    ]


class TestPostedDocuments:
    def test_each_posted_document_links_to_its_statement_with_the_erp_values(
        self, api, ops, db, posted, pull_settings, gateway, sim_http
    ):
        actions = pull_all(db, pull_settings, gateway)
        debits = sum(1 for s in posted if s["type"] == "Debit")
        assert actions["posted_invoices"] == {"inserted": debits}
        assert actions["posted_credit_memos"] == {"inserted": len(posted) - debits}
        now = statements_of(api, ops, posted)
        with db.read_scope() as session:
            invoices = {i.statement_id: i for i in session.execute(select(Invoice)).scalars()}
            memos = {m.statement_id: m for m in session.execute(select(CreditMemo)).scalars()}
        for statement in posted:
            (erp,) = posted_documents(sim_http, statement["id"])
            document = invoices.get(statement["id"]) or memos.get(statement["id"])
            assert document is not None, statement["id"]
            assert document.document_no == erp["No"]
            assert document.erp_id == statement["externalIds"]["erpId"] == erp["Pre_Assigned_No"]
            assert document.total_sp == Decimal(erp["Amount"]) and document.total_gt == Decimal(
                erp["Amount_Including_VAT"]
            )
            assert document.client_id == statement["client"]["id"]
            linked = now[statement["id"]]
            key = "invoice" if statement["type"] == "Debit" else "creditMemo"
            assert linked[key]["id"] == document.id

    def test_a_second_run_changes_nothing_and_the_cursor_is_committed(self, db, posted, pull_settings, gateway):
        pull_all(db, pull_settings, gateway)
        again = pull_all(db, pull_settings, gateway)
        assert set(again["posted_invoices"]) <= {"unchanged"} and set(again["posted_credit_memos"]) <= {"unchanged"}
        with db.read_scope() as session:
            cursors = {c.stream: c for c in session.execute(select(ErpCursor)).scalars()}
        for stream in ("posted_invoices", "posted_credit_memos"):
            assert (
                cursors[stream].watermark and cursors[stream].run_lower is None and cursors[stream].run_bookmark is None
            )
        with db.read_scope() as session:
            lag = gauges(session, timedelta(days=7))[
                "pull_lag"
            ]  # billing_erp_pull_lag_seconds: settle 0, so seconds at most
        assert set(lag) == {"posted_invoices", "posted_credit_memos"} and all(0 <= s < 60 for s in lag.values())

    def test_a_run_that_fails_mid_way_resumes_from_its_checkpoint_and_imports_each_document_once(
        self, db, posted, pull_settings, gateway, monkeypatch
    ):
        from billing.erp import pull as pull_module

        small = pull_settings.model_copy(update={"pull": pull_settings.pull.model_copy(update={"page_size": 1})})
        real = fail_the_second_upsert(monkeypatch)
        with pytest.raises(RuntimeError):
            Puller(db, small, gateway).run("posted_invoices")
        with db.read_scope() as session:
            cursor = session.get(ErpCursor, "posted_invoices")
            assert cursor is not None and cursor.run_bookmark and cursor.run_pages == 1 and cursor.watermark is None
            assert session.execute(select(func.count()).select_from(Invoice)).scalar_one() == 1
        monkeypatch.setattr(pull_module, "upsert_page", real)
        stats = Puller(db, small, gateway).run("posted_invoices")
        assert stats.finished
        debits = sum(1 for s in posted if s["type"] == "Debit")
        with db.read_scope() as session:
            numbers = list(session.execute(select(Invoice.document_no)).scalars())
        assert len(numbers) == len(set(numbers)) == debits


class TestBalances:
    def test_a_payment_makes_the_invoice_paid_and_a_partial_one_leaves_the_rest_due(
        self, db, posted, pull_settings, gateway, simulator
    ):
        pull_all(db, pull_settings, gateway)
        with db.read_scope() as session:
            first, second = session.execute(select(Invoice).order_by(Invoice.document_no).limit(2)).scalars()
        simulator.pay(first.document_no)
        simulator.pay(second.document_no, (second.total_gt * Decimal("0.4")).quantize(Decimal("0.01")))
        Puller(db, pull_settings, gateway).run("ledger_entries")
        with db.read_scope() as session:
            paid = session.get(Invoice, first.id)
            partly = session.get(Invoice, second.id)
        assert paid is not None and paid.status == "Paid" and paid.balance_due == 0 and "paid" in paid.audit
        expected = second.total_gt - (second.total_gt * Decimal("0.4")).quantize(Decimal("0.01"))
        assert partly is not None and partly.status == "Issued" and partly.balance_due == expected


class TestOverlap:
    def test_a_document_modified_before_the_watermark_within_the_overlap_is_imported_by_the_next_run(
        self, db, demo_world, erp_settings, pull_settings, gateway, simulator
    ):
        """§6.14: posted with a SystemModifiedAt 200 s behind the watermark (overlap 300 s)."""
        make_queued_statements(db, 1, charges=(1, 2))
        drive(Pusher(db, erp_settings, gateway, "replica-1", slots=1))
        assert Puller(db, pull_settings, gateway).run("posted_invoices").actions == {}  # nothing posted yet
        simulator.advance_clock(seconds=-200)  # the ERP commits "late": its clock stamps an earlier time
        simulator.post_now()
        assert Puller(db, pull_settings, gateway).run("posted_invoices").actions == {"inserted": 1}


class TestPaymentsAndDueDates:
    def test_a_payment_leaves_the_posted_header_unchanged_and_the_invoice_becomes_paid(
        self, db, posted, pull_settings, gateway, simulator, sim_http
    ):
        """§6.15: the header's SystemModifiedAt does not move, so only the ledger stream can see the payment."""
        pull_all(db, pull_settings, gateway)
        with db.read_scope() as session:
            invoice = session.execute(select(Invoice).limit(1)).scalar_one()
        before = posted_header(sim_http, invoice.document_no)
        simulator.pay(invoice.document_no)
        assert posted_header(sim_http, invoice.document_no)["SystemModifiedAt"] == before["SystemModifiedAt"]
        assert set(pull_all(db, pull_settings, gateway)["posted_invoices"]) <= {"unchanged"}
        with db.read_scope() as session:
            assert session.get(Invoice, invoice.id).status == "Issued"  # type: ignore[union-attr]
        Puller(db, pull_settings, gateway).run("ledger_entries")
        with db.read_scope() as session:
            paid = session.get(Invoice, invoice.id)
        assert paid is not None and paid.status == "Paid" and paid.balance_due == 0

    def test_past_its_due_date_an_unpaid_invoice_becomes_overdue_at_the_next_mark(
        self, db, posted, pull_settings, gateway
    ):
        from datetime import timedelta

        from billing.kit.timeutil import utcnow
        from billing.posted_documents.lifecycle import mark_overdue

        pull_all(db, pull_settings, gateway)
        with db.read_scope() as session:
            invoice = session.execute(select(Invoice).where(Invoice.due_date.is_not(None)).limit(1)).scalar_one()
        assert invoice.status == "Issued"
        with db.session_scope() as session:
            assert mark_overdue(session, invoice.due_date - timedelta(days=1)) == 0
        with db.session_scope() as session:
            assert mark_overdue(session, max(invoice.due_date, utcnow()) + timedelta(days=1)) >= 1
        with db.read_scope() as session:
            overdue = session.get(Invoice, invoice.id)
        assert overdue is not None and overdue.status == "Overdue" and "overdue" in overdue.audit


def posted_header(sim_http, document_no: str) -> dict[str, Any]:
    documents = sim_http.get(f"{SIM}/_sim/documents", params={"page": "PostedSalesInvoice"}).json()["documents"]
    return next(d for d in documents if d["No"] == document_no)


class TestRefreshOpen:
    def test_a_credit_memo_the_erp_no_longer_has_becomes_deleted_and_stays_readable(
        self, api, ops, db, posted, pull_settings, gateway, simulator
    ):
        from billing.erp.jobs import open_document_numbers
        from billing.erp_sim.records import TABLES

        pull_all(db, pull_settings, gateway)
        invoices, memos = open_document_numbers(db)
        assert invoices and memos
        gone = memos[0]
        with simulator.store.write() as tx:
            tx.execute(f"DELETE FROM {TABLES['posted_sales_credit_memo'].name} WHERE No = ?", (gone,))
        stats = Puller(db, pull_settings, gateway).refresh_open(invoices, memos)
        assert stats.actions["deleted"] == 1
        with db.read_scope() as session:
            memo = session.execute(select(CreditMemo).where(CreditMemo.document_no == gone)).scalar_one()
            others = session.execute(select(CreditMemo.status).where(CreditMemo.document_no != gone)).scalars().all()
        assert memo.status == "Deleted" and "deleted" in memo.audit
        assert set(others) <= {"Issued", "Released"}
        response = api.get(f"/credit-memos/{memo.id}", headers=ops)
        assert response.status_code == 200 and response.json()["status"] == "Deleted"
        assert Puller(db, pull_settings, gateway).refresh_open(invoices, memos).actions["deleted"] == 0


class TestCreditMemos:
    def test_a_credit_memo_applied_to_an_invoice_shows_it_and_lowers_the_invoice_balance(
        self, api, ops, db, demo_world, erp_settings, pull_settings, gateway, simulator
    ):
        """§6.16: the credit memo's Applies_to_Doc_No is kept; its effect arrives through the ledger stream."""
        from billing.erp_sim.records import TABLES

        pusher = Pusher(db, erp_settings, gateway, "replica-1", slots=1)
        make_queued_statements(db, 1, charges=(2, 3))  # a Debit
        drive(pusher)
        simulator.post_now()
        Puller(db, pull_settings, gateway).run("posted_invoices")
        with db.read_scope() as session:
            invoice = session.execute(select(Invoice)).scalar_one()
        make_queued_statements(db, 2, charges=(1, 1), prefix=9100)  # a Debit and a Credit
        drive(pusher)
        with simulator.store.write() as tx:  # finance applies the credit memo to the first invoice (same customer)
            sell_to, bill_to = tx.execute(
                f"SELECT Sell_to_Customer_No, Bill_to_Customer_No FROM {TABLES['posted_sales_invoice'].name}"
            ).fetchone()
            tx.execute(
                f"UPDATE {TABLES['sales_credit_memo'].name} SET Applies_to_Doc_Type = 'Invoice', Applies_to_Doc_No = ?,"
                " Sell_to_Customer_No = ?, Bill_to_Customer_No = ?",
                (invoice.document_no, sell_to, bill_to),
            )
        simulator.post_now()
        puller = Puller(db, pull_settings, gateway)
        for stream in ("posted_invoices", "posted_credit_memos", "ledger_entries"):
            puller.run(stream)
        with db.read_scope() as session:
            memo = session.execute(select(CreditMemo)).scalar_one()
            after = session.get(Invoice, invoice.id)
        assert memo.applies_to_doc_no == invoice.document_no
        body = api.get(f"/credit-memos/{memo.id}", headers=ops).json()
        assert body["erpData"]["appliesToDocNo"] == invoice.document_no
        assert after is not None
        assert after.balance_due == invoice.total_gt - min(abs(memo.total_gt), invoice.total_gt) < invoice.total_gt
        served = api.get(f"/invoices/{invoice.id}", headers=ops).json()["erpData"]["balanceDue"]
        assert Decimal(str(served)) == after.balance_due


class TestRowVersionWatermark:
    def test_runs_read_versions_above_the_watermark_and_resume_from_the_checkpoint(
        self, db, posted, pull_settings, gateway, sim_http, monkeypatch
    ):
        """erp.pull.watermark_field = Row_Version (§4.2): the filter is Row_Version: {watermark+1}.., the watermark
        becomes the run's highest version; a failed page resumes from the checkpoint, each document imported once."""
        from billing.erp import pull as pull_module

        by_version = pull_settings.model_copy(
            update={"pull": pull_settings.pull.model_copy(update={"watermark_field": "Row_Version", "page_size": 1})}
        )
        real = fail_the_second_upsert(monkeypatch)
        with pytest.raises(RuntimeError):
            Puller(db, by_version, gateway).run("posted_invoices")
        with db.read_scope() as session:
            cursor = session.get(ErpCursor, "posted_invoices")
            assert cursor is not None and cursor.run_lower == "1" and cursor.run_pages == 1 and cursor.watermark is None
        monkeypatch.setattr(pull_module, "upsert_page", real)
        assert Puller(db, by_version, gateway).run("posted_invoices").finished
        erp_versions = [
            int(d["Row_Version"]) for s in posted if s["type"] == "Debit" for d in posted_documents(sim_http, s["id"])
        ]
        with db.read_scope() as session:
            numbers = list(session.execute(select(Invoice.document_no)).scalars())
            cursor = session.get(ErpCursor, "posted_invoices")
        assert len(numbers) == len(set(numbers)) == len(erp_versions)
        assert cursor is not None and cursor.watermark == str(max(erp_versions)) and cursor.run_lower is None
        again = Puller(db, by_version, gateway).run("posted_invoices")
        assert again.read == 0 and again.finished  # nothing above the watermark: not even a re-read


@pytest.mark.sqlite_only
def test_the_ledger_run_reads_its_watermark_without_writing(db, erp_settings) -> None:
    """The ledger run reads its watermark in a read-only scope: creating the cursor row there was a write that
    SQLite refuses at once ('database is locked') while another writer holds the lock (seen in the demo)."""
    import time

    from sqlalchemy import text

    from erp.fake_erp import FakeErp

    with db.engine.connect() as holder:  # another writer holds SQLite's write lock throughout
        holder.execute(text("INSERT INTO erp_cursor (stream, run_pages, updated_at) VALUES ('x', 0, '2026-01-01')"))
        started = time.monotonic()
        stats = Puller(db, erp_settings, FakeErp()).run("ledger_entries")  # the ERP has no entries: a read only
        assert stats.finished and time.monotonic() - started < 1
        holder.rollback()
    with db.read_scope() as session:
        assert session.execute(select(func.count()).select_from(ErpCursor)).scalar_one() == 0
