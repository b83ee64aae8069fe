"""Finance's side of the ERP (§2.3): the posting run, customer ledger entries, applications and payments.

Posting an unposted document (≥ 1 line, unchanged for ``posting.delay_s`` simulated seconds, or at once with
post-now) gives it a posted number, copies header and lines with ``Pre_Assigned_No`` = the unposted number
(VAT and amounts frozen), appends one ledger entry (invoice positive, credit memo negative,
``Remaining_Amount`` = amount including VAT), deletes the unposted document and, for a credit memo with
``Applies_to_Doc_No``, applies it to that posted invoice's open entry. Each document posts in its own
transaction.

Posting an invoice also plans its payment (deterministic per document number and seed): paid with
probability ``share_paid`` after uniform ``days_to_pay`` simulated days, in two instalments with probability
``partial_share``. A payment appends a ``Payment`` entry applied to the invoice's entry, lowering its
``Remaining_Amount`` and closing it at 0; posted headers show ``Remaining_Amount``/``Closed`` from the entry
when read, so their ``SystemModifiedAt``/``Row_Version`` do not change.

The pieces of a posting (`posted_header`, `posted_line`, `entry_fields`, `ledger_entry`, `payment_plan`) are
shared with the bulk generation of posted documents (`billing.erp_sim.generate`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from billing.erp.pages import PAGES
from billing.erp_sim.documents import Context, new_record
from billing.erp_sim.records import TABLES, format_datetime, rounded
from billing.erp_sim.settings import ErpSimSettings
from billing.erp_sim.store import Store, Tx

LEDGER = TABLES["customer_ledger_entries"]
#: unposted role → (posted role, ledger Document_Type)
KINDS = {
    "sales_invoice": ("posted_sales_invoice", "Invoice"),
    "sales_credit_memo": ("posted_sales_credit_memo", "Credit_Memo"),
}


class PaymentError(ValueError):
    """A payment the ERP would refuse (unknown or closed invoice, bad amount)."""


@dataclass
class PostingResult:
    posted: list[dict[str, str]] = field(default_factory=list)  # {"page", "preAssignedNo", "no"}
    failed: list[str] = field(default_factory=list)  # unposted numbers left by failure_probability
    payments: list[dict[str, str]] = field(default_factory=list)  # {"documentNo", "paymentNo", "amount"}

    def as_json(self) -> dict[str, Any]:
        return {"posted": self.posted, "failed": self.failed, "payments": self.payments}


def due_documents(tx: Tx, role: str, changed_before: str | None) -> list[str]:
    """Unposted numbers with at least one line and a customer, unchanged since ``changed_before`` (if given)."""
    table, lines = TABLES[role], TABLES[f"{role}_line"]
    where = f"Sell_to_Customer_No <> '' AND EXISTS (SELECT 1 FROM {lines.name} l WHERE l.Document_No = h.No)"
    params: list[Any] = []
    if changed_before is not None:
        where += " AND SystemModifiedAt <= ?"
        params.append(changed_before)
    return [row[0] for row in tx.execute(f"SELECT No FROM {table.name} h WHERE {where} ORDER BY No", params)]


def run_posting(
    store: Store, make_context: Callable[[Tx], Context], *, ignore_delay: bool, rng: random.Random
) -> PostingResult:
    """Post every due document, each in its own transaction. ``make_context(tx)`` gives the operation context."""
    result = PostingResult()
    with store.read() as tx:
        probe = make_context(tx)
        cutoff = (
            None if ignore_delay else format_datetime(probe.now - timedelta(seconds=probe.settings.posting.delay_s))
        )
        due = [(role, no) for role in KINDS for no in due_documents(tx, role, cutoff)]
    for role, number in due:
        if not ignore_delay and rng.random() < probe.settings.posting.failure_probability:
            result.failed.append(number)
            continue
        with store.write() as tx:
            posted_no = post_document(make_context(tx), role, number)
        if posted_no:
            result.posted.append({"page": PAGES[role].default_name, "preAssignedNo": number, "no": posted_no})
    return result


def post_document(ctx: Context, role: str, number: str) -> str | None:
    """Post one unposted document; None if it vanished or lost its lines meanwhile."""
    tx = ctx.tx
    posted_role, document_type = KINDS[role]
    source, source_lines = TABLES[role], TABLES[f"{role}_line"]
    target, target_lines = TABLES[posted_role], TABLES[f"{posted_role}_line"]
    document = tx.get(source, (number,))
    lines = tx.select(source_lines, "Document_No = ?", (number,), "Line_No")
    if document is None or not lines:
        return None
    series = ctx.settings.number_series
    prefix = getattr(series, posted_role)
    posted_no = series.number(prefix, tx.next_number(prefix))
    entry = append_entry(
        ctx,
        **entry_fields(document_type, document, posted_no, ctx.today),
        applies_to=(document.get("Applies_to_Doc_Type", ""), document.get("Applies_to_Doc_No", "")),
    )
    posted = posted_header(posted_role, document, posted_no=posted_no, entry_no=entry["Entry_No"], now=ctx.now)
    posted["Row_Version"] = posted["_version"] = tx.next_row_version()
    tx.insert(target, posted)
    for line in lines:
        copy = posted_line(posted_role, line, posted_no)
        copy["Row_Version"] = copy["_version"] = tx.next_row_version()
        tx.insert(target_lines, copy)
    tx.execute(f"DELETE FROM {source_lines.name} WHERE Document_No = ?", (number,))
    tx.delete(source, (number,))
    if document_type == "Credit_Memo" and document["Applies_to_Doc_No"]:
        invoice_entry = _open_invoice_entry(tx, document["Applies_to_Doc_No"])
        if invoice_entry is not None and invoice_entry["Customer_No"] == entry["Customer_No"]:
            apply_entries(ctx, entry, invoice_entry)
    if document_type == "Invoice":
        plan_payments(ctx, posted_no, entry["Amount"])
    return posted_no


def posted_header(
    posted_role: str, document: dict[str, Any], *, posted_no: str, entry_no: int, now: datetime
) -> dict[str, Any]:
    """The posted copy of an unposted header (VAT and amounts frozen), without its Row_Version."""
    target = TABLES[posted_role]
    posted = {**new_record(target), **{name: document[name] for name in target.columns if name in document}}
    posted.update(
        No=posted_no,
        Pre_Assigned_No=document["No"],
        Status="Released",
        Cust_Ledger_Entry_No=entry_no,
        SystemModifiedAt=now,
    )
    return posted


def posted_line(posted_role: str, line: dict[str, Any], posted_no: str) -> dict[str, Any]:
    """The posted copy of an unposted line, without its Row_Version."""
    target = TABLES[f"{posted_role}_line"]
    return {
        **new_record(target),
        **{name: line[name] for name in target.columns if name in line},
        "Document_No": posted_no,
    }


def entry_fields(document_type: str, document: dict[str, Any], posted_no: str, today: date) -> dict[str, Any]:
    """The ledger entry fields of posting unposted ``document`` as ``posted_no``: invoices positive, credit memos
    negative, for the Bill-to customer."""
    sign = 1 if document_type == "Invoice" else -1
    return {
        "customer_no": document["Bill_to_Customer_No"],
        "posting_date": document["Posting_Date"] or today,
        "document_type": document_type,
        "document_no": posted_no,
        "external_document_no": document["External_Document_No"],
        "description": f"{'Invoice' if sign > 0 else 'Credit Memo'} {document['No']}",
        "currency_code": document["Currency_Code"],
        "amount": sign * document["Amount_Including_VAT"],
        "due_date": document["Due_Date"],
    }


def append_entry(
    ctx: Context,
    *,
    customer_no: str,
    posting_date: Any,
    document_type: str,
    document_no: str,
    external_document_no: str,
    description: str,
    currency_code: str,
    amount: Decimal,
    due_date: Any,
    applies_to: tuple[str, str] = ("", ""),
) -> dict[str, Any]:
    entry = ledger_entry(
        entry_no=ctx.tx.next_number("ENTRY"),
        customer_no=customer_no,
        posting_date=posting_date,
        document_type=document_type,
        document_no=document_no,
        external_document_no=external_document_no,
        description=description,
        currency_code=currency_code,
        amount=amount,
        due_date=due_date,
        applies_to=applies_to,
        now=ctx.now,
    )
    entry["_version"] = ctx.tx.next_row_version()
    ctx.tx.insert(LEDGER, entry)
    return entry


def ledger_entry(
    *,
    entry_no: int,
    customer_no: str,
    posting_date: Any,
    document_type: str,
    document_no: str,
    external_document_no: str,
    description: str,
    currency_code: str,
    amount: Decimal,
    due_date: Any,
    now: datetime,
    applies_to: tuple[str, str] = ("", ""),
) -> dict[str, Any]:
    """A new open ledger entry (``Remaining_Amount`` = ``Amount``), without its version."""
    entry = new_record(LEDGER)
    entry.update(
        Entry_No=entry_no,
        Customer_No=customer_no,
        Posting_Date=posting_date,
        Document_Type=document_type,
        Document_No=document_no,
        External_Document_No=external_document_no,
        Description=description[:100],
        Currency_Code=currency_code,
        Amount=amount,
        Original_Amount=amount,
        Remaining_Amount=amount,
        Open=amount != 0,
        Due_Date=due_date,
        Applies_to_Doc_Type=applies_to[0],
        Applies_to_Doc_No=applies_to[1],
        SystemModifiedAt=now,
    )
    return entry


def apply_entries(ctx: Context, applying: dict[str, Any], applied_to: dict[str, Any]) -> Decimal:
    """Apply opposite-signed open entries to each other as far as they go; the amount applied."""
    amount = min(abs(applying["Remaining_Amount"]), abs(applied_to["Remaining_Amount"]))
    if amount == 0 or (applying["Remaining_Amount"] > 0) == (applied_to["Remaining_Amount"] > 0):
        return Decimal(0)
    for entry, other in ((applying, applied_to), (applied_to, applying)):
        entry["Remaining_Amount"] -= amount if entry["Remaining_Amount"] > 0 else -amount
        if entry["Remaining_Amount"] == 0:
            entry["Open"] = False
            entry["Closed_by_Entry_No"] = other["Entry_No"]
        entry["SystemModifiedAt"] = ctx.now
        entry["_version"] = ctx.tx.next_row_version()
        ctx.tx.save(LEDGER, entry)
    return amount


def _open_invoice_entry(tx: Tx, document_no: str) -> dict[str, Any] | None:
    entries = tx.select(LEDGER, "Document_Type = 'Invoice' AND Document_No = ? AND Open = 1", (document_no,))
    return entries[0] if entries else None


def plan_payments(ctx: Context, document_no: str, amount: Decimal) -> None:
    """Decide now when and how the invoice will be paid (seeded per document, so reruns agree)."""
    ctx.tx.conn.executemany(PLAN_PAYMENT_SQL, payment_plan(ctx.settings, ctx.now, document_no, amount))


PLAN_PAYMENT_SQL = "INSERT INTO payment_plan (document_no, due_at, amount, done) VALUES (?, ?, ?, 0)"


def payment_plan(
    settings: ErpSimSettings, now: datetime, document_no: str, amount: Decimal
) -> list[tuple[str, str, str | None]]:
    """The ``payment_plan`` rows (document, due at, amount or None for the rest) of an invoice posted ``now``:
    paid with probability ``share_paid``, in two instalments with probability ``partial_share``."""
    payments = settings.payments
    rng = random.Random(f"{settings.faults.seed}:{document_no}")
    if amount <= 0 or rng.random() >= payments.share_paid:
        return []
    days = rng.uniform(*payments.days_to_pay)
    instalments: list[tuple[float, Decimal | None]] = [(days, None)]
    if rng.random() < payments.partial_share:
        first = rounded(amount * Decimal(str(round(rng.uniform(0.3, 0.7), 2))), 2)
        instalments = [(rng.uniform(payments.days_to_pay[0], days), first), (days, None)]
    return [
        (document_no, format_datetime(now + timedelta(days=after_days)), None if part is None else str(part))
        for after_days, part in instalments
    ]


def run_payments(store: Store, make_context: Callable[[Tx], Context]) -> list[dict[str, str]]:
    """Make every planned payment that is due by the simulated now."""
    made = []
    with store.read() as tx:
        now = format_datetime(make_context(tx).now)
        due = tx.execute("SELECT id FROM payment_plan WHERE done = 0 AND due_at <= ? ORDER BY due_at, id", (now,))
        plan_ids = [row[0] for row in due]
    for plan_id in plan_ids:
        with store.write() as tx:
            ctx = make_context(tx)
            row = tx.execute("SELECT document_no, amount, done FROM payment_plan WHERE id = ?", (plan_id,)).fetchone()
            if row is None or row["done"]:
                continue
            tx.execute("UPDATE payment_plan SET done = 1 WHERE id = ?", (plan_id,))
            entry = _open_invoice_entry(tx, row["document_no"])
            if entry is None:
                continue
            amount = min(Decimal(row["amount"]), entry["Remaining_Amount"]) if row["amount"] else None
            made.append(pay(ctx, row["document_no"], amount))
    return made


def pay(ctx: Context, document_no: str, amount: Decimal | None = None) -> dict[str, str]:
    """Pay a posted invoice (by posted number or its Pre_Assigned_No); default the whole remaining amount."""
    tx = ctx.tx
    invoice = tx.get(TABLES["posted_sales_invoice"], (document_no,))
    if invoice is None:
        found = tx.select(TABLES["posted_sales_invoice"], "Pre_Assigned_No = ?", (document_no,))
        invoice = found[0] if found else None
    if invoice is None:
        raise PaymentError(f"No posted sales invoice {document_no}.")
    entry = tx.get(LEDGER, (invoice["Cust_Ledger_Entry_No"],))
    if entry is None or not entry["Open"]:
        raise PaymentError(f"Posted sales invoice {invoice['No']} is already closed.")
    amount = entry["Remaining_Amount"] if amount is None else rounded(amount, 2)
    if not 0 < amount <= entry["Remaining_Amount"]:
        raise PaymentError(f"The amount must be more than 0 and at most {entry['Remaining_Amount']}.")
    series = ctx.settings.number_series
    payment_no = series.number(series.payment, tx.next_number(series.payment))
    payment = append_entry(
        ctx,
        customer_no=entry["Customer_No"],
        posting_date=ctx.today,
        document_type="Payment",
        document_no=payment_no,
        external_document_no="",
        description=f"Payment {invoice['No']}",
        currency_code=entry["Currency_Code"],
        amount=-amount,
        due_date=ctx.today,
        applies_to=("Invoice", invoice["No"]),
    )
    apply_entries(ctx, payment, entry)
    return {"documentNo": invoice["No"], "paymentNo": payment_no, "amount": str(amount)}
