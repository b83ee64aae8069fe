"""The ERP's page web services as data (erp-integration.md §1.5–1.6), and NAV-shaped WSDLs rendered from them.

One `PageDefinition` per role: the table behind the page, its key, its fields in page order (XSD type, length,
option values, read-only flag, † extension fields) and its lines subpage. The simulator serves exactly these
pages, and the service vendors the WSDLs `write_wsdls` renders from the same definitions, so both sides agree
field by field.

WSDL shape (what NAV / Business Central publishes): document/literal wrapped, target namespace
``urn:microsoft-dynamics-schemas/page/{service name in lower case}``, one ``complexType`` per page and per
subpage line, ``{Page}_List``, ``{Page}_Fields`` (the filterable fields) and ``{Page}_Filter``, option fields as
``xsd:simpleType`` restrictions (``_blank_`` for the empty option), operations ``Read``, ``ReadMultiple``,
``IsUpdated``, ``GetRecIdFromKey`` and, on writable pages, ``Create``, ``CreateMultiple``, ``Update``,
``UpdateMultiple``, ``Delete`` and ``Delete_{Subpage}``; each answered by ``{Operation}_Result``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from urllib.parse import quote

from lxml import etree

WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"
SOAP_BINDING_NS = "http://schemas.xmlsoap.org/wsdl/soap/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
HTTP_TRANSPORT = "http://schemas.xmlsoap.org/soap/http"
PAGE_NS_PREFIX = "urn:microsoft-dynamics-schemas/page/"


class FieldType(StrEnum):
    """NAV field data types; each maps to one XSD type."""

    CODE = "Code"  # upper-cased by the ERP
    TEXT = "Text"
    INTEGER = "Integer"
    BIGINTEGER = "BigInteger"
    DECIMAL = "Decimal"
    BOOLEAN = "Boolean"
    DATE = "Date"
    DATETIME = "DateTime"
    OPTION = "Option"


XSD_TYPES = {
    FieldType.CODE: "xsd:string",
    FieldType.TEXT: "xsd:string",
    FieldType.INTEGER: "xsd:int",
    FieldType.BIGINTEGER: "xsd:long",
    FieldType.DECIMAL: "xsd:decimal",
    FieldType.BOOLEAN: "xsd:boolean",
    FieldType.DATE: "xsd:date",
    FieldType.DATETIME: "xsd:dateTime",
}


@dataclass(frozen=True, slots=True)
class PageField:
    name: str
    type: FieldType
    length: int | None = None  # Code/Text maximum length
    options: tuple[str, ...] = ()  # Option values as XML names; "_blank_" is the empty option
    read_only: bool = False  # set by the ERP; ignored on writes
    extension: bool = False  # † not on a standard BC page (the simulator has it)

    @property
    def caption(self) -> str:
        """The NAV caption used in ERP messages: ``Sell_to_Customer_No`` → ``Sell-to Customer No.``."""
        words = ["No." if word == "No" else word for word in self.name.replace("_to_", "-to_").split("_")]
        return " ".join(words).replace("E Mail", "E-Mail")


def _write_order(fields: tuple[PageField, ...]) -> dict[str, int]:
    return {name: position for position, name in enumerate(("Key", *(f.name for f in fields)))}


@dataclass(frozen=True)
class Subpage:
    """A document page's lines: element ``name`` (``SalesLines``) holding ``{type_name}_List``."""

    name: str
    type_name: str
    table: str
    table_no: int
    fields: tuple[PageField, ...]

    def field(self, name: str) -> PageField:
        """The line field called ``name`` (KeyError if there is none)."""
        return self.fields_by_name[name]

    @cached_property
    def fields_by_name(self) -> dict[str, PageField]:
        return {f.name: f for f in self.fields}

    @cached_property
    def write_order(self) -> dict[str, int]:
        """Each element's position in a written line: ``Key`` first, then the fields in page order."""
        return _write_order(self.fields)


