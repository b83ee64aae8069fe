"""The ERP's rules for unposted sales invoices and credit memos (§2.3), customers and items.

Header fields are applied in page order, so a field's validation sets defaults that later explicit fields of
the same request override, as the ERP does: Sell-to validates the customer (exists, not blocked) and copies
its name, address and contact, and, unless the request names one, makes it the Bill-to customer; Bill-to
copies its own address, payment terms, payment method and currency. ``Due_Date`` = ``Document_Date`` + the
payment terms' days. Lines: a duplicate ``Line_No`` is a duplicate-key fault; ``VAT_Percent`` comes from the
Bill-to customer's country; amounts are recomputed (half away from zero). A line with a Key changes that line,
one without inserts it; omitted fields keep their values. Changing the customers, currency or price basis of a
document that has lines needs a confirmation, which web services cannot give (a callback fault).

Every write gives the record the next global ``Row_Version`` (its Key version) and ``SystemModifiedAt`` = the
simulated now; a header is rewritten whenever its lines change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from billing.erp.pages import PAGES, PageDefinition, PageField
from billing.erp_sim.records import ITEM_FIELDS, TABLES, Table, blank, from_json, rounded
from billing.erp_sim.settings import ErpSimSettings
from billing.erp_sim.soap import SoapFault
from billing.erp_sim.store import Tx

UNITS_OF_MEASURE = {"PCS": "Piece", "EA": "Each", "HOUR": "Hour", "DAY": "Day", "MONTH": "Month", "YEAR": "Year"}
_LOCKED_WITH_LINES = ("Sell_to_Customer_No", "Bill_to_Customer_No", "Currency_Code", "Prices_Including_VAT")
_ADDRESS = ("Address", "Address_2", "City", "Post_Code", "County", "Country_Region_Code", "Contact")


@dataclass
class Context:
    """One operation: its transaction, the effective settings and the simulated now."""

    tx: Tx
    settings: ErpSimSettings
    now: datetime

    @property
    def today(self) -> date:
        return self.now.date()


@dataclass
class LineInput:
    key: str | None
    values: dict[str, Any]


def not_found(table: Table, pk: tuple[Any, ...]) -> SoapFault:
    return SoapFault(
        "NavCSideRecordNotFoundException",
        f"The {table.caption} does not exist. Identification fields and values: {_identification(table, pk)}",
    )


def already_exists(table: Table, pk: tuple[Any, ...]) -> SoapFault:
    return SoapFault(
        "NavCSideDuplicateKeyException",
        f"The {table.caption} already exists. Identification fields and values: {_identification(table, pk)}",
    )


def stale(table: Table, pk: tuple[Any, ...]) -> SoapFault:
    return SoapFault("NavCSideException", f'Other user has modified {table.caption} "{table.describe(pk)}".')


def test_field(caption: str, table: Table, pk: tuple[Any, ...]) -> SoapFault:
    return SoapFault(
        "NavTestFieldException",
        f"{caption} must have a value in {table.caption}: {_identification(table, pk, quoted=False)}. "
        "It cannot be zero or empty.",
    )


def relation(caption: str, table: Table, value: str, related: str) -> SoapFault:
    return SoapFault(
        "NavCSideValidateTableRelationException",
        f"The field {caption} of table {table.caption} contains a value ({value}) that cannot be found in the "
        f"related table ({related}).",
    )


def _identification(table: Table, pk: tuple[Any, ...], quoted: bool = True) -> str:
    values = ((table.document_type,) if table.document_type else ()) + pk
    quote = "'" if quoted else ""
    return ",".join(
        f"{caption}={quote}{value}{quote}" for caption, value in zip(table.pk_captions, values, strict=True)
    )


def check_version(table: Table, record: dict[str, Any] | None, pk: tuple[Any, ...], version: int) -> dict[str, Any]:
    """The record a Key names, if that Key is current."""
    if record is None:
        raise not_found(table, pk)
    if record["_version"] != version:
        raise stale(table, pk)
    return record


def new_record(table: Table) -> dict[str, Any]:
    return {f.name: blank(f.type) for f in table.fields}


# --- rules shared with posting and bulk generation ----------------------------------------------------------


def vat_percent(settings: ErpSimSettings, country: str) -> Decimal:
    """The VAT rate of a Bill-to country (``[erp_sim.vat]``)."""
    return settings.vat.rates.get(country, settings.vat.default)


def due_date(settings: ErpSimSettings, payment_terms_code: str, document_date: date) -> date:
    """``Document_Date`` + the payment terms' days (unknown or blank terms: 0)."""
    return document_date + timedelta(days=settings.payment_terms.get(payment_terms_code, 0))


