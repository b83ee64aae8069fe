"""Posting, ledger entries, applications and payments on the simulated clock (§2.3), driven by tick()."""

from __future__ import annotations

import time
from datetime import date, datetime
from decimal import Decimal

import pytest
import zeep
from zeep.transports import Transport

from billing.erp import criteria
from billing.erp_sim.app import ErpSimulator
from billing.erp_sim.posting import PaymentError

from .sim_kit import invoice_with_lines, seed, settings_for


def read(erp, service: str, field: str, text: str) -> list:  # type: ignore[no-untyped-def]
    return erp(service).ReadMultiple(filter=[{"Field": field, "Criteria": text}], setSize=100) or []


class TestPostingRun:
    def test_a_document_posts_after_the_delay_without_changes(self, erp, sim, admin) -> None:  # type: ignore[no-untyped-def]
        document = invoice_with_lines(erp)
        erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"})  # header only: never posted
        assert sim.tick().posted == []
        sim.advance_clock(seconds=59)
        assert sim.tick().posted == []
        sim.advance_clock(seconds=1)
        result = sim.tick()
        assert result.posted == [{"page": "SalesInvoice", "preAssignedNo": "SI-000001", "no": "PSI-000001"}]
        assert erp("SalesInvoice").Read(No=document.No) is None
        assert [d.No for d in read(erp, "SalesInvoice", "No", "*")] == ["SI-000002"]
        assert admin("GET", "stats")["documents"] == {
            "SalesInvoice": 1,
            "SalesCreditMemo": 0,
            "PostedSalesInvoice": 1,
            "PostedSalesCreditMemo": 0,
        }

    def test_a_change_restarts_the_delay(self, erp, sim) -> None:  # type: ignore[no-untyped-def]
        document = invoice_with_lines(erp)
        sim.advance_clock(seconds=50)
        erp("SalesInvoice").Update(SalesInvoice={"Key": document.Key, "Your_Reference": "x"})
        sim.advance_clock(seconds=50)
        assert sim.tick().posted == []
        sim.advance_clock(seconds=10)
        assert len(sim.tick().posted) == 1

    def test_posted_document_copies_header_and_lines_and_appends_a_ledger_entry(self, erp, sim) -> None:  # type: ignore[no-untyped-def]
        document = invoice_with_lines(erp, Your_Reference="ref-1")
        sim.advance_clock(days=2)
        sim.post_now()
        posted = erp("PostedSalesInvoice").Read(No="PSI-000001")
        for name in ("Sell_to_Customer_No", "Bill_to_Name", "External_Document_No", "Your_Reference", "Due_Date",
                     "Payment_Terms_Code", "Currency_Code", "Amount", "Amount_Including_VAT", "Document_Date"):  # fmt: skip
            assert getattr(posted, name) == getattr(document, name), name
        assert (posted.Pre_Assigned_No, posted.Cust_Ledger_Entry_No, posted.Status) == ("SI-000001", 1, "Released")
        assert posted.SystemModifiedAt == datetime.fromisoformat("2025-05-03T00:00:00+00:00")
        assert posted.Row_Version > document.Row_Version
        assert (posted.Remaining_Amount, posted.Closed) == (Decimal("56.52"), False)
        lines = posted.SalesInvLines.Posted_Sales_Invoice_Line
        original = document.SalesLines.Sales_Invoice_Line
        assert [(l.Line_No, l.No, l.Amount, l.VAT_Percent, l.Document_No) for l in lines] == [
            (o.Line_No, o.No, o.Amount, o.VAT_Percent, "PSI-000001") for o in original
        ]
        entry = erp("CustomerLedgerEntries").Read(Entry_No=1)
        assert (entry.Customer_No, entry.Document_Type, entry.Document_No, entry.External_Document_No) == (
            "C-DE",
            "Invoice",
            "PSI-000001",
            "SOM-1",
        )
        assert (entry.Amount, entry.Original_Amount, entry.Remaining_Amount, entry.Open) == (
            Decimal("56.52"),
            Decimal("56.52"),
            Decimal("56.52"),
            True,
        )
        assert (entry.Due_Date, entry.Posting_Date, entry.Description) == (
            date(2025, 5, 31),
            date(2025, 5, 1),
            "Invoice SI-000001",
        )

    def test_failure_probability_and_disabled_posting_leave_documents_unposted(self, erp, sim, admin) -> None:  # type: ignore[no-untyped-def]
        invoice_with_lines(erp)
        sim.advance_clock(days=1)
        admin("PATCH", "posting", json={"failure_probability": 1})
        assert sim.tick().failed == ["SI-000001"]
        admin("PATCH", "posting", json={"failure_probability": 0, "enabled": False})
        assert sim.tick().posted == []
        admin("PATCH", "posting", json={"enabled": None})
        assert len(sim.tick().posted) == 1

    def test_post_now_ignores_the_delay(self, erp, sim, admin) -> None:  # type: ignore[no-untyped-def]
        invoice_with_lines(erp)
        result = admin("POST", "post-now")
        assert [p["no"] for p in result["posted"]] == ["PSI-000001"]

    def test_credit_memo_posts_negative_and_is_applied_to_its_invoice(self, erp, sim) -> None:  # type: ignore[no-untyped-def]
        invoice_with_lines(erp)
        sim.post_now()
        memo = erp("SalesCreditMemo").Create(
            SalesCreditMemo={
                "Sell_to_Customer_No": "C-DE",
                "Applies_to_Doc_No": "PSI-000001",
                "External_Document_No": "SOM-9",
            }
        )
        lines = {"Sales_Cr_Memo_Line": [{"Type": "Item", "No": "SKU-1", "Quantity": 1}]}
        erp("SalesCreditMemo").Update(SalesCreditMemo={"Key": memo.Key, "SalesLines": lines})
        assert sim.post_now().posted == [
            {"page": "SalesCreditMemo", "preAssignedNo": "SCM-000001", "no": "PSCM-000001"}
        ]
        posted = erp("PostedSalesCreditMemo").Read(No="PSCM-000001")
        assert (posted.Applies_to_Doc_No, posted.Amount_Including_VAT) == ("PSI-000001", Decimal("14.88"))
        assert (posted.Remaining_Amount, posted.Closed) == (Decimal(0), True)
        entries = read(erp, "CustomerLedgerEntries", "Entry_No", "1..")
        invoice, credit = entries
        assert (credit.Document_Type, credit.Amount, credit.Remaining_Amount, credit.Open) == (
            "Credit_Memo",
            Decimal("-14.88"),
            Decimal(0),
            False,
        )
        assert (credit.Applies_to_Doc_Type, credit.Closed_by_Entry_No) == ("Invoice", invoice.Entry_No)
        assert (invoice.Remaining_Amount, invoice.Open) == (Decimal("41.64"), True)
        assert erp("PostedSalesInvoice").Read(No="PSI-000001").Remaining_Amount == Decimal("41.64")