@dataclass(frozen=True)
class PageDefinition:
    role: str
    default_name: str
    table: str  # NAV table caption, for Keys and messages
    table_no: int
    key: tuple[str, ...]
    fields: tuple[PageField, ...]  # page order, without Key and the subpage
    subpage: Subpage | None = None
    read_only: bool = False

    def field(self, name: str) -> PageField:
        """The field called ``name`` (KeyError if the page has none)."""
        return self.fields_by_name[name]

    @cached_property
    def write_order(self) -> dict[str, int]:
        """Each element's position in a written record: ``Key`` first, then the fields in page order."""
        return _write_order(self.fields)

    @cached_property
    def fields_by_name(self) -> dict[str, PageField]:
        return {f.name: f for f in self.fields}

    @property
    def operations(self) -> tuple[str, ...]:
        reads = ("Read", "ReadMultiple", "IsUpdated", "GetRecIdFromKey")
        if self.read_only:
            return reads
        writes = ("Create", "CreateMultiple", "Update", "UpdateMultiple", "Delete")
        return reads + writes + ((f"Delete_{self.subpage.name}",) if self.subpage else ())


# --- the pages (§1.6) ---------------------------------------------------------------------------------------

BLANK = "_blank_"
DOCUMENT_TYPES = (BLANK, "Payment", "Invoice", "Credit_Memo", "Finance_Charge_Memo", "Reminder", "Refund")
LINE_TYPES = (BLANK, "G_L_Account", "Item", "Resource", "Fixed_Asset", "Charge_Item")
VAT_CALCULATION_TYPES = ("Normal_VAT", "Reverse_Charge_VAT", "Full_VAT", "Sales_Tax")
BLOCKED = (BLANK, "Ship", "Invoice", "All")
STATUS = ("Open", "Released")


def _code(name: str, length: int = 20, *, read_only: bool = False, extension: bool = False) -> PageField:
    return PageField(name, FieldType.CODE, length, read_only=read_only, extension=extension)


def _text(name: str, length: int = 100, *, read_only: bool = False, extension: bool = False) -> PageField:
    return PageField(name, FieldType.TEXT, length, read_only=read_only, extension=extension)


def _typed(name: str, kind: FieldType, *, read_only: bool = False, extension: bool = False) -> PageField:
    return PageField(name, kind, read_only=read_only, extension=extension)


def _option(name: str, options: tuple[str, ...], *, read_only: bool = False) -> PageField:
    return PageField(name, FieldType.OPTION, options=options, read_only=read_only)


def _address(prefix: str) -> tuple[PageField, ...]:
    return (
        _text(f"{prefix}Address"),
        _text(f"{prefix}Address_2", 50),
        _text(f"{prefix}City", 30),
        _code(f"{prefix}Post_Code"),
        _text(f"{prefix}County", 30),
        _code(f"{prefix}Country_Region_Code", 10),
        _text(f"{prefix}Contact"),
    )


def _header(read_only: bool, credit_memo: bool) -> tuple[PageField, ...]:
    rw = read_only
    fields = (
        _code("No", read_only=rw),
        _code("Sell_to_Customer_No", read_only=rw),
        _code("Bill_to_Customer_No", read_only=rw),
        _text("Sell_to_Customer_Name", read_only=rw),
        _text("Sell_to_Customer_Name_2", 50, read_only=rw),
        _text("Bill_to_Name", read_only=rw),
        _text("Bill_to_Name_2", 50, read_only=rw),
        _code("Ship_to_Code", 10, read_only=rw),
        _text("Ship_to_Name", read_only=rw),
        _text("Ship_to_Name_2", 50, read_only=rw),
        *(
            PageField(f.name, f.type, f.length, read_only=read_only)
            for f in (*_address("Sell_to_"), *_address("Bill_to_"), *_address("Ship_to_"))
        ),
        _code("Sell_to_Contact_No", read_only=rw),
        _code("Bill_to_Contact_No", read_only=rw),
        _text("Sell_to_Phone_No", 30, read_only=rw),
        _text("Sell_to_E_Mail", 80, read_only=rw),
        _typed("Document_Date", FieldType.DATE, read_only=rw),
        _typed("Posting_Date", FieldType.DATE, read_only=rw),
        _typed("Due_Date", FieldType.DATE, read_only=True),
        _code("External_Document_No", 35, read_only=rw),
        _text("Your_Reference", 35, read_only=rw),
        _code("Payment_Terms_Code", 10, read_only=rw),
        _code("Payment_Method_Code", 10, read_only=rw),
        _code("Currency_Code", 10, read_only=rw),
        _typed("Currency_Factor", FieldType.DECIMAL, read_only=True),
        _typed("Prices_Including_VAT", FieldType.BOOLEAN, read_only=rw),
        _typed("Amount", FieldType.DECIMAL, read_only=True),
        _typed("Amount_Including_VAT", FieldType.DECIMAL, read_only=True),
        _option("Status", STATUS, read_only=True),
        _typed("SystemModifiedAt", FieldType.DATETIME, read_only=True),
        _typed("Row_Version", FieldType.BIGINTEGER, extension=True, read_only=True),
    )
    if credit_memo:
        fields += (
            _option("Applies_to_Doc_Type", DOCUMENT_TYPES, read_only=rw),
            _code("Applies_to_Doc_No", read_only=rw),
        )
    if read_only:
        fields += (
            _code("Pre_Assigned_No", read_only=True),
            _code("Order_No", read_only=True),
            _code("Quote_No", read_only=True),
            _code("E_Invoice_No", 35, extension=True, read_only=True),
            _typed("Cust_Ledger_Entry_No", FieldType.INTEGER, read_only=True),
            _typed("Remaining_Amount", FieldType.DECIMAL, read_only=True),
            _typed("Closed", FieldType.BOOLEAN, read_only=True),
        )
    return fields


