"""Every operation of every page through zeep (strict, in-process): Keys, line semantics and the ERP's rules."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
import zeep

from .sim_kit import fault_of, invoice_with_lines, soap_post


def fault(call, *args, **kwargs) -> zeep.exceptions.Fault:  # type: ignore[no-untyped-def]
    with pytest.raises(zeep.exceptions.Fault) as raised:
        call(*args, **kwargs)
    return raised.value


def kind(error: zeep.exceptions.Fault) -> str:
    return str(error.code).rsplit(".", 1)[-1]


class TestSalesInvoiceCreate:
    def test_create_numbers_and_defaults_from_the_customer(self, erp) -> None:
        created = erp("SalesInvoice").Create(
            SalesInvoice={"Sell_to_Customer_No": "c-de", "External_Document_No": "som-1", "Currency_Code": "EUR"}
        )
        assert created.No == "SI-000001"
        assert created.Key.startswith("36;") and created.Key.endswith(";")
        assert created.Sell_to_Customer_No == "C-DE"  # Code fields are upper-cased
        assert created.Bill_to_Customer_No == "C-DE"
        assert created.External_Document_No == "SOM-1"
        assert (created.Sell_to_Customer_Name, created.Bill_to_Name, created.Ship_to_Name) == ("Contoso GmbH",) * 3
        assert (created.Sell_to_City, created.Bill_to_Post_Code, created.Ship_to_Address) == (
            "Berlin",
            "10115",
            "Hauptstr. 1",
        )
        assert (created.Sell_to_Contact_No, created.Sell_to_E_Mail, created.Sell_to_Phone_No) == (
            "CT-1",
            "billing@contoso.example",
            "+49 30 1",
        )
        assert (created.Payment_Terms_Code, created.Payment_Method_Code) == ("30DAYS", "BANK")
        assert created.Document_Date == created.Posting_Date == date(2025, 5, 1)
        assert created.Due_Date == date(2025, 5, 31)
        assert created.Currency_Factor == Decimal("0.92")
        assert created.Status == "Open" and created.Amount == 0 and created.Amount_Including_VAT == 0
        assert created.SystemModifiedAt == datetime.fromisoformat("2025-05-01T00:00:00+00:00")
        assert created.Row_Version > 0
        assert created.Prices_Including_VAT is False
        assert created.SalesLines is None
        assert created.Your_Reference is None  # empty text is omitted, as NAV does

    def test_explicit_fields_win_over_customer_defaults(self, erp) -> None:
        created = erp("SalesInvoice").Create(
            SalesInvoice={
                "Sell_to_Customer_No": "C-DE",
                "Bill_to_Customer_No": "C-US",
                "Document_Date": date(2025, 4, 20),
                "Payment_Terms_Code": "14DAYS",
                "Currency_Code": "",
                "Your_Reference": "ref",
            }
        )
        assert created.Bill_to_Name == "Fabrikam Inc" and created.Sell_to_Customer_Name == "Contoso GmbH"
        assert created.Currency_Code is None and created.Currency_Factor == 0  # LCY: blank code, factor 0
        assert created.Due_Date == date(2025, 5, 4)
        assert created.Posting_Date == date(2025, 5, 1)
        assert created.Your_Reference == "ref"

    def test_number_series_continue(self, erp) -> None:
        numbers = [erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"}).No for _ in range(3)]
        assert numbers == ["SI-000001", "SI-000002", "SI-000003"]
        assert erp("SalesCreditMemo").Create(SalesCreditMemo={"Sell_to_Customer_No": "C-DE"}).No == "SCM-000001"

    def test_unknown_customer_is_a_table_relation_fault(self, erp, admin) -> None:
        error = fault(erp("SalesInvoice").Create, SalesInvoice={"Sell_to_Customer_No": "AR-SCU-999999"})
        assert str(error.code) == "a:Microsoft.Dynamics.Nav.Types.Exceptions.NavCSideValidateTableRelationException"
        assert error.message == (
            "The field Sell-to Customer No. of table Sales Header contains a value (AR-SCU-999999) that cannot be "
            "found in the related table (Customer)."
        )
        assert admin("GET", "documents")["documents"] == []

    def test_blocked_customer_is_a_dialog_fault(self, erp) -> None:
        error = fault(erp("SalesInvoice").Create, SalesInvoice={"Sell_to_Customer_No": "C-BLOCKED"})
        assert kind(error) == "NavNCLDialogException"
        assert "Customer C-BLOCKED is blocked with type Invoice" in error.message
        bill_to = fault(
            erp("SalesInvoice").Create,
            SalesInvoice={"Sell_to_Customer_No": "C-DE", "Bill_to_Customer_No": "C-BLOCKED"},
        )
        assert kind(bill_to) == "NavNCLDialogException"
        assert erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-SHIP"}).No  # Ship only: fine

    def test_too_long_field_is_a_string_length_fault(self, erp) -> None:
        error = fault(
            erp("SalesInvoice").Create, SalesInvoice={"Sell_to_Customer_No": "C-DE", "External_Document_No": "X" * 36}
        )
        assert kind(error) == "NavNCLStringLengthExceededException"
        assert error.message.startswith("The length of the string is 36, but it must be less than or equal to 35")

    def test_unknown_payment_terms(self, erp) -> None:
        error = fault(
            erp("SalesInvoice").Create, SalesInvoice={"Sell_to_Customer_No": "C-DE", "Payment_Terms_Code": "X"}
        )
        assert kind(error) == "NavCSideValidateTableRelationException" and "(Payment Terms)" in error.message

    def test_unique_external_document_no_when_asked(self, erp, admin) -> None:
        invoice = erp("SalesInvoice")
        invoice.Create(SalesInvoice={"Sell_to_Customer_No": "C-DE", "External_Document_No": "SOM-1"})
        assert invoice.Create(SalesInvoice={"Sell_to_Customer_No": "C-DE", "External_Document_No": "SOM-1"}).No
        admin("PATCH", "validation", json={"unique_external_document_no": True})
        error = fault(invoice.Create, SalesInvoice={"Sell_to_Customer_No": "C-DE", "External_Document_No": "SOM-1"})
        assert kind(error) == "NavNCLDialogException" and "SOM-1 already exists" in error.message

    def test_a_given_number_is_kept_and_must_be_new(self, erp) -> None:
        assert erp("SalesInvoice").Create(SalesInvoice={"No": "MANUAL-1", "Sell_to_Customer_No": "C-DE"}).No == (
            "MANUAL-1"
        )
        error = fault(erp("SalesInvoice").Create, SalesInvoice={"No": "MANUAL-1", "Sell_to_Customer_No": "C-DE"})
        assert kind(error) == "NavCSideDuplicateKeyException"


class TestLines:
    def test_update_inserts_lines_and_recomputes_amounts_with_vat_by_bill_to_country(self, erp) -> None:
        document = invoice_with_lines(erp)
        first, second = document.SalesLines.Sales_Invoice_Line
        assert (first.Line_No, first.Description, first.Unit_Price, first.Unit_of_Measure_Code) == (
            10000,
            "Standard seat",
            Decimal("12.5"),
            "PCS",
        )
        assert (first.Unit_of_Measure, first.Line_Amount, first.Amount, first.VAT_Percent) == (
            "Piece",
            Decimal("37.5"),
            Decimal("37.5"),
            Decimal(19),
        )
        assert first.Amount_Including_VAT == Decimal("44.63")  # 37.5 × 1.19 = 44.625, half away from zero
        assert first.VAT_Base_Amount == Decimal("37.5") and first.VAT_Calculation_Type == "Normal_VAT"
        assert second.Amount_Including_VAT == Decimal("11.89")
        assert document.Amount == Decimal("47.49") and document.Amount_Including_VAT == Decimal("56.52")
        assert first.Key.startswith("37;") and first.Row_Version > 0

    def test_vat_follows_the_bill_to_country_and_prices_including_vat(self, erp) -> None:
        us = invoice_with_lines(erp, customer="C-US")
        assert us.Amount == us.Amount_Including_VAT == Decimal("47.49")
        unknown_country = invoice_with_lines(erp, customer="C-SHIP")
        assert unknown_country.SalesLines.Sales_Invoice_Line[0].VAT_Percent == 20  # GB: 20
        gross = invoice_with_lines(erp, customer="C-AR", Prices_Including_VAT=True)
        line = gross.SalesLines.Sales_Invoice_Line[0]
        assert (line.Amount_Including_VAT, line.Amount) == (Decimal("37.5"), Decimal("30.99"))

    def test_line_with_key_changes_that_line_and_omitted_fields_keep_their_values(self, erp) -> None:
        document = invoice_with_lines(erp)
        first = document.SalesLines.Sales_Invoice_Line[0]
        updated = erp("SalesInvoice").Update(
            SalesInvoice={
                "Key": document.Key,
                "SalesLines": {"Sales_Invoice_Line": [{"Key": first.Key, "Quantity": 4, "Contract_No": "cco-1"}]},
            }
        )
        line = updated.SalesLines.Sales_Invoice_Line[0]
        assert (line.Quantity, line.Unit_Price, line.Description, line.Contract_No) == (
            Decimal(4),
            Decimal("12.5"),
            "Standard seat",
            "CCO-1",
        )
        assert line.Key != first.Key
        assert updated.SalesLines.Sales_Invoice_Line[1].Key == document.SalesLines.Sales_Invoice_Line[1].Key
        assert updated.Amount == Decimal("59.99")

    def test_blanking_needs_an_explicit_empty_value(self, erp) -> None:
        document = erp("SalesInvoice").Create(
            SalesInvoice={"Sell_to_Customer_No": "C-DE", "Your_Reference": "keep", "External_Document_No": "X"}
        )
        updated = erp("SalesInvoice").Update(SalesInvoice={"Key": document.Key, "Your_Reference": ""})
        assert updated.Your_Reference is None and updated.External_Document_No == "X"

    def test_line_number_defaults_after_the_last(self, erp) -> None:
        document = invoice_with_lines(erp)
        updated = erp("SalesInvoice").Update(
            SalesInvoice={"Key": document.Key, "SalesLines": {"Sales_Invoice_Line": [{"Type": "Item", "No": "SKU-2"}]}}
        )
        assert [line.Line_No for line in updated.SalesLines.Sales_Invoice_Line] == [10000, 20000, 30000]

    def test_line_fields_and_extension_fields_round_trip(self, erp) -> None:
        document = erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-US"})
        line = {
            "Line_No": 10000,
            "Type": "Item",
            "No": "UNKNOWN-ITEM",
            "Description": "D" * 100,
            "Description_2": "second",
            "Quantity": Decimal("2.123456"),
            "Unit_of_Measure_Code": "month",
            "Unit_Price": Decimal("-10.000004"),
            "Line_Discount_Amount": Decimal("1"),
            "Period_Start": date(2025, 4, 1),
            "Period_End": date(2025, 4, 30),
            "Purchase_Price": Decimal("7.5"),
            "Purchase_Currency_Code": "eur",
        }
        updated = erp("SalesInvoice").Update(
            SalesInvoice={"Key": document.Key, "SalesLines": {"Sales_Invoice_Line": [line]}}
        )
        got = updated.SalesLines.Sales_Invoice_Line[0]
        assert got.Quantity == Decimal("2.12346") and got.Unit_Price == Decimal("-10")
        assert got.Line_Amount == Decimal("-22.23") and got.Unit_of_Measure == "Month"
        assert (got.Period_Start, got.Period_End, got.Purchase_Currency_Code) == (
            date(2025, 4, 1),
            date(2025, 4, 30),
            "EUR",
        )
        assert got.Description == "D" * 100 and got.Description_2 == "second"

    def test_line_amount_given_sets_the_discount(self, erp) -> None:
        document = erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-US"})
        line = {"Type": "Item", "No": "SKU-2", "Quantity": 2, "Line_Amount": 50}
        updated = erp("SalesInvoice").Update(
            SalesInvoice={"Key": document.Key, "SalesLines": {"Sales_Invoice_Line": [line]}}
        )
        got = updated.SalesLines.Sales_Invoice_Line[0]
        assert (got.Line_Amount, got.Line_Discount_Amount, got.Amount) == (Decimal(50), Decimal(10), Decimal(50))

    def test_duplicate_line_no_is_a_duplicate_key_fault_and_nothing_is_applied(self, erp) -> None:
        document = invoice_with_lines(erp)
        lines = [{"Line_No": 30000, "Type": "Item", "No": "SKU-2"}, {"Line_No": 10000, "Type": "Item", "No": "SKU-2"}]
        error = fault(
            erp("SalesInvoice").Update, SalesInvoice={"Key": document.Key, "SalesLines": {"Sales_Invoice_Line": lines}}
        )
        assert kind(error) == "NavCSideDuplicateKeyException"
        assert "Line No.='10000'" in error.message and "Document Type='Invoice'" in error.message
        again = erp("SalesInvoice").Read(No=document.No)
        assert again.Key == document.Key and len(again.SalesLines.Sales_Invoice_Line) == 2

    def test_required_known_items(self, erp, admin) -> None:
        document = erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"})
        admin("PATCH", "validation", json={"require_known_items": True})
        lines = {"Sales_Invoice_Line": [{"Type": "Item", "No": "NOPE", "Quantity": 1}]}
        error = fault(erp("SalesInvoice").Update, SalesInvoice={"Key": document.Key, "SalesLines": lines})
        assert kind(error) == "NavCSideValidateTableRelationException"
        assert "field No. of table Sales Line contains a value (NOPE)" in error.message and "(Item)" in error.message
        blocked = {"Sales_Invoice_Line": [{"Type": "Item", "No": "SKU-OLD", "Quantity": 1}]}
        error = fault(erp("SalesInvoice").Update, SalesInvoice={"Key": document.Key, "SalesLines": blocked})
        assert kind(error) == "NavNCLDialogException"

    def test_lines_need_a_customer_and_a_type(self, erp) -> None:
        blank = erp("SalesInvoice").Create(SalesInvoice={})
        lines = {"Sales_Invoice_Line": [{"Type": "Item", "No": "SKU-1"}]}
        error = fault(erp("SalesInvoice").Update, SalesInvoice={"Key": blank.Key, "SalesLines": lines})
        assert kind(error) == "NavTestFieldException" and error.message.startswith("Sell-to Customer No. must have")
        document = erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"})
        untyped = {"Sales_Invoice_Line": [{"No": "SKU-1"}]}
        error = fault(erp("SalesInvoice").Update, SalesInvoice={"Key": document.Key, "SalesLines": untyped})
        assert kind(error) == "NavTestFieldException" and error.message.startswith(
            "Type must have a value in Sales Line"
        )
        comment = {"Sales_Invoice_Line": [{"Description": "just a comment"}]}
        updated = erp("SalesInvoice").Update(SalesInvoice={"Key": document.Key, "SalesLines": comment})
        assert updated.SalesLines.Sales_Invoice_Line[0].Type == "_blank_" and updated.Amount == 0

    def test_customer_and_currency_cannot_change_once_there_are_lines(self, erp) -> None:
        document = invoice_with_lines(erp)
        error = fault(erp("SalesInvoice").Update, SalesInvoice={"Key": document.Key, "Sell_to_Customer_No": "C-US"})
        assert kind(error) == "NavNCLCallbackNotAllowedException"
        header_only = erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"})
        moved = erp("SalesInvoice").Update(SalesInvoice={"Key": header_only.Key, "Sell_to_Customer_No": "C-US"})
        assert (
            moved.Bill_to_Customer_No == "C-US" and moved.Currency_Code == "USD" and moved.Due_Date == date(2025, 5, 1)
        )

    def test_delete_line(self, erp) -> None:
        document = invoice_with_lines(erp)
        second = document.SalesLines.Sales_Invoice_Line[1]
        assert erp("SalesInvoice").Delete_SalesLines(SalesLines_Key=second.Key) is True
        again = erp("SalesInvoice").Read(No=document.No)
        assert [line.Line_No for line in again.SalesLines.Sales_Invoice_Line] == [10000]
        assert again.Amount == Decimal("37.5") and again.Key != document.Key
        error = fault(erp("SalesInvoice").Delete_SalesLines, SalesLines_Key=second.Key)
        assert kind(error) == "NavCSideRecordNotFoundException"


class TestKeys:
    def test_each_write_returns_a_new_key_and_a_stale_key_fails(self, erp) -> None:
        created = erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"})
        updated = erp("SalesInvoice").Update(SalesInvoice={"Key": created.Key, "Your_Reference": "a"})
        assert updated.Key != created.Key and updated.Row_Version > created.Row_Version
        error = fault(erp("SalesInvoice").Update, SalesInvoice={"Key": created.Key, "Your_Reference": "b"})
        assert kind(error) == "NavCSideException"
        assert (
            error.message == 'Other user has modified Sales Header "Document Type=CONST(Invoice),No.=CONST(SI-000001)".'
        )
        stale_line = invoice_with_lines(erp, external="SOM-2")
        line_key = stale_line.SalesLines.Sales_Invoice_Line[0].Key
        fresh = erp("SalesInvoice").Update(
            SalesInvoice={
                "Key": stale_line.Key,
                "SalesLines": {"Sales_Invoice_Line": [{"Key": line_key, "Quantity": 5}]},
            }
        )
        error = fault(
            erp("SalesInvoice").Update,
            SalesInvoice={"Key": fresh.Key, "SalesLines": {"Sales_Invoice_Line": [{"Key": line_key, "Quantity": 6}]}},
        )
        assert error.message.startswith('Other user has modified Sales Line "Document Type=CONST(Invoice),Document No.')

    def test_is_updated_and_get_rec_id(self, erp) -> None:
        created = erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"})
        assert erp("SalesInvoice").IsUpdated(Key=created.Key) is False
        erp("SalesInvoice").Update(SalesInvoice={"Key": created.Key, "Your_Reference": "a"})
        assert erp("SalesInvoice").IsUpdated(Key=created.Key) is True
        assert erp("SalesInvoice").GetRecIdFromKey(Key=created.Key) == "Sales Header: Invoice,SI-000001"

    def test_a_key_of_another_page_or_garbage_is_a_client_fault(self, erp) -> None:
        memo = erp("SalesCreditMemo").Create(SalesCreditMemo={"Sell_to_Customer_No": "C-DE"})
        error = fault(erp("SalesInvoice").Update, SalesInvoice={"Key": memo.Key})
        assert str(error.code) == "s:Client"
        assert str(fault(erp("SalesInvoice").Delete, Key="garbage").code) == "s:Client"

    def test_delete(self, erp) -> None:
        document = invoice_with_lines(erp)
        assert erp("SalesInvoice").Delete(Key=document.Key) is True
        assert erp("SalesInvoice").Read(No=document.No) is None
        error = fault(erp("SalesInvoice").Delete, Key=document.Key)
        assert kind(error) == "NavCSideRecordNotFoundException"
        assert "The Sales Header does not exist." in error.message


class TestMultiple:
    def test_create_multiple_and_update_multiple(self, erp) -> None:
        created = erp("SalesInvoice").CreateMultiple(
            SalesInvoice_List={"SalesInvoice": [{"Sell_to_Customer_No": "C-DE"}, {"Sell_to_Customer_No": "C-US"}]}
        )
        assert [d.No for d in created] == ["SI-000001", "SI-000002"]
        updated = erp("SalesInvoice").UpdateMultiple(
            SalesInvoice_List={
                "SalesInvoice": [{"Key": d.Key, "Your_Reference": f"r{i}"} for i, d in enumerate(created)]
            }
        )
        assert [d.Your_Reference for d in updated] == ["r0", "r1"]

    def test_multiple_is_all_or_nothing(self, erp, admin) -> None:
        error = fault(
            erp("SalesInvoice").CreateMultiple,
            SalesInvoice_List={"SalesInvoice": [{"Sell_to_Customer_No": "C-DE"}, {"Sell_to_Customer_No": "NOPE"}]},
        )
        assert kind(error) == "NavCSideValidateTableRelationException"
        assert admin("GET", "documents")["documents"] == []
        assert erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"}).No == "SI-000001"


class TestCreditMemo:
    def test_credit_memo_with_lines_and_application(self, erp) -> None:
        memo = erp("SalesCreditMemo").Create(
            SalesCreditMemo={"Sell_to_Customer_No": "C-AR", "Applies_to_Doc_No": "PSI-000001"}
        )
        assert (memo.Applies_to_Doc_Type, memo.Applies_to_Doc_No) == ("Invoice", "PSI-000001")
        lines = {"Sales_Cr_Memo_Line": [{"Type": "Item", "No": "SKU-2", "Quantity": 1}]}
        updated = erp("SalesCreditMemo").Update(SalesCreditMemo={"Key": memo.Key, "SalesLines": lines})
        assert updated.Amount_Including_VAT == Decimal("36.3")
        assert erp("SalesCreditMemo").GetRecIdFromKey(Key=updated.Key) == "Sales Header: Credit Memo,SCM-000001"


class TestCustomerPage:
    def test_customer_operations(self, erp) -> None:
        customer = erp("Customer")
        created = customer.Create(
            Customer={"No": "new-1", "Name": "New", "Country_Region_Code": "de", "Blocked": "_blank_"}
        )
        assert (created.No, created.Country_Region_Code, created.Blocked) == ("NEW-1", "DE", "_blank_")
        assert customer.Read(No="NEW-1").Name == "New"
        assert customer.Read(No="NOBODY") is None
        updated = customer.Update(Customer={"Key": created.Key, "Blocked": "All"})
        assert updated.Blocked == "All" and updated.Key != created.Key
        assert kind(fault(customer.Update, Customer={"Key": created.Key, "Name": "x"})) == "NavCSideException"
        assert customer.IsUpdated(Key=created.Key) is True
        assert customer.GetRecIdFromKey(Key=updated.Key) == "Customer: NEW-1"
        many = customer.CreateMultiple(Customer_List={"Customer": [{"No": "N2"}, {"No": "N3"}]})
        assert [c.No for c in many] == ["N2", "N3"]
        assert [
            c.Name
            for c in customer.UpdateMultiple(Customer_List={"Customer": [{"Key": c.Key, "Name": "x"} for c in many]})
        ] == ["x", "x"]
        assert customer.Delete(Key=updated.Key) is True
        assert kind(fault(customer.Create, Customer={"No": "C-DE"})) == "NavCSideDuplicateKeyException"
        assert kind(fault(customer.Create, Customer={"Name": "no number"})) == "NavTestFieldException"

    def test_customer_in_use_cannot_be_deleted(self, erp) -> None:
        erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"})
        key = erp("Customer").Read(No="C-DE").Key
        assert kind(fault(erp("Customer").Delete, Key=key)) == "NavNCLDialogException"


class TestReadOnlyPages:
    def test_read_only_pages_offer_only_the_reads(self, session) -> None:
        response = soap_post(session, "PostedSalesInvoice", "Create", "<PostedSalesInvoice/>")
        assert response.status_code == 500
        assert fault_of(response) == ("s:Client", "The operation Create is not offered by page PostedSalesInvoice.")

    def test_ledger_read_by_entry_number(self, erp, sim) -> None:
        invoice_with_lines(erp)
        sim.post_now()
        entry = erp("CustomerLedgerEntries").Read(Entry_No=1)
        assert (entry.Document_Type, entry.Document_No, entry.Amount, entry.Open) == (
            "Invoice",
            "PSI-000001",
            Decimal("56.52"),
            True,
        )
        assert erp("CustomerLedgerEntries").Read(Entry_No=99) is None
        assert erp("CustomerLedgerEntries").GetRecIdFromKey(Key=entry.Key) == "Cust. Ledger Entry: 1"


class TestEveryOperationOfEveryPage:
    @pytest.mark.parametrize(
        ("page", "line_type"), [("SalesInvoice", "Sales_Invoice_Line"), ("SalesCreditMemo", "Sales_Cr_Memo_Line")]
    )
    def test_document_pages(self, erp, page: str, line_type: str) -> None:  # type: ignore[no-untyped-def]
        service = erp(page)
        created = service.Create(**{page: {"Sell_to_Customer_No": "C-DE", "External_Document_No": "X-1"}})
        many = service.CreateMultiple(**{f"{page}_List": {page: [{"Sell_to_Customer_No": "C-US"}]}})
        lines = {"SalesLines": {line_type: [{"Type": "Item", "No": "SKU-1", "Quantity": 1}]}}
        updated = service.Update(**{page: {"Key": created.Key, **lines}})
        renamed = service.UpdateMultiple(**{f"{page}_List": {page: [{"Key": many[0].Key, "Your_Reference": "m"}]}})
        assert renamed[0].Your_Reference == "m"
        assert service.Read(No=created.No).Key == updated.Key
        assert [d.No for d in service.ReadMultiple(filter=[{"Field": "No", "Criteria": "*"}], setSize=10)] == [
            created.No,
            many[0].No,
        ]
        assert service.IsUpdated(Key=created.Key) is True and service.IsUpdated(Key=updated.Key) is False
        assert service.GetRecIdFromKey(Key=updated.Key).startswith("Sales Header: ")
        line_key = getattr(updated.SalesLines, line_type)[0].Key
        assert service.Delete_SalesLines(SalesLines_Key=line_key) is True
        assert service.Delete(Key=service.Read(No=created.No).Key) is True
        assert service.Delete(Key=renamed[0].Key) is True
        assert service.ReadMultiple(filter=[{"Field": "No", "Criteria": "*"}], setSize=10) is None

    @pytest.mark.parametrize(
        ("page", "key_field", "key_value", "rec_id"),
        [
            ("PostedSalesInvoice", "No", "PSI-000001", "Sales Invoice Header: PSI-000001"),
            ("PostedSalesCreditMemo", "No", "PSCM-000001", "Sales Cr.Memo Header: PSCM-000001"),
            ("CustomerLedgerEntries", "Entry_No", 2, "Cust. Ledger Entry: 2"),
        ],
    )
    def test_read_only_pages(self, erp, sim, page, key_field, key_value, rec_id) -> None:  # type: ignore[no-untyped-def]
        invoice_with_lines(erp)
        memo = erp("SalesCreditMemo").Create(SalesCreditMemo={"Sell_to_Customer_No": "C-DE"})
        lines = {"Sales_Cr_Memo_Line": [{"Type": "Item", "No": "SKU-1", "Quantity": 1}]}
        erp("SalesCreditMemo").Update(SalesCreditMemo={"Key": memo.Key, "SalesLines": lines})
        sim.post_now()
        service = erp(page)
        record = service.Read(**{key_field: key_value})
        assert getattr(record, key_field) == key_value
        found = service.ReadMultiple(filter=[{"Field": key_field, "Criteria": str(key_value)}], setSize=5)
        assert [r.Key for r in found] == [record.Key]
        assert service.IsUpdated(Key=record.Key) is False
        assert service.GetRecIdFromKey(Key=record.Key) == rec_id