def currency_factor(settings: ErpSimSettings, currency_code: str) -> Decimal:
    """The header's ``Currency_Factor``: 0 for the local currency (blank code), 1 for an unlisted one."""
    return settings.currency_factors.get(currency_code, Decimal(1)) if currency_code else Decimal(0)


def sell_to_fields(record: dict[str, Any]) -> dict[str, Any]:
    """What a Sell-to customer copies onto a document: name, addresses (Sell-to and Ship-to), contact."""
    fields = {
        "Sell_to_Customer_Name": record["Name"],
        "Sell_to_Customer_Name_2": record["Name_2"],
        "Ship_to_Code": "",
        "Ship_to_Name": record["Name"],
        "Ship_to_Name_2": record["Name_2"],
        "Sell_to_Contact_No": record["Primary_Contact_No"],
        "Sell_to_Phone_No": record["Phone_No"],
        "Sell_to_E_Mail": record["E_Mail"],
    }
    for prefix in ("Sell_to_", "Ship_to_"):
        for name in _ADDRESS:
            fields[prefix + name] = record[name]
    return fields


def bill_to_fields(record: dict[str, Any]) -> dict[str, Any]:
    """What a Bill-to customer copies onto a document: name, address, contact, payment terms and method,
    currency."""
    fields = {"Bill_to_Name": record["Name"], "Bill_to_Name_2": record["Name_2"]}
    fields.update({"Bill_to_" + name: record[name] for name in _ADDRESS})
    fields["Bill_to_Contact_No"] = record["Primary_Contact_No"]
    fields.update({name: record[name] for name in ("Payment_Terms_Code", "Payment_Method_Code", "Currency_Code")})
    return fields


def compute_line(line: dict[str, Any], vat: Decimal, prices_including_vat: bool, line_amount_given: bool) -> None:
    """Recompute a line's amounts as the ERP does (half away from zero): ``Line_Amount`` = Quantity × Unit_Price
    − discount (or the discount from a given ``Line_Amount``), VAT at ``vat`` percent; a line without a type is
    a comment line with no amounts."""
    line["Unit_of_Measure"] = UNITS_OF_MEASURE.get(line["Unit_of_Measure_Code"], line["Unit_of_Measure_Code"])
    if not line["Type"]:
        for name in ("Line_Amount", "Amount", "Amount_Including_VAT", "VAT_Base_Amount", "VAT_Percent"):
            line[name] = Decimal(0)
        return
    line["Quantity"] = rounded(line["Quantity"], 5)
    line["Unit_Price"] = rounded(line["Unit_Price"], 5)
    gross = rounded(line["Quantity"] * line["Unit_Price"], 2)
    if line_amount_given:
        line["Line_Amount"] = rounded(line["Line_Amount"], 2)
        line["Line_Discount_Amount"] = gross - line["Line_Amount"]
    else:
        line["Line_Discount_Amount"] = rounded(line["Line_Discount_Amount"], 2)
        line["Line_Amount"] = gross - line["Line_Discount_Amount"]
    line["VAT_Percent"] = vat
    if prices_including_vat:
        line["Amount_Including_VAT"] = line["Line_Amount"]
        line["Amount"] = rounded(line["Line_Amount"] / (1 + vat / 100), 2)
    else:
        line["Amount"] = line["Line_Amount"]
        line["Amount_Including_VAT"] = line["Amount"] + rounded(line["Amount"] * vat / 100, 2)
    line["VAT_Base_Amount"] = line["Amount"]
    line["VAT_Calculation_Type"] = line["VAT_Calculation_Type"] or "Normal_VAT"


def customer(ctx: Context, number: str, caption: str, table: Table) -> dict[str, Any]:
    """The customer a document names: it must exist and not be blocked for invoicing."""
    record = ctx.tx.get(TABLES["customer"], (number,))
    if record is None:
        raise relation(caption, table, number, "Customer")
    if record["Blocked"] in ("Invoice", "All"):
        raise SoapFault(
            "NavNCLDialogException",
            f"You cannot create this type of document when Customer {number} is blocked with type {record['Blocked']}.",
        )
    return record