def _lines(read_only: bool) -> tuple[PageField, ...]:
    rw = read_only
    fields = (
        _typed("Line_No", FieldType.INTEGER, read_only=rw),
        _option("Type", LINE_TYPES, read_only=rw),
        _code("No", read_only=rw),
        _text("Description", read_only=rw),
        _text("Description_2", 50, read_only=rw),
        _typed("Quantity", FieldType.DECIMAL, read_only=rw),
        _code("Unit_of_Measure_Code", 10, read_only=rw),
        _text("Unit_of_Measure", 50, read_only=True),
        _typed("Unit_Price", FieldType.DECIMAL, read_only=rw),
        _typed("Line_Discount_Amount", FieldType.DECIMAL, read_only=rw),
        _typed("Line_Amount", FieldType.DECIMAL, read_only=rw),
        _typed("Amount", FieldType.DECIMAL, read_only=True),
        _typed("Amount_Including_VAT", FieldType.DECIMAL, read_only=True),
        _typed("VAT_Percent", FieldType.DECIMAL, read_only=True),
        _typed("VAT_Base_Amount", FieldType.DECIMAL, read_only=True),
        _option("VAT_Calculation_Type", VAT_CALCULATION_TYPES, read_only=True),
        _code("Contract_No", extension=True, read_only=rw),
        _typed("Period_Start", FieldType.DATE, extension=True, read_only=rw),
        _typed("Period_End", FieldType.DATE, extension=True, read_only=rw),
        _typed("Purchase_Price", FieldType.DECIMAL, extension=True, read_only=rw),
        _code("Purchase_Currency_Code", 10, extension=True, read_only=rw),
        _typed("Row_Version", FieldType.BIGINTEGER, extension=True, read_only=True),
    )
    return fields + ((_code("Document_No", read_only=True),) if read_only else ())


def _document(
    role: str, name: str, table: tuple[str, int], lines: tuple[str, str, str, int], *, posted: bool, credit_memo: bool
) -> PageDefinition:
    subpage_name, line_type, line_table, line_table_no = lines
    return PageDefinition(
        role=role,
        default_name=name,
        table=table[0],
        table_no=table[1],
        key=("No",),
        fields=_header(posted, credit_memo),
        subpage=Subpage(subpage_name, line_type, line_table, line_table_no, _lines(posted)),
        read_only=posted,
    )


