"""Page definitions (§1.5–1.6) and the WSDLs rendered from them, loaded by zeep exactly as the service does."""

from __future__ import annotations

from pathlib import Path

import pytest
import zeep
from lxml import etree

from billing.erp.pages import (
    BLANK,
    PAGES,
    SOAP_BINDING_NS,
    WSDL_NS,
    XSD_NS,
    FieldType,
    filter_fields,
    namespace,
    render_wsdl,
    service_url,
    soap_action,
    write_wsdls,
)

BASE = "http://erp.example/BC/WS/CRONUS%20US"
ZEEP = zeep.Settings(strict=True, forbid_external=True, xml_huge_tree=False)


@pytest.fixture(scope="module")
def wsdl_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("wsdl")
    write_wsdls(directory, BASE)
    return directory


@pytest.fixture(scope="module")
def clients(wsdl_dir: Path) -> dict[str, zeep.Client]:
    return {
        role: zeep.Client(str(wsdl_dir / f"{page.default_name}.wsdl"), settings=ZEEP) for role, page in PAGES.items()
    }


class TestDefinitions:
    def test_services_keys_and_kinds_are_those_of_the_contract(self) -> None:
        assert {role: (p.default_name, p.key, p.read_only) for role, p in PAGES.items()} == {
            "sales_invoice": ("SalesInvoice", ("No",), False),
            "sales_credit_memo": ("SalesCreditMemo", ("No",), False),
            "posted_sales_invoice": ("PostedSalesInvoice", ("No",), True),
            "posted_sales_credit_memo": ("PostedSalesCreditMemo", ("No",), True),
            "customer_ledger_entries": ("CustomerLedgerEntries", ("Entry_No",), True),
            "customer": ("Customer", ("No",), False),
        }
        subpages = {role: (p.subpage.name, p.subpage.type_name) for role, p in PAGES.items() if p.subpage}
        assert subpages == {
            "sales_invoice": ("SalesLines", "Sales_Invoice_Line"),
            "sales_credit_memo": ("SalesLines", "Sales_Cr_Memo_Line"),
            "posted_sales_invoice": ("SalesInvLines", "Posted_Sales_Invoice_Line"),
            "posted_sales_credit_memo": ("SalesCrMemoLines", "Posted_Sales_Cr_Memo_Line"),
        }

    def test_operations(self) -> None:
        reads = ("Read", "ReadMultiple", "IsUpdated", "GetRecIdFromKey")
        writes = ("Create", "CreateMultiple", "Update", "UpdateMultiple", "Delete")
        assert PAGES["sales_invoice"].operations == reads + writes + ("Delete_SalesLines",)
        assert PAGES["customer"].operations == reads + writes
        for role in ("posted_sales_invoice", "posted_sales_credit_memo", "customer_ledger_entries"):
            assert PAGES[role].operations == reads

    def test_header_fields_in_page_order_with_types_lengths_and_read_only_flags(self) -> None:
        invoice = PAGES["sales_invoice"]
        names = [f.name for f in invoice.fields]
        assert names[:4] == ["No", "Sell_to_Customer_No", "Bill_to_Customer_No", "Sell_to_Customer_Name"]
        assert names.index("Sell_to_Address") < names.index("Bill_to_Address") < names.index("Ship_to_Address")
        assert names[-2:] == ["SystemModifiedAt", "Row_Version"]
        assert invoice.field("External_Document_No").length == 35
        assert invoice.field("External_Document_No").type is FieldType.CODE
        assert invoice.field("Your_Reference").type is FieldType.TEXT
        assert invoice.field("Your_Reference").length == 35
        assert invoice.field("Document_Date").type is FieldType.DATE
        assert invoice.field("Row_Version").type is FieldType.BIGINTEGER and invoice.field("Row_Version").extension
        read_only = {f.name for f in invoice.fields if f.read_only}
        assert read_only == {
            "Due_Date",
            "Currency_Factor",
            "Amount",
            "Amount_Including_VAT",
            "Status",
            "SystemModifiedAt",
            "Row_Version",
        }
        memo = [f.name for f in PAGES["sales_credit_memo"].fields]
        assert memo[-2:] == ["Applies_to_Doc_Type", "Applies_to_Doc_No"]
        posted = PAGES["posted_sales_invoice"]
        assert all(f.read_only for f in posted.fields)
        assert [f.name for f in posted.fields][-7:] == [
            "Pre_Assigned_No",
            "Order_No",
            "Quote_No",
            "E_Invoice_No",
            "Cust_Ledger_Entry_No",
            "Remaining_Amount",
            "Closed",
        ]

    def test_line_fields(self) -> None:
        lines = PAGES["sales_invoice"].subpage
        assert lines is not None
        assert lines.field("Type").options == (BLANK, "G_L_Account", "Item", "Resource", "Fixed_Asset", "Charge_Item")
        assert {f.name for f in lines.fields if f.read_only} == {
            "Unit_of_Measure",
            "Amount",
            "Amount_Including_VAT",
            "VAT_Percent",
            "VAT_Base_Amount",
            "VAT_Calculation_Type",
            "Row_Version",
        }
        assert {f.name for f in lines.fields if f.extension} == {
            "Contract_No",
            "Period_Start",
            "Period_End",
            "Purchase_Price",
            "Purchase_Currency_Code",
            "Row_Version",
        }
        posted = PAGES["posted_sales_invoice"].subpage
        assert posted is not None and posted.fields[-1].name == "Document_No"

    def test_captions_used_in_erp_messages(self) -> None:
        invoice = PAGES["sales_invoice"]
        assert invoice.field("Sell_to_Customer_No").caption == "Sell-to Customer No."
        assert invoice.field("Sell_to_E_Mail").caption == "Sell-to E-Mail"
        assert invoice.field("Payment_Terms_Code").caption == "Payment Terms Code"

    def test_names(self) -> None:
        assert namespace("SalesInvoice") == "urn:microsoft-dynamics-schemas/page/salesinvoice"
        assert soap_action("SalesInvoice", "Create") == "urn:microsoft-dynamics-schemas/page/salesinvoice:Create"
        assert service_url(BASE + "/", "Sales Invoice") == f"{BASE}/Page/Sales%20Invoice"
        assert filter_fields(PAGES["customer"])[0] == "No" and "Key" not in filter_fields(PAGES["customer"])


