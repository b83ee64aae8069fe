"""Field values between XML, Python and SQLite, the simulator's tables, and record Keys.

Python values by field type: Code/Text/Option → ``str`` (``""`` blank; options by XML name), Integer/BigInteger
→ ``int``, Decimal → ``Decimal``, Boolean → ``bool``, Date → ``date | None``, DateTime → ``datetime | None``
(UTC). In SQLite, text columns hold blank as ``''``, decimals their exact text, datetimes
``YYYY-MM-DDTHH:MM:SS.fffZ`` (sortable), dates ISO, booleans 0/1.

On the wire the simulator writes what NAV writes: empty text is omitted, a blank option is ``_blank_``, a
blank date is ``0001-01-01``; it reads an empty element as an explicit blank.

A Key is ``"{table no};{base64url(JSON [document type,] primary key)};{version};"`` where the version is the record's
``Row_Version`` at its last write; it is opaque to clients.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from xml.sax.saxutils import escape

from billing.erp.pages import BLANK, PAGES, FieldType, PageDefinition, PageField
from billing.erp_sim.soap import SoapFault

BLANK_DATE = "0001-01-01"
_INTEGERS = (FieldType.INTEGER, FieldType.BIGINTEGER, FieldType.BOOLEAN)
_INT_LIMITS = {FieldType.INTEGER: 2**31, FieldType.BIGINTEGER: 2**63}


# --- values -------------------------------------------------------------------------------------------------


def blank(kind: FieldType) -> Any:
    if kind in (FieldType.INTEGER, FieldType.BIGINTEGER):
        return 0
    if kind is FieldType.DECIMAL:
        return Decimal(0)
    if kind is FieldType.BOOLEAN:
        return False
    if kind in (FieldType.DATE, FieldType.DATETIME):
        return None
    return ""


def rounded(value: Decimal, places: int) -> Decimal:
    """Half away from zero, like the ERP."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def format_datetime(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def format_decimal(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def to_db(kind: FieldType, value: Any) -> Any:
    if value is None:
        return ""
    if kind is FieldType.DECIMAL:
        return format_decimal(value)
    if kind is FieldType.BOOLEAN:
        return int(value)
    if kind is FieldType.DATETIME:
        return format_datetime(value)
    if kind is FieldType.DATE:
        return value.isoformat()
    return value


def from_db(kind: FieldType, raw: Any) -> Any:
    if kind in (FieldType.CODE, FieldType.TEXT, FieldType.OPTION):
        return raw or ""
    if kind is FieldType.DECIMAL:
        return Decimal(raw) if raw else Decimal(0)
    if kind is FieldType.BOOLEAN:
        return bool(raw)
    if kind in (FieldType.INTEGER, FieldType.BIGINTEGER):
        return raw or 0
    if not raw:
        return None
    if kind is FieldType.DATE:
        return date.fromisoformat(raw)
    return datetime.fromisoformat(raw)


def xml_writer(kind: FieldType) -> Callable[[Any], str | None]:
    """Stored value → escaped element text, or None to omit the element (empty text, like NAV). Stored text is
    already in the wire format, so reads render without converting values."""
    if kind in (FieldType.CODE, FieldType.TEXT):
        return lambda raw: escape(raw) if raw else None
    if kind is FieldType.DATETIME:
        return lambda raw: raw or None
    if kind is FieldType.OPTION:
        return lambda raw: raw or BLANK
    if kind is FieldType.DECIMAL:
        return lambda raw: raw or "0"
    if kind is FieldType.BOOLEAN:
        return lambda raw: "true" if raw else "false"
    if kind is FieldType.DATE:
        return lambda raw: raw or BLANK_DATE
    return str


