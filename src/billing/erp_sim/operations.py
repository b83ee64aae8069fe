"""The page operations (§1.2–1.3) on the simulator's tables: XML in, XML out.

``Read`` and ``ReadMultiple`` run in a read transaction; writes in one ``BEGIN IMMEDIATE`` transaction per call
(``CreateMultiple``/``UpdateMultiple`` are all-or-nothing). ReadMultiple returns records in primary-key order
after the bookmark, ANDs its filters, narrows by an index where a filter allows (exact values or a range on a
sortable column) and evaluates every filter exactly with `billing.erp.criteria`. Posted headers get
``Remaining_Amount`` and ``Closed`` from their ledger entry as they are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lxml import etree

from billing.erp import criteria
from billing.erp.pages import PAGES, FieldType, PageDefinition, PageField, filter_fields, namespace
from billing.erp_sim.documents import Context, Customers, LineInput, SalesDocuments
from billing.erp_sim.records import TABLES, format_decimal, from_db, from_xml, to_db, xml_writer
from billing.erp_sim.soap import SoapFault
from billing.erp_sim.store import Store, Tx

#: Column types whose SQLite order is the value order (index narrowing is safe on them).
_SORTABLE = (
    FieldType.CODE,
    FieldType.TEXT,
    FieldType.INTEGER,
    FieldType.BIGINTEGER,
    FieldType.DATE,
    FieldType.DATETIME,
)


@dataclass
class Outcome:
    """An operation's result element and, for the request log, the document it touched."""

    result: bytes  # the serialized {Operation}_Result element
    document_no: str = ""
    external_document_no: str = ""


@dataclass
class RecordInput:
    key: str | None
    values: dict[str, Any]
    lines: list[LineInput]