class TestWsdl:
    @pytest.mark.parametrize("role", list(PAGES))
    def test_zeep_loads_every_page_strictly_with_every_operation(self, clients: dict, role: str) -> None:
        page = PAGES[role]
        client = clients[role]
        binding = next(iter(client.wsdl.bindings.values()))
        assert tuple(binding._operations) == page.operations
        for operation in page.operations:
            assert binding._operations[operation].soapaction == soap_action(page.default_name, operation)
        service = client.wsdl.services[f"{page.default_name}_Service"]
        assert service.ports[f"{page.default_name}_Port"].binding_options["address"] == service_url(
            BASE, page.default_name
        )
        record = client.get_type(f"ns0:{page.default_name}")
        names = [name for name, _ in record.elements]
        assert names[0] == "Key"
        assert names[1 : 1 + len(page.fields)] == [f.name for f in page.fields]
        if page.subpage:
            assert names[-1] == page.subpage.name

    def test_document_literal_wrapped_shapes(self, clients: dict) -> None:
        client = clients["sales_invoice"]
        read_multiple = client.get_element("ns0:ReadMultiple")
        assert [name for name, _ in read_multiple.type.elements] == ["filter", "bookmarkKey", "setSize"]
        assert read_multiple.type.elements[0][1].max_occurs == "unbounded"
        assert read_multiple.type.elements[0][1].min_occurs == 1
        result = client.get_element("ns0:ReadMultiple_Result")
        assert [name for name, _ in result.type.elements] == ["ReadMultiple_Result"]
        assert [name for name, _ in client.get_element("ns0:Delete_SalesLines").type.elements] == ["SalesLines_Key"]
        assert [name for name, _ in client.get_element("ns0:Read").type.elements] == ["No"]
        ledger = clients["customer_ledger_entries"].get_element("ns0:Read")
        assert ledger.type.elements[0][1].type.name == "int"
        lines = client.get_type("ns0:Sales_Invoice_Line_List").elements[0][1]
        assert (lines.min_occurs, lines.max_occurs) == (1, "unbounded")

    def test_option_fields_are_enumerations_with_blank(self, wsdl_dir: Path) -> None:
        tree = etree.parse(str(wsdl_dir / "SalesCreditMemo.wsdl"))
        ns = {"xsd": XSD_NS, "w": WSDL_NS}
        values = tree.xpath("//xsd:simpleType[@name='Applies_to_Doc_Type']//xsd:enumeration/@value", namespaces=ns)
        assert values[0] == BLANK and "Credit_Memo" in values
        fields = tree.xpath("//xsd:simpleType[@name='SalesCreditMemo_Fields']//xsd:enumeration/@value", namespaces=ns)
        assert fields == [f.name for f in PAGES["sales_credit_memo"].fields]
        status = tree.xpath("//xsd:simpleType[@name='Status']//xsd:enumeration/@value", namespaces=ns)
        assert status == ["Open", "Released"]
        bindings = tree.xpath("//w:binding/*[local-name()='binding']/@transport", namespaces=ns)
        assert bindings == ["http://schemas.xmlsoap.org/soap/http"]
        assert tree.xpath("//*[namespace-uri()=$ns and local-name()='operation']/@style", ns=SOAP_BINDING_NS)[0] == (
            "document"
        )

    def test_write_wsdls_takes_customer_service_names(self, tmp_path: Path) -> None:
        written = write_wsdls(tmp_path, BASE, {"sales_invoice": "MySalesInvoice"})
        assert tmp_path / "MySalesInvoice.wsdl" in written and len(written) == len(PAGES)
        client = zeep.Client(str(tmp_path / "MySalesInvoice.wsdl"), settings=ZEEP)
        assert client.wsdl.types.get_type(f"{{{namespace('MySalesInvoice')}}}MySalesInvoice") is not None

    def test_render_is_deterministic(self) -> None:
        page = PAGES["customer"]
        assert render_wsdl("Customer", page, "http://a/Page/Customer") == render_wsdl(
            "Customer", page, "http://a/Page/Customer"
        )
