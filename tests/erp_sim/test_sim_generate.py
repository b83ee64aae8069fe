"""Bulk posted documents (`billing.erp_sim.generate`, ``POST /_sim/generate``, ``billing erp-sim generate``):
what ReadMultiple serves is what posting would have left, the ledger and payments work on them, and later
documents and postings continue the number series."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner
from zeep.helpers import serialize_object

from billing.cli import app
from billing.erp import criteria
from billing.erp_sim.app import ErpSimulator
from billing.erp_sim.generate import generate_posted_invoices
from billing.erp_sim.records import rounded

from .sim_kit import START, invoice_with_lines, seed, settings_for

VAT = {"C-DE": Decimal(19), "C-US": Decimal(0), "C-AR": Decimal(21), "C-SHIP": Decimal(20)}  # by Bill-to country
TERMS_DAYS = {"C-DE": 30, "C-US": 0, "C-AR": 0, "C-SHIP": 0}
START_AT = datetime.fromisoformat(START.replace("Z", "+00:00"))


def read_all(erp, service: str, *filters: tuple[str, str], set_size: int = 7) -> list:  # type: ignore[no-untyped-def]
    """Every record ReadMultiple serves, page by page (bookmarks)."""
    found, bookmark = [], None
    while True:
        page = (
            erp(service).ReadMultiple(
                filter=[{"Field": field, "Criteria": text} for field, text in filters],
                bookmarkKey=bookmark,
                setSize=set_size,
            )
            or []
        )
        if not page:
            return found
        found += page
        bookmark = page[-1].Key


def lines_of(document: Any) -> list:
    holder = document.SalesInvLines if hasattr(document, "SalesInvLines") else document.SalesCrMemoLines
    if holder is None:
        return []
    return holder.Posted_Sales_Invoice_Line if hasattr(document, "SalesInvLines") else holder.Posted_Sales_Cr_Memo_Line


def plain(record: Any, *without: str) -> dict[str, Any]:
    data = dict(serialize_object(record))
    return {name: value for name, value in data.items() if name not in without and not name.startswith("Sales")}


class TestGeneratedDocuments:
    def test_counts_numbers_and_summary(self, sim, admin) -> None:  # type: ignore[no-untyped-def]
        result = admin("POST", "generate", json={"invoices": 30, "creditMemos": 5, "lines": [1, 4], "seed": 3})
        assert (result["invoices"], result["creditMemos"], result["ledgerEntries"]) == (30, 5, 35)
        assert result["numbers"] == {
            "PostedSalesInvoice": ["PSI-000001", "PSI-000030"],
            "PostedSalesCreditMemo": ["PSCM-000001", "PSCM-000005"],
        }
        assert 35 <= result["lines"] <= 140 and result["customers"] == 4  # C-BLOCKED may not be invoiced
        stats = admin("GET", "stats")
        assert stats["documents"] == {
            "SalesInvoice": 0,
            "SalesCreditMemo": 0,
            "PostedSalesInvoice": 30,
            "PostedSalesCreditMemo": 5,
        }
        assert stats["ledgerEntries"] == 35
        with sim.store.read() as tx:
            lines = sum(
                tx.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("posted_sales_invoice_line", "posted_sales_credit_memo_line")
            )
        assert lines == result["lines"]

    def test_read_multiple_serves_them_with_lines_and_consistent_amounts(self, sim, erp) -> None:  # type: ignore[no-untyped-def]
        generate_posted_invoices(sim.store, sim.context(), 40, lines=(1, 6), seed=7, credit_memos=4)
        invoices = read_all(erp, "PostedSalesInvoice", ("No", "*"))
        memos = read_all(erp, "PostedSalesCreditMemo", ("No", "*"))
        assert [d.No for d in invoices] == [f"PSI-{n:06d}" for n in range(1, 41)]
        assert [d.No for d in memos] == [f"PSCM-{n:06d}" for n in range(1, 5)]
        pre_assigned = sorted(d.Pre_Assigned_No for d in invoices)
        assert pre_assigned == [f"SI-{n:06d}" for n in range(1, 41)]
        assert sorted(d.Pre_Assigned_No for d in memos) == [f"SCM-{n:06d}" for n in range(1, 5)]
        for document in invoices + memos:
            lines = lines_of(document)
            assert 1 <= len(lines) <= 6
            assert [line.Line_No for line in lines] == [10000 * (k + 1) for k in range(len(lines))]
            vat = VAT[document.Bill_to_Customer_No]
            for line in lines:
                gross = rounded(line.Quantity * line.Unit_Price, 2)
                assert line.Line_Amount == line.Amount == gross - line.Line_Discount_Amount
                assert line.VAT_Percent == vat
                assert line.Amount_Including_VAT == line.Amount + rounded(line.Amount * vat / 100, 2)
                assert (line.Document_No, line.Type) == (document.No, "Item")
                assert line.Row_Version > document.Row_Version
            assert document.Amount == sum(line.Amount for line in lines)
            assert document.Amount_Including_VAT == sum(line.Amount_Including_VAT for line in lines)
            assert document.Sell_to_Customer_No == document.Bill_to_Customer_No
            assert document.Document_Date == document.Posting_Date == date(2025, 5, 1)
            assert document.Due_Date == date(2025, 5, 1) + timedelta(days=TERMS_DAYS[document.Bill_to_Customer_No])
            assert document.SystemModifiedAt == START_AT
            assert (document.Status, document.External_Document_No, document.Closed) == ("Released", None, False)
        assert all(d.Remaining_Amount == d.Amount_Including_VAT for d in invoices + memos)  # memos: shown positive
        entries = {e.Entry_No: e for e in read_all(erp, "CustomerLedgerEntries", ("Entry_No", ">0"), set_size=100)}
        assert len(entries) == 44
        for document, sign, kind in [(d, 1, "Invoice") for d in invoices] + [(d, -1, "Credit_Memo") for d in memos]:
            entry = entries[document.Cust_Ledger_Entry_No]
            assert (entry.Document_Type, entry.Document_No, entry.Customer_No, entry.Open) == (
                kind,
                document.No,
                document.Bill_to_Customer_No,
                True,
            )
            assert (
                entry.Amount == entry.Original_Amount == entry.Remaining_Amount == sign * document.Amount_Including_VAT
            )
            assert entry.Due_Date == document.Due_Date and entry.Posting_Date == document.Posting_Date
        versions = [d.Row_Version for d in sorted(invoices + memos, key=lambda d: d.Cust_Ledger_Entry_No)]
        assert versions == sorted(versions) and len(set(versions)) == len(versions)

    def test_a_generated_document_equals_the_same_document_created_and_posted(self, sim, erp) -> None:  # type: ignore[no-untyped-def]
        generate_posted_invoices(
            sim.store, sim.context(), 1, lines=(4, 4), customers=["C-DE"], seed=11, external_document_nos=["som-9"]
        )
        generated = erp("PostedSalesInvoice").Read(No="PSI-000001")
        lines = lines_of(generated)
        assert generated.External_Document_No == "SOM-9"
        created = erp("SalesInvoice").Create(
            SalesInvoice={"Sell_to_Customer_No": "C-DE", "External_Document_No": "SOM-9"}
        )
        given = [
            {
                "Line_No": line.Line_No,
                "Type": line.Type,
                "No": line.No,
                "Quantity": line.Quantity,
                "Unit_Price": line.Unit_Price,
                "Line_Discount_Amount": line.Line_Discount_Amount,
            }
            for line in lines
        ]
        erp("SalesInvoice").Update(SalesInvoice={"Key": created.Key, "SalesLines": {"Sales_Invoice_Line": given}})
        assert created.No == "SI-000002"  # the generated document took SI-000001
        assert sim.post_now().posted == [{"page": "SalesInvoice", "preAssignedNo": "SI-000002", "no": "PSI-000002"}]
        posted = erp("PostedSalesInvoice").Read(No="PSI-000002")
        ignored = ("Key", "No", "Pre_Assigned_No", "Cust_Ledger_Entry_No", "Row_Version")
        assert plain(posted, *ignored) == plain(generated, *ignored)
        assert [plain(line, "Key", "Document_No", "Row_Version") for line in lines_of(posted)] == [
            plain(line, "Key", "Document_No", "Row_Version") for line in lines
        ]
        entries = [erp("CustomerLedgerEntries").Read(Entry_No=n) for n in (1, 2)]
        assert [e.Description for e in entries] == ["Invoice SI-000001", "Invoice SI-000002"]
        assert plain(entries[0], "Key", "Entry_No", "Document_No", "Description") == plain(
            entries[1], "Key", "Entry_No", "Document_No", "Description"
        )

    def test_external_document_numbers_and_a_time_range(self, sim, erp, admin) -> None:  # type: ignore[no-untyped-def]
        admin(
            "POST",
            "generate",
            json={
                "invoices": 5,
                "creditMemos": 1,
                "externalDocumentNos": ["som-1", "SOM-2"],
                "creditMemoExternalDocumentNos": ["crd-1"],
                "modifiedBetween": ["2025-04-01T00:00:00Z", None],
                "customers": ["c-us"],
            },
        )
        invoices = read_all(erp, "PostedSalesInvoice", ("No", "*"))
        assert [d.External_Document_No for d in invoices] == ["SOM-1", "SOM-2", None, None, None]
        assert {d.Bill_to_Customer_No for d in invoices} == {"C-US"}
        (memo,) = read_all(erp, "PostedSalesCreditMemo", ("No", "*"))
        assert memo.External_Document_No == "CRD-1"
        moments = [d.SystemModifiedAt for d in sorted([*invoices, memo], key=lambda d: d.Row_Version)]
        assert moments[0] == datetime.fromisoformat("2025-04-01T00:00:00+00:00") and moments[-1] == START_AT
        assert moments == sorted(moments) and len(set(moments)) == 6
        assert invoices[0].Document_Date == date(2025, 4, 1) and invoices[0].Due_Date == date(2025, 4, 1)  # COD
        in_window = read_all(erp, "PostedSalesInvoice", ("SystemModifiedAt", criteria.at_most(moments[2])))
        assert [d.No for d in in_window] == ["PSI-000001", "PSI-000002", "PSI-000003"]


class TestLaterActivity:
    def test_payment_closes_a_generated_invoice(self, sim, erp) -> None:  # type: ignore[no-untyped-def]
        generate_posted_invoices(sim.store, sim.context(), 3, lines=(2, 2))
        invoice = erp("PostedSalesInvoice").Read(No="PSI-000002")
        half = rounded(invoice.Amount_Including_VAT / 2, 2)
        payment = sim.pay("PSI-000002", half)
        assert payment["paymentNo"] == "PAY-000001"
        assert erp("PostedSalesInvoice").Read(No="PSI-000002").Remaining_Amount == invoice.Amount_Including_VAT - half
        sim.pay(invoice.Pre_Assigned_No)
        paid = erp("PostedSalesInvoice").Read(No="PSI-000002")
        assert (paid.Remaining_Amount, paid.Closed, paid.Row_Version) == (0, True, invoice.Row_Version)
        entry = erp("CustomerLedgerEntries").Read(Entry_No=invoice.Cust_Ledger_Entry_No)
        assert (entry.Open, entry.Remaining_Amount, entry.Closed_by_Entry_No) == (False, 0, 5)

    def test_numbers_continue_after_generation(self, sim, erp, admin) -> None:  # type: ignore[no-untyped-def]
        generate_posted_invoices(sim.store, sim.context(), 10, credit_memos=2, lines=(1, 3))
        newest = max(d.Row_Version for d in read_all(erp, "PostedSalesInvoice", ("No", "*"), set_size=50))
        document = invoice_with_lines(erp, external="SOM-REAL")
        assert document.No == "SI-000011" and document.Row_Version > newest
        memo = erp("SalesCreditMemo").Create(SalesCreditMemo={"Sell_to_Customer_No": "C-DE"})
        assert memo.No == "SCM-000003"
        result = sim.post_now()
        assert result.posted == [{"page": "SalesInvoice", "preAssignedNo": "SI-000011", "no": "PSI-000011"}]
        posted = erp("PostedSalesInvoice").Read(No="PSI-000011")
        assert (posted.External_Document_No, posted.Cust_Ledger_Entry_No) == ("SOM-REAL", 13)
        again = admin("POST", "generate", json={"invoices": 1, "creditMemos": 1, "lines": [1, 1]})
        assert again["numbers"] == {
            "PostedSalesInvoice": ["PSI-000012", "PSI-000012"],
            "PostedSalesCreditMemo": ["PSCM-000003", "PSCM-000003"],
        }
        assert erp("PostedSalesInvoice").Read(No="PSI-000012").Pre_Assigned_No == "SI-000012"

    def test_planned_payments_are_made_as_for_posted_invoices(self, sim, admin, erp) -> None:  # type: ignore[no-untyped-def]
        admin("PATCH", "payments", json={"share_paid": 1, "partial_share": 0, "days_to_pay": [1, 2]})
        result = admin("POST", "generate", json={"invoices": 6, "payments": True, "creditMemos": 1})
        assert result["paymentPlans"] == 6
        assert sim.tick().payments == []
        sim.advance_clock(days=2)
        assert len(sim.tick().payments) == 6
        invoices = read_all(erp, "PostedSalesInvoice", ("No", "*"))
        assert all(d.Closed and d.Remaining_Amount == 0 for d in invoices)
        assert not read_all(erp, "PostedSalesCreditMemo", ("Closed", "true"))


class TestRequests:
    @pytest.mark.parametrize(
        ("body", "status", "message"),
        [
            ({"invoices": "many"}, 400, "must be integers"),
            ({"invoices": 1, "lines": [1]}, 400, "lines must be"),
            ({"invoices": 1, "lines": [3, 2]}, 422, "lines must be"),
            ({"invoices": 1, "lines": [1, 5000]}, 422, "lines must be"),
            ({"invoices": -1}, 422, "must not be negative"),
            ({"invoices": 1, "customers": ["NOPE"]}, 422, "(NOPE) that cannot be found"),
            ({"invoices": 1, "customers": ["C-BLOCKED"]}, 422, "is blocked"),
            ({"invoices": 1, "customers": "C-DE"}, 400, "customers must be"),
            ({"invoices": 1, "externalDocumentNos": ["X" * 36]}, 422, "less than or equal to 35"),
            ({"invoices": 1, "modifiedBetween": ["2025-01-01"]}, 400, "modifiedBetween must be"),
            ({"invoices": 1, "modifiedBetween": ["2025-01-01", None]}, 422, "timezone"),
            ({"invoices": 1, "modifiedBetween": ["2025-06-01T00:00:00Z", None]}, 422, "from <= to"),
            ({"invoices": 1, "pages": 3}, 400, "Unknown fields: pages"),
        ],
    )
    def test_bad_requests_change_nothing(self, sim, session, body, status, message) -> None:  # type: ignore[no-untyped-def]
        response = session.post("http://erp-sim.test/_sim/generate", json=body)
        assert response.status_code == status, response.text
        assert message in response.json()["error"]
        with sim.store.read() as tx:
            assert tx.execute("SELECT COUNT(*) FROM posted_sales_invoice").fetchone()[0] == 0
            assert tx.execute("SELECT COUNT(*) FROM number_series").fetchone()[0] == 0

    def test_without_customers_there_is_nothing_to_invoice(self, sim, session) -> None:  # type: ignore[no-untyped-def]
        session.post("http://erp-sim.test/_sim/reset", json={"master_data": True})
        response = session.post("http://erp-sim.test/_sim/generate", json={"invoices": 1})
        assert response.status_code == 422 and "no customer to invoice" in response.json()["error"]

    def test_without_items_lines_are_g_l_account_lines(self, sim, erp) -> None:  # type: ignore[no-untyped-def]
        with sim.store.write() as tx:
            tx.execute("DELETE FROM item")
        generate_posted_invoices(sim.store, sim.context(), 1, lines=(2, 2), customers=["C-AR"])
        lines = lines_of(erp("PostedSalesInvoice").Read(No="PSI-000001"))
        assert {(line.Type, line.No, line.VAT_Percent) for line in lines} == {("G_L_Account", "6110", Decimal(21))}
        assert all(line.Amount > 0 for line in lines)


def test_the_cli_generates_into_a_state_file_and_a_running_simulator(tmp_path: Path) -> None:
    path = tmp_path / "cli.sqlite"
    sim = ErpSimulator(settings_for(path))
    seed(sim)
    sim.close()
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["erp-sim", "generate", "--invoices", "25", "--credit-memos", "2", "--lines", "2-3", "--db", str(path)],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "PostedSalesInvoice PSI-000001 … PSI-000025" in result.output
    assert "Generated 25 posted invoice(s) and 2 credit memo(s)" in result.output
    sim = ErpSimulator(settings_for(path))
    server = sim.serve_in_thread()
    try:
        arguments = ["--invoices", "3", "--lines", "1", "--customer", "C-DE", "--modified-from", "2025-04-01"]
        result = runner.invoke(
            app, ["erp-sim", "generate", *arguments, "--url", server.root_url], env={"COLUMNS": "200"}
        )
        assert result.exit_code == 0, result.output
        assert "PSI-000026 … PSI-000028" in result.output and "with 3 lines" in result.output
        bad = runner.invoke(app, ["erp-sim", "generate", "--invoices", "1", "--lines", "a-b", "--db", str(path)])
        assert bad.exit_code == 2 and "MIN-MAX" in bad.output
    finally:
        server.stop()
        sim.close()


def test_twenty_thousand_invoices_generate_in_seconds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The speed the pull benchmarks need (§7 P3/P4): printed, not asserted."""
    sim = ErpSimulator(settings_for(tmp_path / "big.sqlite"))
    try:
        seed(sim)
        started = time.perf_counter()
        summary = generate_posted_invoices(sim.store, sim.context(), 20_000, lines=(1, 20), seed=1)
        elapsed = time.perf_counter() - started
        with sim.store.read() as tx:
            assert tx.execute("SELECT COUNT(*) FROM posted_sales_invoice").fetchone()[0] == 20_000
            assert tx.execute("SELECT COUNT(*) FROM posted_sales_invoice_line").fetchone()[0] == summary.lines
            assert tx.execute("SELECT COUNT(*) FROM customer_ledger_entries WHERE Open = 1").fetchone()[0] == 20_000
        with capsys.disabled():
            print(f"\n20,000 posted invoices with {summary.lines:,} lines generated in {elapsed:.2f} s")
    finally:
        sim.close()