SALES_INVOICE = _document(
    "sales_invoice",
    "SalesInvoice",
    ("Sales Header", 36),
    ("SalesLines", "Sales_Invoice_Line", "Sales Line", 37),
    posted=False,
    credit_memo=False,
)
SALES_CREDIT_MEMO = _document(
    "sales_credit_memo",
    "SalesCreditMemo",
    ("Sales Header", 36),
    ("SalesLines", "Sales_Cr_Memo_Line", "Sales Line", 37),
    posted=False,
    credit_memo=True,
)
POSTED_SALES_INVOICE = _document(
    "posted_sales_invoice",
    "PostedSalesInvoice",
    ("Sales Invoice Header", 112),
    ("SalesInvLines", "Posted_Sales_Invoice_Line", "Sales Invoice Line", 113),
    posted=True,
    credit_memo=False,
)
POSTED_SALES_CREDIT_MEMO = _document(
    "posted_sales_credit_memo",
    "PostedSalesCreditMemo",
    ("Sales Cr.Memo Header", 114),
    ("SalesCrMemoLines", "Posted_Sales_Cr_Memo_Line", "Sales Cr.Memo Line", 115),
    posted=True,
    credit_memo=True,
)
CUSTOMER_LEDGER_ENTRIES = PageDefinition(
    role="customer_ledger_entries",
    default_name="CustomerLedgerEntries",
    table="Cust. Ledger Entry",
    table_no=21,
    key=("Entry_No",),
    read_only=True,
    fields=(
        _typed("Entry_No", FieldType.INTEGER, read_only=True),
        _code("Customer_No", read_only=True),
        _typed("Posting_Date", FieldType.DATE, read_only=True),
        _option("Document_Type", DOCUMENT_TYPES, read_only=True),
        _code("Document_No", read_only=True),
        _code("External_Document_No", 35, read_only=True),
        _text("Description", read_only=True),
        _code("Currency_Code", 10, read_only=True),
        _typed("Amount", FieldType.DECIMAL, read_only=True),
        _typed("Original_Amount", FieldType.DECIMAL, read_only=True),
        _typed("Remaining_Amount", FieldType.DECIMAL, read_only=True),
        _typed("Open", FieldType.BOOLEAN, read_only=True),
        _typed("Due_Date", FieldType.DATE, read_only=True),
        _option("Applies_to_Doc_Type", DOCUMENT_TYPES, read_only=True),
        _code("Applies_to_Doc_No", read_only=True),
        _typed("Closed_by_Entry_No", FieldType.INTEGER, read_only=True),
        _typed("SystemModifiedAt", FieldType.DATETIME, read_only=True),
    ),
)
CUSTOMER = PageDefinition(
    role="customer",
    default_name="Customer",
    table="Customer",
    table_no=18,
    key=("No",),
    fields=(
        _code("No"),
        _text("Name"),
        _text("Name_2", 50),
        *_address(""),
        _code("Primary_Contact_No"),
        _text("Phone_No", 30),
        _text("E_Mail", 80),
        _code("Payment_Terms_Code", 10),
        _code("Payment_Method_Code", 10),
        _code("Currency_Code", 10),
        _option("Blocked", BLOCKED),
        _text("VAT_Registration_No", 20),
        _typed("SystemModifiedAt", FieldType.DATETIME, read_only=True),
    ),
)

#: Every page by role, in the order of §1.5.
PAGES: dict[str, PageDefinition] = {
    page.role: page
    for page in (
        SALES_INVOICE,
        SALES_CREDIT_MEMO,
        POSTED_SALES_INVOICE,
        POSTED_SALES_CREDIT_MEMO,
        CUSTOMER_LEDGER_ENTRIES,
        CUSTOMER,
    )
}


# --- names and URLs -----------------------------------------------------------------------------------------


def namespace(service_name: str) -> str:
    """``urn:microsoft-dynamics-schemas/page/{service name in lower case}``."""
    return PAGE_NS_PREFIX + service_name.lower()


def soap_action(service_name: str, operation: str) -> str:
    """The SOAPAction value (unquoted) of an operation."""
    return f"{namespace(service_name)}:{operation}"


def service_url(base_url: str, service_name: str) -> str:
    """``{base_url}/Page/{ServiceName}``; ``base_url`` ends with ``/WS/{Company}`` (already URL-encoded)."""
    return f"{base_url.rstrip('/')}/Page/{quote(service_name, safe='')}"


def filter_fields(page: PageDefinition) -> tuple[str, ...]:
    """The values of ``{Page}_Fields``: every field of the page (not Key, not the subpage)."""
    return tuple(f.name for f in page.fields)