def test_the_background_scheduler_posts_and_pays(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = settings_for(
        tmp_path / "background.sqlite",
        posting={"interval_s": 0.02, "delay_s": 0},
        payments={"share_paid": 1, "days_to_pay": [0, 0], "partial_share": 0},
    )
    sim = ErpSimulator(settings)
    try:
        seed(sim)
        transport = Transport(session=sim.session())
        zeep_settings = zeep.Settings(strict=True, forbid_external=True, xml_huge_tree=False)

        def erp(name: str):  # type: ignore[no-untyped-def]
            return zeep.Client(f"{sim.base_url()}/Page/{name}", transport=transport, settings=zeep_settings).service

        invoice_with_lines(erp)
        sim.start_background()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            posted = erp("PostedSalesInvoice").Read(No="PSI-000001")
            if posted is not None and posted.Closed:
                break
            time.sleep(0.02)
        assert posted is not None and posted.Closed is True
    finally:
        sim.close()


class TestPayments:
    def test_a_payment_closes_the_invoice_without_touching_its_header(self, erp, sim, admin) -> None:  # type: ignore[no-untyped-def]
        invoice_with_lines(erp)
        sim.post_now()
        before = erp("PostedSalesInvoice").Read(No="PSI-000001")
        sim.advance_clock(days=3)
        partial = admin("POST", "payments", json={"documentNo": "PSI-000001", "amount": "22.61"})
        assert partial == {"documentNo": "PSI-000001", "paymentNo": "PAY-000001", "amount": "22.61"}
        middle = erp("PostedSalesInvoice").Read(No="PSI-000001")
        assert (middle.Remaining_Amount, middle.Closed) == (Decimal("33.91"), False)
        assert (middle.SystemModifiedAt, middle.Row_Version, middle.Key) == (
            before.SystemModifiedAt,
            before.Row_Version,
            before.Key,
        )
        admin("POST", "payments", json={"documentNo": "SI-000001"})  # by its pre-assigned number; the rest
        after = erp("PostedSalesInvoice").Read(No="PSI-000001")
        assert (after.Remaining_Amount, after.Closed, after.Row_Version) == (Decimal(0), True, before.Row_Version)
        payments = read(erp, "CustomerLedgerEntries", "Document_Type", "Payment")
        assert [(p.Document_No, p.Amount, p.Applies_to_Doc_No, p.Posting_Date) for p in payments] == [
            ("PAY-000001", Decimal("-22.61"), "PSI-000001", date(2025, 5, 4)),
            ("PAY-000002", Decimal("-33.91"), "PSI-000001", date(2025, 5, 4)),
        ]
        invoice = read(erp, "CustomerLedgerEntries", "Document_No", criteria.equals("PSI-000001"))[0]
        assert (invoice.Open, invoice.Closed_by_Entry_No) == (False, payments[1].Entry_No)

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ({"documentNo": "PSI-999999"}, 404),
            ({"documentNo": "PSI-000001", "amount": "0"}, 422),
            ({"documentNo": "PSI-000001", "amount": "1000"}, 422),
            ({"documentNo": "PSI-000001", "amount": "x"}, 400),
            ({}, 400),
        ],
    )
    def test_refused_payments(self, erp, sim, session, body, status) -> None:  # type: ignore[no-untyped-def]
        invoice_with_lines(erp)
        sim.post_now()
        assert session.post("http://erp-sim.test/_sim/payments", json=body).status_code == status

    def test_closed_invoice_cannot_be_paid_again(self, erp, sim) -> None:  # type: ignore[no-untyped-def]
        invoice_with_lines(erp)
        sim.post_now()
        sim.pay("PSI-000001")
        with pytest.raises(PaymentError, match="already closed"):
            sim.pay("PSI-000001")

    def test_planned_payments_arrive_as_the_clock_moves(self, erp, sim, admin) -> None:  # type: ignore[no-untyped-def]
        admin("PATCH", "payments", json={"share_paid": 1, "partial_share": 1, "days_to_pay": [10, 20]})
        invoice_with_lines(erp)
        sim.post_now()
        assert sim.tick().payments == []
        sim.advance_clock(days=10)
        sim.advance_clock(seconds=-1)
        assert sim.tick().payments == []
        sim.advance_clock(days=10, seconds=1)
        payments = sim.tick().payments
        assert len(payments) == 2  # two instalments, the second one paying the rest
        assert sum(Decimal(p["amount"]) for p in payments) == Decimal("56.52")
        assert erp("PostedSalesInvoice").Read(No="PSI-000001").Closed is True
        assert sim.tick().payments == []

    def test_payments_are_deterministic_per_document_and_seed(self, erp, sim, admin) -> None:  # type: ignore[no-untyped-def]
        admin("PATCH", "payments", json={"share_paid": 0.5, "partial_share": 0.5})
        for index in range(6):
            invoice_with_lines(erp, external=f"SOM-{index}")
        sim.post_now()
        sim.advance_clock(days=46)
        first = sorted(p["documentNo"] for p in sim.tick().payments)
        admin("POST", "reset", json={})
        admin("PATCH", "payments", json={"share_paid": 0.5, "partial_share": 0.5})
        for index in range(6):
            invoice_with_lines(erp, external=f"SOM-{index}")
        sim.post_now()
        sim.advance_clock(days=46)
        assert sorted(p["documentNo"] for p in sim.tick().payments) == first
