"""ReadMultiple (§1.3): filters ANDed across fields, criteria syntax, paging by bookmarkKey, primary-key order."""

from __future__ import annotations

from decimal import Decimal

import pytest
import zeep

from billing.erp import criteria

from .sim_kit import fault_of, invoice_with_lines, soap_post


def read(erp, service: str, *filters: tuple[str, str], set_size: int = 200, bookmark: str | None = None) -> list:  # type: ignore[no-untyped-def]
    return (
        erp(service).ReadMultiple(
            filter=[{"Field": field, "Criteria": text} for field, text in filters],
            bookmarkKey=bookmark,
            setSize=set_size,
        )
        or []
    )


@pytest.fixture
def five_invoices(erp) -> list:  # type: ignore[no-untyped-def]
    """SI-000001..5 with External_Document_No SOM-1..5 for C-DE, C-US, C-AR, C-DE, C-US; 1, 3 and 5 have lines."""
    customers = ["C-DE", "C-US", "C-AR", "C-DE", "C-US"]
    documents = []
    for index, customer in enumerate(customers, start=1):
        if index % 2:
            documents.append(invoice_with_lines(erp, customer=customer, external=f"SOM-{index}"))
        else:
            created = erp("SalesInvoice").Create(
                SalesInvoice={"Sell_to_Customer_No": customer, "External_Document_No": f"SOM-{index}"}
            )
            documents.append(created)
    return documents


class TestFilters:
    @pytest.mark.parametrize(
        ("filters", "numbers"),
        [
            ([("External_Document_No", criteria.equals("SOM-3"))], [3]),
            ([("External_Document_No", "som-3")], [3]),
            ([("External_Document_No", criteria.any_of(["SOM-1", "SOM-4", "NOPE"]))], [1, 4]),
            ([("No", criteria.between("SI-000002", "SI-000004"))], [2, 3, 4]),
            ([("No", criteria.at_least("SI-000004"))], [4, 5]),
            ([("No", criteria.at_most("SI-000002"))], [1, 2]),
            ([("No", ">SI-000003")], [4, 5]),
            ([("No", "<>SI-000003&<>SI-000001")], [2, 4, 5]),
            ([("Sell_to_Customer_No", "C-DE|C-AR")], [1, 3, 4]),
            ([("Sell_to_Customer_Name", "*oso*")], [1, 4]),
            ([("Sell_to_Customer_Name", "@*FABRIKAM*")], [2, 5]),
            ([("Sell_to_Customer_Name", "fabrikam inc")], []),
            ([("Your_Reference", "''")], [1, 2, 3, 4, 5]),
            ([("Your_Reference", "<>''")], []),
            ([("Amount", ">0")], [1, 3, 5]),
            ([("Amount", "0")], [2, 4]),
            ([("Amount_Including_VAT", "47.49")], [5]),  # C-US: no VAT on 47.49
            ([("Document_Date", "2025-05-01")], [1, 2, 3, 4, 5]),
            ([("Due_Date", "'2025-05-31'")], [1, 4]),
            ([("SystemModifiedAt", criteria.between("2025-05-01T00:00:00Z", "2025-05-01T00:00:01Z"))], [1, 2, 3, 4, 5]),
            ([("Status", "Open")], [1, 2, 3, 4, 5]),
            ([("Prices_Including_VAT", "false")], [1, 2, 3, 4, 5]),
            ([("Sell_to_Customer_No", "C-US"), ("Amount", ">0")], [5]),
            ([("Sell_to_Customer_No", "C-US"), ("Sell_to_Customer_No", "C-DE")], []),
            ([("No", "*")], [1, 2, 3, 4, 5]),
        ],
    )
    def test_filters(self, erp, five_invoices, filters, numbers) -> None:  # type: ignore[no-untyped-def]
        found = read(erp, "SalesInvoice", *filters)
        assert [document.No for document in found] == [f"SI-{n:06d}" for n in numbers]

    def test_documents_come_with_their_lines(self, erp, five_invoices) -> None:  # type: ignore[no-untyped-def]
        found = read(erp, "SalesInvoice", ("External_Document_No", "SOM-1|SOM-2"))
        assert [len(d.SalesLines.Sales_Invoice_Line) if d.SalesLines else 0 for d in found] == [2, 0]
        assert found[0].Key == five_invoices[0].Key

    def test_a_bad_filter_is_a_filter_fault(self, erp, five_invoices) -> None:  # type: ignore[no-untyped-def]
        with pytest.raises(zeep.exceptions.Fault) as raised:
            read(erp, "SalesInvoice", ("Amount", "lots"))
        assert str(raised.value.code).endswith(".NavFilterException")
        assert "not a valid Decimal" in raised.value.message
        with pytest.raises(zeep.exceptions.Fault) as raised:
            read(erp, "SalesInvoice", ("No", "'open"))
        assert str(raised.value.code).endswith(".NavFilterException")

    def test_an_unknown_field_is_a_client_fault(self, session, five_invoices) -> None:  # type: ignore[no-untyped-def]
        inner = "<filter><Field>Nope</Field><Criteria>x</Criteria></filter><setSize>10</setSize>"
        response = soap_post(session, "SalesInvoice", "ReadMultiple", inner)
        assert response.status_code == 500
        assert fault_of(response) == ("s:Client", "'Nope' is not a valid value for SalesInvoice_Fields.")


