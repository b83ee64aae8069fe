"""Bulk posted documents for pull benchmarks and scenarios (erp-integration.md §6.13, §7 P3/P4):
`generate_posted_invoices` writes posted sales invoices (and credit memos) with their lines and customer ledger
entries straight into the simulator's state file, exactly as the posting run would have left them.

Each document is what posting an unposted document made with Create/Update would give: a customer (a seeded
draw from the simulator's customers that may be invoiced, or from the ones named), its Sell-to and Bill-to
fields, currency and payment terms; 1–20 lines (``lines``) of the simulator's items (a seeded price where the
item has none; a G/L account line when there are no items), amounts and VAT computed by `documents.compute_line`
with the Bill-to country's rate, the header's ``Amount``/``Amount_Including_VAT`` their sums and ``Due_Date``
from the payment terms. Posting then numbers it from both series (the unposted number
becomes ``Pre_Assigned_No``), freezes header and lines (`posting.posted_header`, `posting.posted_line`) and
appends its open ledger entry (`posting.ledger_entry`: invoices positive, credit memos negative,
``Remaining_Amount`` = amount including VAT). Credit memos are not applied to anything.

Number series (unposted and posted), ledger entry numbers and the global ``Row_Version`` are reserved in blocks,
so later Create/posting continues after them without collisions. ``SystemModifiedAt`` (and the document, posting
and ledger dates) is the simulated now, or spread evenly over ``modified_between`` in number order; invoices and
credit memos are interleaved, so numbers, entry numbers, versions and times all rise together.

Documents are written ``chunk_size`` at a time, each chunk in one ``BEGIN IMMEDIATE`` transaction with
``executemany``: memory stays flat, a serving simulator keeps answering between chunks, and a failure keeps the
chunks committed before it. Payments are not planned unless ``plan_payments`` (then as posting plans them).

    summary = generate_posted_invoices(sim.store, sim.context(), 20_000, lines=(3, 3))
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from billing.erp.pages import PAGES
from billing.erp_sim.documents import (
    Context,
    bill_to_fields,
    compute_line,
    currency_factor,
    customer,
    due_date,
    new_record,
    sell_to_fields,
    vat_percent,
)
from billing.erp_sim.posting import (
    KINDS,
    LEDGER,
    PLAN_PAYMENT_SQL,
    entry_fields,
    ledger_entry,
    payment_plan,
    posted_header,
    posted_line,
)
from billing.erp_sim.records import TABLES, Table, format_datetime, from_json, to_db
from billing.erp_sim.settings import ErpSimSettings
from billing.erp_sim.store import Store, Tx

#: prices of lines whose item has none (the demo items have none)
PRICE_POINTS = tuple(Decimal(p) for p in ("0.99", "4.5", "9.99", "12.5", "19", "25", "49.9", "99", "120", "250"))
QUANTITIES = tuple(Decimal(q) for q in range(1, 11))
DISCOUNT_SHARE = 0.1  # lines with a 10 % line discount
MAX_LINES = 1000
_LINE_MEMO_MAX = 50_000  # distinct line shapes remembered (beyond: forgotten, so memory stays flat)
_GL_LINE = {
    "Type": "G_L_Account",
    "No": "6110",
    "Description": "Fee",
    "Unit_of_Measure_Code": "",
    "Unit_Price": Decimal(0),
}


@dataclass
class GenerationSummary:
    invoices: int = 0
    credit_memos: int = 0
    lines: int = 0
    ledger_entries: int = 0
    payment_plans: int = 0
    customers: int = 0
    numbers: dict[str, list[str]] = field(default_factory=dict)  # page → [first, last] posted number
    modified_from: datetime | None = None
    modified_to: datetime | None = None
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "invoices": self.invoices,
            "creditMemos": self.credit_memos,
            "lines": self.lines,
            "ledgerEntries": self.ledger_entries,
            "paymentPlans": self.payment_plans,
            "customers": self.customers,
            "numbers": self.numbers,
            "modifiedFrom": format_datetime(self.modified_from) if self.modified_from else None,
            "modifiedTo": format_datetime(self.modified_to) if self.modified_to else None,
            "seconds": round(self.seconds, 3),
        }


def generate_posted_invoices(
    store: Store,
    make_context: Callable[[Tx], Context],
    count: int,
    *,
    lines: tuple[int, int] = (1, 20),
    customers: Sequence[str] | None = None,
    seed: int = 0,
    credit_memos: int = 0,
    external_document_nos: Sequence[str] = (),
    credit_memo_external_document_nos: Sequence[str] = (),
    modified_between: tuple[datetime, datetime | None] | None = None,
    plan_payments: bool = False,
    chunk_size: int = 2_000,
) -> GenerationSummary:
    """Write ``count`` posted sales invoices and ``credit_memos`` posted credit memos (see the module docstring).

    ``external_document_nos[i]`` becomes the ``External_Document_No`` of the i-th invoice (blank beyond the
    list), likewise for credit memos; ``modified_between`` = (from, to or None for the simulated now). Raises
    ValueError on bad arguments or when there is no customer to invoice, and the ERP's SoapFault for a named
    customer that does not exist or is blocked.
    """
    started = time.perf_counter()
    low, high = lines
    if count < 0 or credit_memos < 0 or chunk_size < 1:
        raise ValueError("count, credit_memos and chunk_size must not be negative (chunk_size ≥ 1).")
    if not 1 <= low <= high <= MAX_LINES:
        raise ValueError(f"lines must be [min, max] with 1 <= min <= max <= {MAX_LINES}.")
    with store.read() as tx:
        ctx = make_context(tx)
        parties = _customers(ctx, customers)
        items = _items(tx)
    window = _window(modified_between, ctx.now)
    generator = _Generator(ctx.settings, parties, items, random.Random(seed), (low, high), plan_payments)
    externals = {
        "Invoice": _externals(external_document_nos, "posted_sales_invoice"),
        "Credit_Memo": _externals(credit_memo_external_document_nos, "posted_sales_credit_memo"),
    }
    total = count + credit_memos
    summary = GenerationSummary(customers=len(parties), modified_from=window[0], modified_to=window[1])
    kinds = _interleaved(count, credit_memos)
    for start in range(0, total, chunk_size):
        chunk = [next(kinds) for _ in range(min(chunk_size, total - start))]
        with store.write() as tx:
            generator.write_chunk(tx, chunk, start, total, window, externals, summary)
    summary.seconds = time.perf_counter() - started
    return summary


def _customers(ctx: Context, numbers: Sequence[str] | None) -> list[dict[str, Any]]:
    """The customers to invoice: the named ones (each must exist and not be blocked), else every customer that
    may be invoiced."""
    if numbers is not None:
        if not numbers:
            raise ValueError("customers must name at least one customer.")
        return [customer(ctx, no.upper(), "Sell-to Customer No.", TABLES["sales_invoice"]) for no in numbers]
    found = ctx.tx.select(TABLES["customer"], "Blocked NOT IN ('Invoice', 'All')")
    if not found:
        raise ValueError("The simulator has no customer to invoice: seed some first (billing erp-sim seed demo).")
    return found


def _items(tx: Tx) -> list[dict[str, Any]]:
    """Line templates: the items that may be sold (Type Item, their description, unit and price), else one G/L
    account line."""
    items = tx.select(TABLES["item"], "Blocked = 0")
    if not items:
        return [dict(_GL_LINE)]
    return [
        {
            "Type": "Item",
            "No": item["No"],
            "Description": item["Description"],
            "Unit_of_Measure_Code": item["Base_Unit_of_Measure"],
            "Unit_Price": item["Unit_Price"],
        }
        for item in items
    ]


def _window(between: tuple[datetime, datetime | None] | None, now: datetime) -> tuple[datetime, datetime]:
    if between is None:
        return now, now
    start, end = (
        moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment for moment in (between[0], between[1] or now)
    )
    if start > end:
        raise ValueError("modified_between must be [from, to] with from <= to.")
    return start, end


def _externals(values: Sequence[str], role: str) -> list[str]:
    """Caller-given External_Document_No values, checked like the ERP checks a request (upper case, length)."""
    page_field = PAGES[role].field("External_Document_No")
    return [from_json(page_field, value, TABLES[role].caption) for value in values]


def _interleaved(invoices: int, credit_memos: int) -> Iterator[str]:
    """Document types in number order: the credit memos spread evenly among the invoices."""
    total = invoices + credit_memos
    for k in range(total):
        yield "Credit_Memo" if (k + 1) * credit_memos // total > k * credit_memos // total else "Invoice"


class _RowTemplate:
    """A table row built once from a record; per document only the changing columns are set (converted to their
    stored form), which keeps 100,000 documents within seconds."""

    def __init__(self, table: Table, record: dict[str, Any]) -> None:
        self.row = list(table.to_row({**record, "_version": 0}))
        self.index = {name: position for position, name in enumerate(table.columns)}
        self.types = {f.name: f.type for f in table.fields}

    def fill(self, values: dict[str, Any]) -> list[Any]:
        row = self.row.copy()
        for name, value in values.items():
            row[self.index[name]] = value if name == "_version" else to_db(self.types[name], value)
        return row


@dataclass
class _Party:
    """One customer: its unposted header fields and posted header row template per document type, its VAT."""

    headers: dict[str, dict[str, Any]]  # Document_Type → unposted header
    rows: dict[str, _RowTemplate]  # Document_Type → posted header row
    vat: Decimal


class _Generator:
    def __init__(
        self,
        settings: ErpSimSettings,
        customers: list[dict[str, Any]],
        items: list[dict[str, Any]],
        rng: random.Random,
        lines: tuple[int, int],
        plan_payments: bool,
    ) -> None:
        self.settings = settings
        self.rng = rng
        self.lines = lines
        self.items = items
        self.plan_payments = plan_payments
        self.roles = {document_type: (role, posted_role) for role, (posted_role, document_type) in KINDS.items()}
        self.parties = [self._party(record) for record in customers]
        self.written = {"Invoice": 0, "Credit_Memo": 0}  # documents of each type written so far
        self._line_rows: dict[tuple[Any, ...], tuple[_RowTemplate, Decimal, Decimal]] = {}

    def _party(self, record: dict[str, Any]) -> _Party:
        """The header an unposted document for this customer gets on Create (Sell-to = Bill-to = the customer)."""
        headers, rows = {}, {}
        for document_type, (role, posted_role) in self.roles.items():
            header = {**new_record(TABLES[role]), "Status": "Open"}
            header.update(Sell_to_Customer_No=record["No"], Bill_to_Customer_No=record["No"])
            header.update(sell_to_fields(record))
            header.update(bill_to_fields(record))
            header["Currency_Factor"] = currency_factor(self.settings, header["Currency_Code"])
            headers[document_type] = header
            posted = posted_header(posted_role, header, posted_no="", entry_no=0, now=datetime.now(UTC))
            rows[document_type] = _RowTemplate(TABLES[posted_role], posted)
        return _Party(headers, rows, vat_percent(self.settings, record["Country_Region_Code"]))

    def write_chunk(
        self,
        tx: Tx,
        chunk: list[str],
        start: int,
        total: int,
        window: tuple[datetime, datetime],
        externals: dict[str, list[str]],
        summary: GenerationSummary,
    ) -> None:
        """Write the documents at positions ``start``… (of types ``chunk``) in this transaction."""
        rng, (low, high), series = self.rng, self.lines, self.settings.number_series
        plan = [
            (kind, self.parties[int(rng.random() * len(self.parties))], low + int(rng.random() * (high - low + 1)))
            for kind in chunk
        ]
        # numbers, entry numbers and versions of the whole chunk, taken at once (posting takes them one by one)
        first: dict[str, tuple[int, int]] = {}  # Document_Type → first unposted and posted number
        for document_type, (role, posted_role) in self.roles.items():
            n = chunk.count(document_type)
            if n:
                first[document_type] = (
                    tx.reserve_numbers(getattr(series, role), n),
                    tx.reserve_numbers(getattr(series, posted_role), n),
                )
        entry_no = tx.reserve_numbers("ENTRY", len(chunk))
        version = tx.reserve_row_versions(sum(2 + n_lines for _, _, n_lines in plan))
        in_chunk = {"Invoice": 0, "Credit_Memo": 0}
        rows: dict[str, list[list[Any]]] = defaultdict(list)
        payments: list[tuple[str, str, str | None]] = []
        step = (window[1] - window[0]) / max(total - 1, 1)
        for offset, (document_type, party, n_lines) in enumerate(plan):
            moment = window[0] + step * (start + offset)
            today = moment.date()
            role, posted_role = self.roles[document_type]
            ordinal = self.written[document_type]
            number = series.number(getattr(series, role), first[document_type][0] + in_chunk[document_type])
            posted_no = series.number(getattr(series, posted_role), first[document_type][1] + in_chunk[document_type])
            self.written[document_type] += 1
            in_chunk[document_type] += 1
            given = externals[document_type]
            # versions as posting takes them: the ledger entry, the header, then the lines
            line_rows, amount, including = self._lines(posted_role, party, posted_no, n_lines, version + 2)
            header = party.headers[document_type]
            document = {
                **header,
                "No": number,
                "External_Document_No": given[ordinal] if ordinal < len(given) else "",
                "Document_Date": today,
                "Posting_Date": today,
                "Due_Date": due_date(self.settings, header["Payment_Terms_Code"], today),
                "Amount": amount,
                "Amount_Including_VAT": including,
            }
            entry = ledger_entry(
                entry_no=entry_no + offset,
                now=moment,
                **entry_fields(document_type, document, posted_no, today),
            )
            entry["_version"] = version
            rows[LEDGER.name].append(list(LEDGER.to_row(entry)))
            posted = {
                "No": posted_no,
                "Pre_Assigned_No": number,
                "Cust_Ledger_Entry_No": entry["Entry_No"],
                "SystemModifiedAt": moment,
                "Row_Version": version + 1,
                "_version": version + 1,
            }
            for name in ("External_Document_No", "Document_Date", "Posting_Date", "Due_Date", "Amount"):
                posted[name] = document[name]
            posted["Amount_Including_VAT"] = including
            rows[posted_role].append(party.rows[document_type].fill(posted))
            rows[f"{posted_role}_line"] += line_rows
            version += 2 + n_lines
            if self.plan_payments and document_type == "Invoice":
                payments += payment_plan(self.settings, moment, posted_no, entry["Amount"])
            summary.numbers.setdefault(PAGES[posted_role].default_name, [posted_no, posted_no])[1] = posted_no
            summary.lines += n_lines
        for name, table_rows in rows.items():
            tx.insert_many(TABLES[name], table_rows)
        tx.conn.executemany(PLAN_PAYMENT_SQL, payments)
        summary.invoices += in_chunk["Invoice"]
        summary.credit_memos += in_chunk["Credit_Memo"]
        summary.ledger_entries += len(chunk)
        summary.payment_plans += len(payments)

    def _lines(
        self, posted_role: str, party: _Party, posted_no: str, n_lines: int, first_version: int
    ) -> tuple[list[list[Any]], Decimal, Decimal]:
        """The document's posted line rows and the sums of their Amount and Amount_Including_VAT."""
        rng, items = self.rng, self.items
        prices_including_vat = party.headers["Invoice"]["Prices_Including_VAT"]
        amount = including = Decimal(0)
        result = []
        for k in range(n_lines):
            item = items[int(rng.random() * len(items))]
            price = item["Unit_Price"] or PRICE_POINTS[int(rng.random() * len(PRICE_POINTS))]
            quantity = QUANTITIES[int(rng.random() * len(QUANTITIES))]
            discounted = rng.random() < DISCOUNT_SHARE
            template, line_amount, line_including = self._line_shape(
                posted_role, item, price, quantity, discounted, party.vat, prices_including_vat
            )
            row = template.row.copy()
            index = template.index
            row[index["Line_No"]] = (k + 1) * 10000
            row[index["Document_No"]] = posted_no
            row[index["Row_Version"]] = row[index["_version"]] = first_version + k
            result.append(row)
            amount += line_amount
            including += line_including
        return result, amount, including

    def _line_shape(
        self,
        posted_role: str,
        item: dict[str, Any],
        price: Decimal,
        quantity: Decimal,
        discounted: bool,
        vat: Decimal,
        prices_including_vat: bool,
    ) -> tuple[_RowTemplate, Decimal, Decimal]:
        """A posted line of this shape (Line_No, document and versions aside) and its Amount and
        Amount_Including_VAT, computed once by the ERP's line rules (`documents.compute_line`)."""
        key = (posted_role, item["No"], price, quantity, discounted, vat, prices_including_vat)
        found = self._line_rows.get(key)
        if found is not None:
            return found
        role = posted_role.removeprefix("posted_")
        line = {**new_record(TABLES[f"{role}_line"]), **item, "Quantity": quantity, "Unit_Price": price}
        line["VAT_Calculation_Type"] = "Normal_VAT"
        if discounted:  # 10 %, rounded by compute_line
            line["Line_Discount_Amount"] = quantity * price / 10
        compute_line(line, vat, prices_including_vat, line_amount_given=False)
        posted = {**posted_line(posted_role, line, ""), "Row_Version": 0}
        found = (_RowTemplate(TABLES[f"{posted_role}_line"], posted), line["Amount"], line["Amount_Including_VAT"])
        if len(self._line_rows) >= _LINE_MEMO_MAX:
            self._line_rows.clear()
        self._line_rows[key] = found
        return found