class SalesDocuments:
    """Create, Update, Delete and Delete_{Subpage} of one unposted document page."""

    def __init__(self, role: str) -> None:
        self.page: PageDefinition = PAGES[role]
        self.role = role
        self.table = TABLES[role]
        self.lines = TABLES[f"{role}_line"]

    # --- operations -----------------------------------------------------------------------------------------
    def create(self, ctx: Context, values: dict[str, Any], lines: list[LineInput]) -> dict[str, Any]:
        document = new_record(self.table)
        document["Status"] = "Open"
        number = values.get("No") or self._next_number(ctx)
        if ctx.tx.get(self.table, (number,)) is not None:
            raise already_exists(self.table, (number,))
        document["No"] = number
        self._apply_header(ctx, document, {**values, "No": number}, {})
        document["Document_Date"] = document["Document_Date"] or ctx.today
        document["Posting_Date"] = document["Posting_Date"] or ctx.today
        return self._finish(ctx, document, {}, lines)

    def update(self, ctx: Context, key: str, values: dict[str, Any], lines: list[LineInput]) -> dict[str, Any]:
        pk, version = self.table.parse_key(key)
        document = check_version(self.table, ctx.tx.get(self.table, pk), pk, version)
        existing = {line["Line_No"]: line for line in self.load_lines(ctx.tx, document["No"])}
        if "No" in values and values["No"] != document["No"]:
            raise SoapFault("NavNCLDialogException", f"You cannot rename a {self.table.caption}.")
        self._apply_header(ctx, document, values, existing)
        return self._finish(ctx, document, existing, lines)

    def delete(self, ctx: Context, key: str) -> dict[str, Any]:
        pk, version = self.table.parse_key(key)
        document = check_version(self.table, ctx.tx.get(self.table, pk), pk, version)
        ctx.tx.execute(f"DELETE FROM {self.lines.name} WHERE Document_No = ?", (document["No"],))
        ctx.tx.delete(self.table, pk)
        return document

    def delete_line(self, ctx: Context, key: str) -> dict[str, Any]:
        pk, version = self.lines.parse_key(key)
        check_version(self.lines, ctx.tx.get(self.lines, pk), pk, version)
        ctx.tx.delete(self.lines, pk)
        document = ctx.tx.get(self.table, (pk[0],))
        if document is None:  # a line cannot outlive its header; treat as gone
            raise not_found(self.table, (pk[0],))
        existing = {line["Line_No"]: line for line in self.load_lines(ctx.tx, document["No"])}
        return self._finish(ctx, document, existing, [])

    def load_lines(self, tx: Tx, document_no: str) -> list[dict[str, Any]]:
        return tx.select(self.lines, "Document_No = ?", (document_no,), "Line_No")

    # --- header ---------------------------------------------------------------------------------------------
    def _next_number(self, ctx: Context) -> str:
        series = ctx.settings.number_series
        prefix = getattr(series, self.role)
        return series.number(prefix, ctx.tx.next_number(prefix))

    def _apply_header(
        self, ctx: Context, document: dict[str, Any], values: dict[str, Any], lines: dict[int, dict]
    ) -> None:
        for page_field in self.page.fields:
            name = page_field.name
            if name not in values or page_field.read_only or name == "No":
                continue
            value = values[name]
            if lines and name in _LOCKED_WITH_LINES and value != document[name]:
                raise SoapFault(
                    "NavNCLCallbackNotAllowedException",
                    f"Do you want to change {page_field.caption}? (The document has lines; a confirmation is "
                    "needed, which web services cannot give.)",
                )
            document[name] = value
            if name == "Sell_to_Customer_No":
                self._sell_to(ctx, document, bill_to_given="Bill_to_Customer_No" in values)
            elif name == "Bill_to_Customer_No":
                self._bill_to(ctx, document)
            elif name == "Payment_Terms_Code" and value and value not in ctx.settings.payment_terms:
                raise relation(page_field.caption, self.table, value, "Payment Terms")
            elif name == "External_Document_No" and value and ctx.settings.validation.unique_external_document_no:
                self._unique_external_no(ctx, document)
            elif name == "Applies_to_Doc_No" and value and not document["Applies_to_Doc_Type"]:
                document["Applies_to_Doc_Type"] = "Invoice"
        document["Currency_Factor"] = currency_factor(ctx.settings, document["Currency_Code"])
        document["Due_Date"] = due_date(
            ctx.settings, document["Payment_Terms_Code"], document["Document_Date"] or ctx.today
        )

    def _sell_to(self, ctx: Context, document: dict[str, Any], bill_to_given: bool) -> None:
        number = document["Sell_to_Customer_No"]
        if not number:
            return
        document.update(sell_to_fields(customer(ctx, number, "Sell-to Customer No.", self.table)))
        if not bill_to_given:
            document["Bill_to_Customer_No"] = number
            self._bill_to(ctx, document)

    def _bill_to(self, ctx: Context, document: dict[str, Any]) -> None:
        number = document["Bill_to_Customer_No"]
        if not number:
            return
        document.update(bill_to_fields(customer(ctx, number, "Bill-to Customer No.", self.table)))

    def _unique_external_no(self, ctx: Context, document: dict[str, Any]) -> None:
        posted = "posted_" + self.role
        value = document["External_Document_No"]
        for table in (self.table, TABLES[posted]):
            clash = ctx.tx.select(table, "External_Document_No = ? AND No <> ?", (value, document["No"]))
            if clash:
                raise SoapFault(
                    "NavNCLDialogException",
                    f"External Document No. {value} already exists on {table.caption} {clash[0]['No']}.",
                )

    # --- lines ----------------------------------------------------------------------------------------------
    def _finish(
        self, ctx: Context, document: dict[str, Any], existing: dict[int, dict], changes: list[LineInput]
    ) -> dict[str, Any]:
        """Apply line changes, recompute every line and the totals, and write what changed."""
        touched: dict[int, bool] = {}  # changed line → its Line_Amount was given
        for change in changes:
            line = self._line_for(ctx, document, existing, change)
            existing[line["Line_No"]] = line
            touched[line["Line_No"]] = "Line_Amount" in change.values
        vat = vat_percent(ctx.settings, document["Bill_to_Country_Region_Code"])
        amount = including = Decimal(0)
        for line_no in sorted(existing):
            line = existing[line_no]
            before = dict(line)
            compute_line(line, vat, document["Prices_Including_VAT"], line_amount_given=touched.get(line_no, False))
            if line_no in touched or line != before:
                line["Row_Version"] = line["_version"] = ctx.tx.next_row_version()
                ctx.tx.save(self.lines, line)
            amount += line["Amount"]
            including += line["Amount_Including_VAT"]
        document["Amount"] = amount
        document["Amount_Including_VAT"] = including
        document["SystemModifiedAt"] = ctx.now
        document["Row_Version"] = document["_version"] = ctx.tx.next_row_version()
        ctx.tx.save(self.table, document)
        return document

    def _line_for(
        self, ctx: Context, document: dict[str, Any], existing: dict[int, dict], change: LineInput
    ) -> dict[str, Any]:
        values = dict(change.values)
        if change.key:
            pk, version = self.lines.parse_key(change.key)
            if pk[0] != document["No"]:
                raise not_found(self.lines, pk)
            line = check_version(self.lines, existing.get(pk[1]), pk, version)
        else:
            if not document["Sell_to_Customer_No"]:
                raise test_field("Sell-to Customer No.", self.table, (document["No"],))
            line_no = values.get("Line_No") or max(existing, default=0) + 10000
            if line_no in existing:
                raise already_exists(self.lines, (document["No"], line_no))
            line = {**new_record(self.lines), "Document_No": document["No"], "Line_No": line_no, "_version": 0}
            line["VAT_Calculation_Type"] = "Normal_VAT"
        inserted = not change.key
        number_changed = "No" in values and values["No"] != line["No"]
        for page_field in self.page.subpage.fields if self.page.subpage else ():
            if page_field.name in values and not page_field.read_only and page_field.name != "Line_No":
                line[page_field.name] = values[page_field.name]
        if not line["Type"] and line["No"]:
            raise test_field("Type", self.lines, (document["No"], line["Line_No"]))
        if line["Type"] == "Item" and line["No"] and (number_changed or inserted):
            self._item_defaults(ctx, line, values)
        return line

    def _item_defaults(self, ctx: Context, line: dict[str, Any], values: dict[str, Any]) -> None:
        item = ctx.tx.get(TABLES["item"], (line["No"],))
        if item is None:
            if ctx.settings.validation.require_known_items:
                raise relation("No.", self.lines, line["No"], "Item")
            return
        if item["Blocked"]:
            raise SoapFault("NavNCLDialogException", f"You cannot sell Item {item['No']} because it is blocked.")
        if "Description" not in values:
            line["Description"] = item["Description"]
        if "Unit_of_Measure_Code" not in values:
            line["Unit_of_Measure_Code"] = item["Base_Unit_of_Measure"]
        if "Unit_Price" not in values:
            line["Unit_Price"] = item["Unit_Price"]