class PageService:
    """One served page: parses requests, runs the operation against the store, renders the result."""

    def __init__(self, page: PageDefinition, service_name: str) -> None:
        self.page = page
        self.name = service_name
        self.ns = namespace(service_name)
        self.table = TABLES[page.role]
        self.line_table = TABLES.get(f"{page.role}_line")
        self.filterable = frozenset(filter_fields(page))
        self._writers = [(f.name, xml_writer(f.type)) for f in page.fields]
        self._line_writers = [(f.name, xml_writer(f.type)) for f in page.subpage.fields] if page.subpage else []
        self.documents = SalesDocuments(page.role) if page.subpage and not page.read_only else None
        self.customers = Customers() if page.role == "customer" else None
        self._reads: dict[str, Callable[[Tx, etree._Element], Outcome]] = {
            "Read": self._read,
            "ReadMultiple": self._read_multiple,
            "IsUpdated": self._is_updated,
            "GetRecIdFromKey": self._get_rec_id,
        }
        self._writes: dict[str, Callable[[Context, etree._Element], Outcome]] = {
            "Create": self._create,
            "CreateMultiple": self._create_multiple,
            "Update": self._update,
            "UpdateMultiple": self._update_multiple,
            "Delete": self._delete,
        }  # and Delete_{Subpage}

    def invoke(
        self, store: Store, make_context: Callable[[Tx], Context], operation: str, body: etree._Element
    ) -> Outcome:
        if operation not in self.page.operations:
            raise SoapFault.client(f"The operation {operation} is not offered by page {self.name}.")
        # reads see one snapshot; writes (and Delete_{Subpage}) run in one BEGIN IMMEDIATE transaction
        read = self._reads.get(operation)
        if read is not None:
            with store.read() as tx:
                return read(tx, body)
        with store.write() as tx:
            return self._writes.get(operation, self._delete_line)(make_context(tx), body)

    # --- XML helpers ----------------------------------------------------------------------------------------
    def _children(self, element: etree._Element) -> Iterator[tuple[str, etree._Element]]:
        for child in element:
            if not isinstance(child.tag, str):
                continue
            qname = etree.QName(child)
            if qname.namespace != self.ns:
                raise SoapFault.client(f"The element {qname.localname} is not in the namespace {self.ns}.")
            yield qname.localname, child

    def _text(self, element: etree._Element, name: str, required: bool = True) -> str | None:
        found = [child for local, child in self._children(element) if local == name]
        if not found:
            if required:
                raise SoapFault.client(f"The element {name} is missing in {etree.QName(element).localname}.")
            return None
        return found[0].text or ""

    def _parse_values(self, element: etree._Element, fields: dict[str, PageField], caption: str) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for local, child in self._children(element):
            if local == "Key" or (self.page.subpage and local == self.page.subpage.name):
                continue
            page_field = fields.get(local)
            if page_field is None:
                raise SoapFault.client(f"The element {local} is not a field of {caption}.")
            if not page_field.read_only:
                values[local] = from_xml(page_field, child.text, caption)
        return values

    def _parse_record(self, element: etree._Element) -> RecordInput:
        values = self._parse_values(element, self.page.fields_by_name, self.table.caption)
        lines: list[LineInput] = []
        subpage = self.page.subpage
        for local, child in self._children(element):
            if subpage and local == subpage.name:
                for line_name, line in self._children(child):
                    if line_name != subpage.type_name:
                        raise SoapFault.client(f"{subpage.name} may only hold {subpage.type_name} elements.")
                    key = self._text(line, "Key", required=False)
                    line_values = self._parse_values(line, subpage.fields_by_name, subpage.table)
                    lines.append(LineInput(key or None, line_values))
        return RecordInput(self._text(element, "Key", required=False) or None, values, lines)

    def _records(self, body: etree._Element, many: bool) -> list[RecordInput]:
        if not many:
            return [self._parse_record(self._single(body, self.name))]
        container = self._single(body, f"{self.name}_List")
        records = [self._parse_record(child) for local, child in self._children(container) if local == self.name]
        if not records:
            raise SoapFault.client(f"{self.name}_List must hold at least one {self.name}.")
        return records

    def _single(self, body: etree._Element, name: str) -> etree._Element:
        found = [child for local, child in self._children(body) if local == name]
        if len(found) != 1:
            raise SoapFault.client(f"The request must hold exactly one {name} element.")
        return found[0]

    def raw_record(self, tx: Tx, row: Any) -> dict[str, Any]:
        """A stored row as a dict; posted headers get ``Remaining_Amount`` and ``Closed`` from their ledger entry."""
        raw = dict(row)
        if self.page.read_only and self.page.subpage:
            entry = tx.execute(
                "SELECT Remaining_Amount, Open FROM customer_ledger_entries WHERE Entry_No = ?",
                (raw["Cust_Ledger_Entry_No"],),
            ).fetchone()
            remaining = Decimal(entry[0]) if entry and entry[0] else Decimal(0)
            sign = -1 if self.page.role == "posted_sales_credit_memo" else 1
            raw["Remaining_Amount"] = format_decimal(sign * remaining)
            raw["Closed"] = 0 if entry and entry[1] else 1
        return raw

    def typed(self, raw: dict[str, Any]) -> dict[str, Any]:
        """A raw record with Python values (page fields only)."""
        return {f.name: from_db(f.type, raw[f.name]) for f in self.page.fields}

    def _xml(self, raw: dict[str, Any], lines: list[dict[str, Any]]) -> str:
        parts = [f"<{self.name}><Key>{self.table.key(raw)}</Key>"]
        for name, write in self._writers:
            text = write(raw[name])
            if text is not None:
                parts.append(f"<{name}>{text}</{name}>")
        subpage = self.page.subpage
        if subpage and lines:
            assert self.line_table is not None
            parts.append(f"<{subpage.name}>")
            for line in lines:
                parts.append(f"<{subpage.type_name}><Key>{self.line_table.key(line)}</Key>")
                for name, write in self._line_writers:
                    text = write(line[name])
                    if text is not None:
                        parts.append(f"<{name}>{text}</{name}>")
                parts.append(f"</{subpage.type_name}>")
            parts.append(f"</{subpage.name}>")
        parts.append(f"</{self.name}>")
        return "".join(parts)

    def _result(self, operation: str, inner: str = "") -> bytes:
        return f'<{operation}_Result xmlns="{self.ns}">{inner}</{operation}_Result>'.encode()

    def _scalar(self, operation: str, value: str) -> bytes:
        return self._result(operation, f"<{operation}_Result>{value}</{operation}_Result>")

    def _lines_of(self, tx: Tx, numbers: list[str]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {number: [] for number in numbers}
        if self.line_table is None:
            return found
        for start in range(0, len(numbers), 500):
            chunk = numbers[start : start + 500]
            where = f"Document_No IN ({', '.join('?' for _ in chunk)})"
            for row in tx.rows(self.line_table, where, chunk, "Document_No, Line_No"):
                found[row["Document_No"]].append(dict(row))
        return found

    def _outcome(self, tx: Tx, operation: str, records: list[dict[str, Any]], container: str | None) -> Outcome:
        """``{operation}_Result`` with the (raw) records, inside a ``container`` element if named and not empty."""
        lines = self._lines_of(tx, [r["No"] for r in records]) if self.line_table else {}
        inner = "".join(self._xml(record, lines.get(record.get("No", ""), [])) for record in records)
        if container and inner:
            inner = f"<{container}>{inner}</{container}>"
        outcome = Outcome(self._result(operation, inner))
        if len(records) <= 20:  # the request log names the documents of small results
            outcome.document_no = ",".join(str(r.get("No", "")) for r in records)
            outcome.external_document_no = ",".join(r.get("External_Document_No", "") for r in records)
        return outcome

    def _written(self, tx: Tx, operation: str, records: list[dict[str, Any]], container: str | None) -> Outcome:
        """The outcome of a write: the records as now stored."""
        pk = self.table.pk[0]
        stored = [self.raw_record(tx, self._row(tx, record[pk])) for record in records]
        return self._outcome(tx, operation, stored, container)

    def _row(self, tx: Tx, value: Any) -> Any:
        return tx.execute(f"SELECT * FROM {self.table.name} WHERE {self.table.pk[0]} = ?", (value,)).fetchone()

    # --- reads ----------------------------------------------------------------------------------------------
    def _read(self, tx: Tx, body: etree._Element) -> Outcome:
        pk = tuple(
            from_xml(self.page.field(name), self._text(body, name), self.table.caption) for name in self.page.key
        )
        row = self._row(tx, pk[0])
        return self._outcome(tx, "Read", [self.raw_record(tx, row)] if row else [], None)

    def _read_multiple(self, tx: Tx, body: etree._Element) -> Outcome:
        filters: list[tuple[str, criteria.Criteria]] = []
        for local, child in self._children(body):
            if local != "filter":
                continue
            name = self._text(child, "Field") or ""
            if name not in self.filterable:
                raise SoapFault.client(f"'{name}' is not a valid value for {self.name}_Fields.")
            text = self._text(child, "Criteria") or ""
            try:
                filters.append((name, criteria.parse(text, self.page.field(name).type)))
            except criteria.CriteriaError as exc:
                raise SoapFault("NavFilterException", f"{exc} (field {name})") from None
        bookmark = self._text(body, "bookmarkKey", required=False)
        set_size_text = self._text(body, "setSize") or "0"
        try:
            set_size = int(set_size_text)
        except ValueError:
            raise SoapFault.client(f"setSize '{set_size_text}' is not an integer.") from None
        where, params = self._narrowing(filters)
        pk_column = self.table.pk[0]
        if bookmark:
            try:
                (position,), _ = self.table.parse_key(bookmark)
            except SoapFault:
                raise SoapFault(
                    "NavFilterException", f"The bookmark key '{bookmark}' is not valid for this page."
                ) from None
            where += f" AND {pk_column} > ?"
            params.append(position)
        records = []
        for row in tx.rows(self.table, where, params, pk_column):
            record = self.raw_record(tx, row)
            if all(test(from_db(test.field_type, record[name])) for name, test in filters):
                records.append(record)
                if 0 < set_size <= len(records):
                    break
        return self._outcome(tx, "ReadMultiple", records, "ReadMultiple_Result")

    def _narrowing(self, filters: list[tuple[str, criteria.Criteria]]) -> tuple[str, list[Any]]:
        """A SQL condition that every match satisfies (an index can serve it); the filters decide exactly."""
        clauses: list[str] = ["1"]
        params: list[Any] = []
        columns = set(self.table.columns)
        for name, test in filters:
            kind = test.field_type
            if name not in columns or kind not in _SORTABLE:
                continue
            values = test.exact_values()
            if values is not None:
                clauses.append(f"{name} IN ({', '.join('?' for _ in values)})")
                params.extend(to_db(kind, value) for value in values)
                continue
            bounds = test.bounds()
            if bounds is None:
                continue
            if bounds.lower is not None:
                clauses.append(f"{name} {'>=' if bounds.lower_inclusive else '>'} ?")
                params.append(to_db(kind, bounds.lower))
            if bounds.upper is not None:
                clauses.append(f"{name} {'<=' if bounds.upper_inclusive else '<'} ?")
                params.append(to_db(kind, bounds.upper))
        return " AND ".join(clauses), params

    def _is_updated(self, tx: Tx, body: etree._Element) -> Outcome:
        pk, version = self.table.parse_key(self._text(body, "Key") or "")
        record = tx.get(self.table, pk)
        return Outcome(
            self._scalar("IsUpdated", "true" if record is None or record["_version"] != version else "false")
        )

    def _get_rec_id(self, tx: Tx, body: etree._Element) -> Outcome:
        pk, _ = self.table.parse_key(self._text(body, "Key") or "")
        return Outcome(self._scalar("GetRecIdFromKey", self.table.rec_id(pk)))

    # --- writes ---------------------------------------------------------------------------------------------
    def _write(self, ctx: Context, record: RecordInput, create: bool) -> dict[str, Any]:
        if self.documents is not None:
            if create:
                return self.documents.create(ctx, record.values, record.lines)
            return self.documents.update(ctx, self._require_key(record), record.values, record.lines)
        assert self.customers is not None
        if create:
            return self.customers.upsert(ctx, record.values, create_only=True)
        return self.customers.update(ctx, self._require_key(record), record.values)

    def _require_key(self, record: RecordInput) -> str:
        if not record.key:
            raise SoapFault.client(f"Update needs the Key of the {self.table.caption} record.")
        return record.key

    def _create(self, ctx: Context, body: etree._Element) -> Outcome:
        return self._written(ctx.tx, "Create", [self._write(ctx, r, True) for r in self._records(body, False)], None)

    def _create_multiple(self, ctx: Context, body: etree._Element) -> Outcome:
        records = [self._write(ctx, r, True) for r in self._records(body, True)]
        return self._written(ctx.tx, "CreateMultiple", records, f"{self.name}_List")

    def _update(self, ctx: Context, body: etree._Element) -> Outcome:
        return self._written(ctx.tx, "Update", [self._write(ctx, r, False) for r in self._records(body, False)], None)

    def _update_multiple(self, ctx: Context, body: etree._Element) -> Outcome:
        records = [self._write(ctx, r, False) for r in self._records(body, True)]
        return self._written(ctx.tx, "UpdateMultiple", records, f"{self.name}_List")

    def _delete(self, ctx: Context, body: etree._Element) -> Outcome:
        key = self._text(body, "Key") or ""
        owner = self.documents or self.customers
        assert owner is not None
        record = owner.delete(ctx, key)
        return Outcome(
            self._scalar("Delete", "true"), str(record.get("No", "")), record.get("External_Document_No", "")
        )

    def _delete_line(self, ctx: Context, body: etree._Element) -> Outcome:
        assert self.documents is not None and self.page.subpage is not None
        operation = f"Delete_{self.page.subpage.name}"
        document = self.documents.delete_line(ctx, self._text(body, f"{self.page.subpage.name}_Key") or "")
        return Outcome(self._scalar(operation, "true"), document["No"], document["External_Document_No"])


def page_services() -> dict[str, PageService]:
    """Every page under its default service name, keyed by the name in lower case (URLs ignore case)."""
    return {page.default_name.lower(): PageService(page, page.default_name) for page in PAGES.values()}