def from_xml(page_field: PageField, text: str | None, table: str) -> Any:
    """A request value: faults like the ERP on bad input (s:Client for malformed, NAV faults for too long)."""
    kind = page_field.type
    text = (text or "").strip() if kind not in (FieldType.TEXT,) else (text or "")
    try:
        if kind in (FieldType.CODE, FieldType.TEXT):
            value = text.upper() if kind is FieldType.CODE else text
            if page_field.length is not None and len(value) > page_field.length:
                raise SoapFault(
                    "NavNCLStringLengthExceededException",
                    f"The length of the string is {len(value)}, but it must be less than or equal to "
                    f"{page_field.length} characters. Value: {value}",
                )
            return value
        if kind is FieldType.OPTION:
            if text in ("", BLANK) and BLANK in page_field.options:
                return ""
            if text not in page_field.options:
                raise ValueError
            return text
        if not text:
            return blank(kind)
        if kind in (FieldType.INTEGER, FieldType.BIGINTEGER):
            number = int(text)
            if not -_INT_LIMITS[kind] <= number < _INT_LIMITS[kind]:
                raise ValueError
            return number
        if kind is FieldType.DECIMAL:
            amount = Decimal(text)
            if not amount.is_finite() or abs(amount) >= Decimal(10) ** 15:
                raise InvalidOperation
            return amount
        if kind is FieldType.BOOLEAN:
            if text not in ("true", "false", "1", "0"):
                raise ValueError
            return text in ("true", "1")
        if kind is FieldType.DATE:
            return None if text == BLANK_DATE else date.fromisoformat(text)
        moment = datetime.fromisoformat(text)
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, InvalidOperation):
        raise SoapFault.client(
            f"The value '{text}' of {page_field.name} in {table} is not a valid {kind.value} value."
        ) from None


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def from_json(page_field: PageField, value: Any, table: str) -> Any:
    """A value given as JSON (admin API): numbers, booleans and strings as the XML text would be."""
    if value is None:
        return blank(page_field.type)
    if isinstance(value, bool):
        value = "true" if value else "false"
    if _NOT_XML.search(str(value)):
        raise ValueError(f"{page_field.name}: control characters cannot be sent in XML.")
    return from_xml(page_field, str(value), table)


# --- tables -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """A SQLite table behind a page or a subpage: its columns (page fields) and primary key."""

    name: str
    caption: str  # NAV table caption
    number: int
    fields: tuple[PageField, ...]
    pk: tuple[str, ...]
    pk_captions: tuple[str, ...]
    document_type: str = ""  # "Invoice" / "Credit_Memo" where the NAV key carries a document type
    indexes: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return (*(f.name for f in self.fields), "_version")

    def ddl(self) -> list[str]:
        integer, text = "INTEGER NOT NULL DEFAULT 0", "TEXT NOT NULL DEFAULT ''"
        columns = ", ".join(f'"{f.name}" {integer if f.type in _INTEGERS else text}' for f in self.fields)
        statements = [
            f"CREATE TABLE IF NOT EXISTS {self.name} ({columns}, _version INTEGER NOT NULL, "
            f"PRIMARY KEY ({', '.join(self.pk)})) WITHOUT ROWID"
        ]
        statements += [
            f"CREATE INDEX IF NOT EXISTS {self.name}_{column.lower()} ON {self.name} ({column})"
            for column in self.indexes
        ]
        return statements

    def to_row(self, record: dict[str, Any]) -> tuple[Any, ...]:
        return (
            *(to_db(f.type, record[f.name] if f.name in record else blank(f.type)) for f in self.fields),
            record["_version"],
        )

    def from_row(self, row: Any) -> dict[str, Any]:
        record = {f.name: from_db(f.type, row[f.name]) for f in self.fields}
        record["_version"] = row["_version"]
        return record

    def pk_of(self, record: dict[str, Any]) -> tuple[Any, ...]:
        return tuple(record[name] for name in self.pk)

    def describe(self, pk: tuple[Any, ...]) -> str:
        """NAV's record identification: ``Document Type=CONST(Invoice),No.=CONST(SI-000001)``."""
        values = ((self.document_type,) if self.document_type else ()) + pk
        return ",".join(f"{caption}=CONST({value})" for caption, value in zip(self.pk_captions, values, strict=True))

    def rec_id(self, pk: tuple[Any, ...]) -> str:
        """``Sales Header: Invoice,SI-000001``, what GetRecIdFromKey answers."""
        values = ((self.document_type,) if self.document_type else ()) + pk
        return f"{self.caption}: {','.join(str(value) for value in values)}"

    def key(self, record: dict[str, Any]) -> str:
        """The record's Key: its table, primary key (with the document type) and version."""
        identity = ([self.document_type] if self.document_type else []) + list(self.pk_of(record))
        encoded = base64.urlsafe_b64encode(json.dumps(identity, separators=(",", ":")).encode()).decode()
        return f"{self.number};{encoded.rstrip('=')};{record['_version']};"

    def parse_key(self, key: str) -> tuple[tuple[Any, ...], int]:
        """The primary key and version a Key names; s:Client if it is not a Key of this table."""
        parts = key.strip().split(";")
        try:
            if len(parts) != 4 or parts[3] or int(parts[0]) != self.number:
                raise ValueError
            identity = json.loads(base64.urlsafe_b64decode((parts[1] + "=" * (-len(parts[1]) % 4)).encode()))
            if not isinstance(identity, list) or len(identity) != len(self.pk) + bool(self.document_type):
                raise ValueError
            if self.document_type and identity.pop(0) != self.document_type:
                raise ValueError
            return tuple(identity), int(parts[2])
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise SoapFault.client(f"The key '{key}' is not a valid key of a {self.caption} record.") from None