def _from_json(table: Table, fields: dict[str, PageField], record: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(record) - set(fields))
    if unknown:
        raise ValueError(f"Unknown {table.caption} fields: {', '.join(unknown)}.")
    return {name: from_json(fields[name], value, table.caption) for name, value in record.items()}


class Customers:
    """Create, Update and Delete on the Customer page (also used by PUT /_sim/customers)."""

    table = TABLES["customer"]

    def put(self, ctx: Context, record: dict[str, Any]) -> bool:
        """Create or update from JSON; whether the customer existed."""
        values = _from_json(self.table, PAGES["customer"].fields_by_name, record)
        existed = ctx.tx.get(self.table, (values.get("No", ""),)) is not None
        self.upsert(ctx, values)
        return existed

    def upsert(self, ctx: Context, values: dict[str, Any], *, create_only: bool = False) -> dict[str, Any]:
        number = values.get("No", "")
        if not number:
            raise test_field("No.", self.table, ("",))
        record = ctx.tx.get(self.table, (number,))
        if record is not None and create_only:
            raise already_exists(self.table, (number,))
        return self._write(ctx, record or {**new_record(self.table), "No": number}, values)

    def update(self, ctx: Context, key: str, values: dict[str, Any]) -> dict[str, Any]:
        pk, version = self.table.parse_key(key)
        record = check_version(self.table, ctx.tx.get(self.table, pk), pk, version)
        if "No" in values and values["No"] != record["No"]:
            raise SoapFault("NavNCLDialogException", "You cannot rename a Customer.")
        return self._write(ctx, record, values)

    def delete(self, ctx: Context, key: str) -> dict[str, Any]:
        pk, version = self.table.parse_key(key)
        record = check_version(self.table, ctx.tx.get(self.table, pk), pk, version)
        number = record["No"]
        in_use = ctx.tx.exists(TABLES["customer_ledger_entries"], "Customer_No = ?", (number,)) or any(
            ctx.tx.exists(TABLES[role], "Sell_to_Customer_No = ? OR Bill_to_Customer_No = ?", (number, number))
            for role in ("sales_invoice", "sales_credit_memo")
        )
        if in_use:
            raise SoapFault(
                "NavNCLDialogException",
                f"You cannot delete Customer {number} because it has ledger entries or open sales documents.",
            )
        ctx.tx.delete(self.table, pk)
        return record

    def _write(self, ctx: Context, record: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        for page_field in PAGES["customer"].fields:
            if page_field.name in values and not page_field.read_only:
                record[page_field.name] = values[page_field.name]
        terms = record["Payment_Terms_Code"]
        if terms and terms not in ctx.settings.payment_terms:
            raise relation("Payment Terms Code", self.table, terms, "Payment Terms")
        record["SystemModifiedAt"] = ctx.now
        record["_version"] = ctx.tx.next_row_version()
        ctx.tx.save(self.table, record)
        return record


class Items:
    """Item master data (PUT /_sim/items); lines of type Item take their defaults from it."""

    table = TABLES["item"]

    def put(self, ctx: Context, record: dict[str, Any]) -> bool:
        """Create or update from JSON; whether the item existed."""
        values = _from_json(self.table, {f.name: f for f in ITEM_FIELDS}, record)
        number = values.get("No", "")
        if not number:
            raise test_field("No.", self.table, ("",))
        existing = ctx.tx.get(self.table, (number,))
        item = existing or new_record(self.table)
        item.update(values, SystemModifiedAt=ctx.now, _version=ctx.tx.next_row_version())
        item["Base_Unit_of_Measure"] = item["Base_Unit_of_Measure"] or "PCS"
        ctx.tx.save(self.table, item)
        return existing is not None