# --- WSDL ---------------------------------------------------------------------------------------------------


def render_wsdl(service_name: str, definition: PageDefinition, address: str) -> bytes:
    """The page's WSDL, bound to ``address`` (the service URL), as NAV publishes it."""
    tns = namespace(service_name)
    wsdl = etree.Element(f"{{{WSDL_NS}}}definitions", nsmap={None: WSDL_NS, "tns": tns}, targetNamespace=tns)
    types = etree.SubElement(wsdl, f"{{{WSDL_NS}}}types")
    schema = etree.SubElement(
        types,
        f"{{{XSD_NS}}}schema",
        nsmap={"xsd": XSD_NS, "tns": tns},
        elementFormDefault="qualified",
        targetNamespace=tns,
    )
    _schema_types(schema, service_name, definition)
    for operation in definition.operations:
        _schema_operation(schema, service_name, definition, operation)
    for operation in definition.operations:
        for message in (operation, f"{operation}_Result"):
            node = etree.SubElement(wsdl, f"{{{WSDL_NS}}}message", name=message)
            etree.SubElement(node, f"{{{WSDL_NS}}}part", name="parameters", element=f"tns:{message}")
    port_type = etree.SubElement(wsdl, f"{{{WSDL_NS}}}portType", name=f"{service_name}_Port")
    for operation in definition.operations:
        node = etree.SubElement(port_type, f"{{{WSDL_NS}}}operation", name=operation)
        etree.SubElement(node, f"{{{WSDL_NS}}}input", name=operation, message=f"tns:{operation}")
        result = f"{operation}_Result"
        etree.SubElement(node, f"{{{WSDL_NS}}}output", name=result, message=f"tns:{result}")
    binding = etree.SubElement(
        wsdl, f"{{{WSDL_NS}}}binding", name=f"{service_name}_Binding", type=f"tns:{service_name}_Port"
    )
    etree.SubElement(binding, f"{{{SOAP_BINDING_NS}}}binding", transport=HTTP_TRANSPORT, nsmap={None: SOAP_BINDING_NS})
    for operation in definition.operations:
        node = etree.SubElement(binding, f"{{{WSDL_NS}}}operation", name=operation)
        etree.SubElement(
            node,
            f"{{{SOAP_BINDING_NS}}}operation",
            soapAction=soap_action(service_name, operation),
            style="document",
            nsmap={None: SOAP_BINDING_NS},
        )
        for direction, name in (("input", operation), ("output", f"{operation}_Result")):
            io = etree.SubElement(node, f"{{{WSDL_NS}}}{direction}", name=name)
            etree.SubElement(io, f"{{{SOAP_BINDING_NS}}}body", use="literal", nsmap={None: SOAP_BINDING_NS})
    service = etree.SubElement(wsdl, f"{{{WSDL_NS}}}service", name=f"{service_name}_Service")
    port = etree.SubElement(
        service, f"{{{WSDL_NS}}}port", name=f"{service_name}_Port", binding=f"tns:{service_name}_Binding"
    )
    etree.SubElement(port, f"{{{SOAP_BINDING_NS}}}address", location=address, nsmap={None: SOAP_BINDING_NS})
    return etree.tostring(wsdl, xml_declaration=True, encoding="utf-8")