def _header_table(page: PageDefinition, name: str, document_type: str) -> Table:
    captions = ("Document Type", "No.") if document_type else ("No.",)
    computed = {"Remaining_Amount", "Closed"}  # posted headers: from the ledger entry when read
    indexes = ["External_Document_No", "SystemModifiedAt", "Row_Version"]
    if page.read_only:
        indexes.append("Pre_Assigned_No")
    return Table(
        name,
        page.table,
        page.table_no,
        tuple(f for f in page.fields if f.name not in computed),
        ("No",),
        captions,
        document_type,
        tuple(indexes),
    )


def _line_table(page: PageDefinition, name: str, document_type: str) -> Table:
    assert page.subpage is not None
    fields = page.subpage.fields
    if not page.read_only:
        fields = (PageField("Document_No", FieldType.CODE, 20, read_only=True), *fields)
    captions = ("Document Type", "Document No.", "Line No.") if document_type else ("Document No.", "Line No.")
    return Table(
        name, page.subpage.table, page.subpage.table_no, fields, ("Document_No", "Line_No"), captions, document_type
    )


def _tables() -> dict[str, Table]:
    tables = {}
    for role, document_type in (
        ("sales_invoice", "Invoice"),
        ("sales_credit_memo", "Credit Memo"),
        ("posted_sales_invoice", ""),
        ("posted_sales_credit_memo", ""),
    ):
        tables[role] = _header_table(PAGES[role], role, document_type)
        tables[f"{role}_line"] = _line_table(PAGES[role], f"{role}_line", document_type)
    ledger = PAGES["customer_ledger_entries"]
    tables["customer_ledger_entries"] = Table(
        "customer_ledger_entries",
        ledger.table,
        ledger.table_no,
        ledger.fields,
        ("Entry_No",),
        ("Entry No.",),
        indexes=("Document_No", "Customer_No", "Applies_to_Doc_No"),
    )
    customer = PAGES["customer"]
    tables["customer"] = Table("customer", customer.table, customer.table_no, customer.fields, ("No",), ("No.",))
    tables["item"] = Table("item", "Item", 27, ITEM_FIELDS, ("No",), ("No.",))
    return tables


#: Item master data (no page is served; maintained with PUT /_sim/items).
ITEM_FIELDS = (
    PageField("No", FieldType.CODE, 20),
    PageField("Description", FieldType.TEXT, 100),
    PageField("Base_Unit_of_Measure", FieldType.CODE, 10),
    PageField("Unit_Price", FieldType.DECIMAL),
    PageField("Blocked", FieldType.BOOLEAN),
    PageField("SystemModifiedAt", FieldType.DATETIME),
)

TABLES = _tables()