class TestPaging:
    def test_pages_follow_the_bookmark_in_primary_key_order_until_an_empty_page(self, erp, five_invoices) -> None:  # type: ignore[no-untyped-def]
        seen, bookmark, pages = [], None, 0
        while True:
            page = read(erp, "SalesInvoice", ("No", "*"), set_size=2, bookmark=bookmark)
            if not page:
                break
            pages += 1
            seen += [document.No for document in page]
            bookmark = page[-1].Key
        assert pages == 3 and seen == [f"SI-{n:06d}" for n in range(1, 6)]

    def test_a_bookmark_stays_valid_when_its_record_is_gone(self, erp, five_invoices) -> None:  # type: ignore[no-untyped-def]
        first = read(erp, "SalesInvoice", ("No", "*"), set_size=2)
        erp("SalesInvoice").Delete(Key=first[-1].Key)
        rest = read(erp, "SalesInvoice", ("No", "*"), set_size=10, bookmark=first[-1].Key)
        assert [d.No for d in rest] == ["SI-000003", "SI-000004", "SI-000005"]

    def test_a_foreign_bookmark_is_refused(self, erp, five_invoices) -> None:  # type: ignore[no-untyped-def]
        customer_key = erp("Customer").Read(No="C-DE").Key
        with pytest.raises(zeep.exceptions.Fault) as raised:
            read(erp, "SalesInvoice", ("No", "*"), bookmark=customer_key)
        assert str(raised.value.code).endswith(".NavFilterException")
        assert "bookmark" in raised.value.message

    def test_set_size_zero_returns_everything(self, erp, five_invoices) -> None:  # type: ignore[no-untyped-def]
        assert len(read(erp, "SalesInvoice", ("No", "*"), set_size=0)) == 5


class TestPostedAndLedger:
    def test_posted_filters_by_pre_assigned_no_and_computed_balance(self, erp, sim, five_invoices) -> None:  # type: ignore[no-untyped-def]
        sim.post_now()
        assert read(erp, "SalesInvoice", ("No", "*"))[0].No == "SI-000002"  # header-only documents stay unposted
        posted = read(erp, "PostedSalesInvoice", ("Pre_Assigned_No", criteria.equals("SI-000003")))
        assert [(d.No, d.External_Document_No) for d in posted] == [("PSI-000002", "SOM-3")]
        sim.pay("PSI-000002")
        closed = read(erp, "PostedSalesInvoice", ("Closed", "true"))
        assert [d.No for d in closed] == ["PSI-000002"] and closed[0].Remaining_Amount == 0
        open_ = read(erp, "PostedSalesInvoice", ("Remaining_Amount", ">0"))
        assert [d.No for d in open_] == ["PSI-000001", "PSI-000003"]
        lines = open_[0].SalesInvLines.Posted_Sales_Invoice_Line
        assert [(line.Document_No, line.Line_No) for line in lines] == [("PSI-000001", 10000), ("PSI-000001", 20000)]

    def test_ledger_entries_by_entry_number_range_and_document(self, erp, sim, five_invoices) -> None:  # type: ignore[no-untyped-def]
        sim.post_now()
        sim.pay("PSI-000001", Decimal("10"))
        entries = read(erp, "CustomerLedgerEntries", ("Entry_No", criteria.at_least(2)), set_size=2)
        assert [e.Entry_No for e in entries] == [2, 3]
        payments = read(erp, "CustomerLedgerEntries", ("Document_Type", "Payment"))
        assert [(p.Applies_to_Doc_No, p.Amount) for p in payments] == [("PSI-000001", Decimal("-10"))]
        invoices = read(
            erp, "CustomerLedgerEntries", ("Document_Type", "Invoice"), ("Document_No", criteria.any_of(["PSI-000001"]))
        )
        assert invoices[0].Remaining_Amount == Decimal("46.52") and invoices[0].Open is True