def write_wsdls(directory: Path, base_url: str, services: Mapping[str, str] | None = None) -> list[Path]:
    """Write ``{ServiceName}.wsdl`` for every page, bound to ``{base_url}/Page/{ServiceName}``.

    ``services`` maps roles to service names (``erp.services``); roles left out keep their default names.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for role, page in PAGES.items():
        name = (services or {}).get(role, page.default_name)
        path = directory / f"{name}.wsdl"
        path.write_bytes(render_wsdl(name, page, service_url(base_url, name)))
        written.append(path)
    return written


def _xsd(parent: etree._Element, tag: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{XSD_NS}}}{tag}", **attributes)


def _element(sequence: etree._Element, name: str, type_: str, min_occurs: str = "0", max_occurs: str = "1") -> None:
    _xsd(sequence, "element", minOccurs=min_occurs, maxOccurs=max_occurs, name=name, type=type_)


def _enumeration(schema: etree._Element, name: str, values: Iterable[str]) -> None:
    restriction = _xsd(_xsd(schema, "simpleType", name=name), "restriction", base="xsd:string")
    for value in values:
        _xsd(restriction, "enumeration", value=value)


def _schema_types(schema: etree._Element, service_name: str, page: PageDefinition) -> None:
    enums: dict[str, tuple[str, ...]] = {}
    for record_fields in (page.fields, page.subpage.fields if page.subpage else ()):
        for f in record_fields:
            if f.type is FieldType.OPTION and enums.setdefault(f.name, f.options) != f.options:
                raise ValueError(f"{service_name}: option field {f.name} has two different option sets")
    for name, options in enums.items():
        _enumeration(schema, name, options)

    def record_type(name: str, fields: tuple[PageField, ...], subpage: Subpage | None) -> None:
        sequence = _xsd(_xsd(schema, "complexType", name=name), "sequence")
        _element(sequence, "Key", "xsd:string")
        for f in fields:
            _element(sequence, f.name, f"tns:{f.name}" if f.type is FieldType.OPTION else XSD_TYPES[f.type])
        if subpage:
            _element(sequence, subpage.name, f"tns:{subpage.type_name}_List")

    def list_type(name: str) -> None:
        sequence = _xsd(_xsd(schema, "complexType", name=f"{name}_List"), "sequence")
        _element(sequence, name, f"tns:{name}", "1", "unbounded")

    if page.subpage:
        record_type(page.subpage.type_name, page.subpage.fields, None)
        list_type(page.subpage.type_name)
    record_type(service_name, page.fields, page.subpage)
    list_type(service_name)
    _enumeration(schema, f"{service_name}_Fields", filter_fields(page))
    sequence = _xsd(_xsd(schema, "complexType", name=f"{service_name}_Filter"), "sequence")
    _element(sequence, "Field", f"tns:{service_name}_Fields", "1")
    _element(sequence, "Criteria", "xsd:string", "1")


def _schema_operation(schema: etree._Element, service_name: str, page: PageDefinition, operation: str) -> None:
    def wrapper(name: str, *elements: tuple[str, str, str, str]) -> None:
        sequence = _xsd(_xsd(_xsd(schema, "element", name=name), "complexType"), "sequence")
        for element_name, type_, min_occurs, max_occurs in elements:
            _element(sequence, element_name, type_, min_occurs, max_occurs)

    record = (service_name, f"tns:{service_name}", "1", "1")
    records = (f"{service_name}_List", f"tns:{service_name}_List", "1", "1")
    key = ("Key", "xsd:string", "1", "1")
    if operation == "Read":
        wrapper("Read", *((name, XSD_TYPES[page.field(name).type], "1", "1") for name in page.key))
        wrapper("Read_Result", (service_name, f"tns:{service_name}", "0", "1"))
    elif operation == "ReadMultiple":
        wrapper(
            "ReadMultiple",
            ("filter", f"tns:{service_name}_Filter", "1", "unbounded"),
            ("bookmarkKey", "xsd:string", "0", "1"),
            ("setSize", "xsd:int", "1", "1"),
        )
        wrapper("ReadMultiple_Result", ("ReadMultiple_Result", f"tns:{service_name}_List", "0", "1"))
    elif operation in ("IsUpdated", "Delete"):
        wrapper(operation, key)
        wrapper(f"{operation}_Result", (f"{operation}_Result", "xsd:boolean", "1", "1"))
    elif operation == "GetRecIdFromKey":
        wrapper(operation, key)
        wrapper(f"{operation}_Result", (f"{operation}_Result", "xsd:string", "0", "1"))
    elif operation in ("Create", "Update"):
        wrapper(operation, record)
        wrapper(f"{operation}_Result", record)
    elif operation in ("CreateMultiple", "UpdateMultiple"):
        wrapper(operation, records)
        wrapper(f"{operation}_Result", records)
    else:  # Delete_{Subpage}
        subpage = operation.removeprefix("Delete_")
        wrapper(operation, (f"{subpage}_Key", "xsd:string", "1", "1"))
        wrapper(f"{operation}_Result", (f"{operation}_Result", "xsd:boolean", "1", "1"))
