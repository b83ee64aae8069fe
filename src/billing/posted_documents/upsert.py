"""The one upsert of posted ERP documents (erp-integration.md §4.2, §4.5; billing-api.md §10.3), used by the ERP
pull and by ``POST /invoices`` / ``POST /credit-memos``.

Keyed by (document type, ``documentNo``):

* new → inserted (``INV-``/``CRD-`` random id) as ``Issued``, linked to its statement, then its status is
  re-evaluated from the balance (the newest ``erp_balance`` observation, else the header's remaining amount);
* known → updated only when newer (``Row_Version``; without one ``SystemModifiedAt``; without either, when the
  content changed, bumping the local row-version counter), else ``unchanged`` without writing;
* lines match on ``lineNo`` and keep their ids (``INL-``/``CRL-`` + the document's digits + an ordinal drawn from
  ``next_line``); lines no longer present are removed.

Linking: the statement whose id is upper(``externalDocumentNo``), else the one whose outbox row recorded the
pre-assigned (or posted) number or whose ``externalIds.erpId`` is that number; the first wins when both match
different statements. Types must agree (Debit ↔ invoice, Credit ↔ credit memo). A statement already linked to
another document makes this one a duplicate, imported unlinked. An unlinked document is skipped unless
``import_unlinked`` (or, for a credit memo, it applies to an imported invoice).

`upsert_page` does the same for a page of documents (the ERP pull) with one query per look-up for the whole page
(known documents, link candidates, balances, applied-to invoices) and the new documents and their lines inserted
with one executemany each; documents are decided in page order against live in-memory look-ups, so each gets
exactly the outcome, rows and statement side effects `upsert_posted` would give it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.auth.principal import SYSTEM_ACTOR
from billing.db.models import ErpOutbox, Statement
from billing.db.types import json_dumps, json_loads
from billing.kit.audit import created, with_events
from billing.kit.ids import digits_of, new_id
from billing.kit.money import round6
from billing.posted_documents.data import PostedDocumentData, PostedLineData, UpsertResult
from billing.posted_documents.kinds import KINDS, DocKind
from billing.posted_documents.lifecycle import evaluate
from billing.posted_documents.repository import ID_ATTEMPTS, PostedDocumentRepository
from billing.statements.lifecycle import follow_statements

#: Statement parties a linked document copies (§10.3).
PARTIES = ("agreement_id", "client_id", "buyer_id", "licensee_id", "product_id", "vendor_id", "seller_id")
_MONEY_HEADER = ("total_sp", "total_gt", "invoice_total", "credit_memo_total")
_MONEY_LINE = ("quantity", "unit_price", "amount")


@dataclass
class Link:
    statement: Statement | None
    duplicate: bool = False
    warning: str | None = None


class Lookups(Protocol):
    """What deciding a link and a balance reads: the repository (one query each), or a page's `PageLookups`."""

    def statement(self, statement_id: str, *, for_update: bool = True) -> Statement | None: ...

    def statement_by_erp_number(self, numbers: Sequence[str]) -> Statement | None: ...

    def outbox(self, statement_id: str) -> ErpOutbox | None: ...

    def observed_balance(self, doc_type: str, document_no: str) -> Decimal | None: ...


def upsert_posted(
    session: Session,
    data: PostedDocumentData,
    *,
    import_unlinked: bool,
    now: datetime,
    actor: Mapping[str, Any] | None = None,
) -> UpsertResult:
    """Insert, update or leave one posted document (see the module docstring). Never commits."""
    kind = KINDS[data.doc_type]
    repository = PostedDocumentRepository(session)
    who = dict(actor or SYSTEM_ACTOR)
    existing = repository.by_document_no(kind, data.document_no, for_update=True)
    if existing is not None:
        return _update(session, repository, kind, existing, data, now, who)

    link = find_link(repository, kind, data)
    applied_to = (
        data.applies_to_doc_no
        if kind.doc_type == "credit_memo"
        and data.applies_to_doc_no
        and repository.exists(KINDS["invoice"], data.applies_to_doc_no)
        else None
    )
    if link.statement is None and not link.duplicate and not import_unlinked and applied_to is None:
        return UpsertResult("skipped_unlinked", warning=link.warning)

    document = repository.insert(kind, **new_values(repository, kind, data, now, who))
    sync_lines(repository, kind, document, data.lines)
    if link.statement is not None:
        _link(session, repository, kind, document, link.statement, data, now, who)
    elif applied_to is not None:
        _copy_parties(document, repository.by_document_no(KINDS["invoice"], applied_to))
    evaluate(document, kind, actor=who, at=now)
    session.flush()
    return UpsertResult(
        "inserted",
        document_id=document.id,
        statement_id=document.statement_id,
        duplicate=link.duplicate,
        warning=link.warning,
    )


def _update(
    session: Session,
    repository: PostedDocumentRepository,
    kind: DocKind,
    document: Any,
    data: PostedDocumentData,
    now: datetime,
    actor: dict[str, Any],
    lookups: Lookups | None = None,
) -> UpsertResult:
    lookups = lookups or repository
    newer: bool | None = None  # None: the ERP gives no version to compare, only the content can tell
    if data.row_version is not None:
        newer = data.row_version > document.row_version
    elif data.erp_modified_at is not None and document.erp_modified_at is not None:
        newer = data.erp_modified_at > document.erp_modified_at
    # a re-read that is not newer (the pull's overlap, a resumed run) is skipped without reading the lines
    differs = newer is not False and content_differs(repository, kind, document, data)
    if newer is None:
        newer = differs
    if not newer:
        return UpsertResult("unchanged", document_id=document.id, statement_id=document.statement_id)
    if data.row_version is not None:
        document.row_version = data.row_version
    elif differs:
        document.row_version = document.row_version + 1  # the local counter (§1.8 rowVersion)
    link = Link(None)
    if differs:
        write_content(repository, kind, document, data)
    balance = _balance(lookups, kind, data, document.balance_due)
    balance_changed = balance != document.balance_due
    document.balance_due = balance
    if document.statement_id is None:
        link = find_link(lookups, kind, data, document_id=document.id)
        if link.statement is not None:
            _link(session, lookups, kind, document, link.statement, data, now, actor)
    elif differs:
        statement = repository.statement(document.statement_id)
        if statement is not None:
            statement_totals(statement, document, data)
    if differs or balance_changed or link.statement is not None:
        document.audit = with_events(document.audit, [], actor, now)
        document.updated_at = now
    evaluate(document, kind, actor=actor, at=now)
    session.flush()
    return UpsertResult(
        "updated",
        document_id=document.id,
        statement_id=document.statement_id,
        duplicate=link.duplicate,
        warning=link.warning,
    )


# --- content ----------------------------------------------------------------------------------------------------


def _doc(value: Any) -> Any:
    """A JSON member as it reads back from the database (instants as text, numbers normalised)."""
    return json_loads(json_dumps(value))


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else round6(value)


def _as_given(value: Any) -> Any:
    return value


def header_values(kind: DocKind, data: PostedDocumentData, *, as_read_back: bool = True) -> dict[str, Any]:
    """The document's columns taken from the data (balance, status, parties and audit are decided apart); with
    ``as_read_back=False`` the JSON members are left as given, for rows only inserted by Core statements (the column
    type writes the same text; an ORM object or a comparison needs them as they read back)."""
    doc = _doc if as_read_back else _as_given
    values: dict[str, Any] = {
        "document_no": data.document_no,
        "erp_id": data.erp_id or data.document_no,
        "document_date": data.document_date,
        "posting_date": data.posting_date,
        "currency": data.currency,
        "total_sp": _money(data.total_sp),
        "total_gt": _money(data.total_gt),
        "erp_modified_at": data.erp_modified_at,
        "erp_data": doc(data.erp_data),
        "price": doc(data.price),
        kind.total_field: _money(data.total_gt),
    }
    if kind.doc_type == "invoice":
        values["due_date"] = data.due_date
    else:
        values["applies_to_doc_no"] = data.applies_to_doc_no
    return values


def new_values(
    lookups: Lookups,
    kind: DocKind,
    data: PostedDocumentData,
    now: datetime,
    actor: dict[str, Any],
    *,
    as_read_back: bool = True,
) -> dict[str, Any]:
    """A new document's columns before linking and status evaluation (lines, id and parties apart)."""
    return {
        **header_values(kind, data, as_read_back=as_read_back),
        "status": "Issued",
        "billing_type": "Manual",
        "seller_id": data.seller_id or "",
        "balance_due": _balance(lookups, kind, data, None),
        "row_version": data.row_version if data.row_version is not None else 1,
        "next_line": 1,
        "audit": created(actor, now, "issued"),
        "created_at": now,
        "updated_at": now,
    }


def line_values(line: PostedLineData, *, as_read_back: bool = True) -> dict[str, Any]:
    """The line's columns; ``as_read_back=False`` leaves the amounts and JSON members to the column types, which
    round and encode them the same way when they are written (for rows only inserted, never compared)."""
    money = _money if as_read_back else _as_given
    doc = _doc if as_read_back else _as_given
    return {
        "line_no": line.line_no,
        "document_no": line.document_no,
        "item_no": line.item_no,
        "description": line.description,
        "description2": line.description2,
        "period_start": line.period_start,
        "period_end": line.period_end,
        "quantity": money(line.quantity),
        "unit_price": money(line.unit_price),
        "amount": money(line.amount),
        "erp_data": doc(line.erp_data),
        "price": doc(line.price),
    }


def _unique_lines(lines: tuple[PostedLineData, ...]) -> list[PostedLineData]:
    """One line per ``lineNo``, in order of first appearance (a repeated number keeps its first line)."""
    seen: dict[int, PostedLineData] = {}
    for line in lines:
        seen.setdefault(line.line_no, line)
    return list(seen.values())


def content_differs(
    repository: PostedDocumentRepository, kind: DocKind, document: Any, data: PostedDocumentData
) -> bool:
    if any(getattr(document, name) != value for name, value in header_values(kind, data).items()):
        return True
    stored = {line.line_no: line for line in repository.lines(kind, document.id)}
    wanted = _unique_lines(data.lines)
    if set(stored) != {line.line_no for line in wanted}:
        return True
    return any(
        getattr(stored[line.line_no], name) != value for line in wanted for name, value in line_values(line).items()
    )


def write_content(repository: PostedDocumentRepository, kind: DocKind, document: Any, data: PostedDocumentData) -> None:
    for name, value in header_values(kind, data).items():
        if getattr(document, name) != value:
            setattr(document, name, value)
    sync_lines(repository, kind, document, data.lines)


def sync_lines(
    repository: PostedDocumentRepository, kind: DocKind, document: Any, lines: tuple[PostedLineData, ...]
) -> None:
    """Lines match on ``lineNo`` and keep their ids; new numbers get the next ordinal (§12.1); lines no longer
    present are removed."""
    stored = {line.line_no: line for line in repository.lines(kind, document.id)} if document.next_line > 1 else {}
    wanted = _unique_lines(lines)
    for line in wanted:
        values = line_values(line)
        current = stored.get(line.line_no)
        if current is None:
            line_id = f"{kind.line_prefix}-{digits_of(document.id)}-{document.next_line:04d}"
            document.next_line += 1
            repository.add_line(kind, id=line_id, **{kind.line_parent: document.id}, **values)
            continue
        for name, value in values.items():
            if getattr(current, name) != value:
                setattr(current, name, value)
    keep = {line.line_no for line in wanted}
    repository.delete_lines(kind, [line.id for number, line in stored.items() if number not in keep])
    repository.session.flush()


def _balance(lookups: Lookups, kind: DocKind, data: PostedDocumentData, current: Decimal | None) -> Decimal | None:
    """The newest ledger-entry observation, else the header's remaining amount, else what the document has."""
    observed = lookups.observed_balance(kind.doc_type, data.document_no)
    if observed is not None:
        return observed
    if data.balance_due is not None:
        return round6(data.balance_due)
    return current


# --- linking ------------------------------------------------------------------------------------------------------


def _external(data: PostedDocumentData) -> str:
    return (data.external_document_no or "").strip().upper()


def _erp_numbers(data: PostedDocumentData) -> list[str]:
    return [data.pre_assigned_no or "", data.erp_id, data.document_no]


def find_link(lookups: Lookups, kind: DocKind, data: PostedDocumentData, *, document_id: str | None = None) -> Link:
    external = _external(data)
    by_external = lookups.statement(external) if external else None
    by_number = lookups.statement_by_erp_number(_erp_numbers(data))
    warning = None
    if by_external is not None and by_number is not None and by_external.id != by_number.id:
        warning = (
            f"{kind.label} {data.document_no} names statement {by_external.id} but its ERP number belongs to "
            f"{by_number.id}; linked to {by_external.id}."
        )
    statement = by_external or by_number
    if statement is None:
        return Link(None, warning=warning)
    if statement.type != kind.statement_type:
        return Link(
            None,
            warning=f"{kind.label} {data.document_no} matches statement {statement.id} of type {statement.type}; "
            "not linked.",
        )
    linked = getattr(statement, kind.statement_field)
    if linked and linked != document_id:
        return Link(
            None,
            duplicate=True,
            warning=f"Statement {statement.id} is already linked to {linked}; {kind.label.lower()} "
            f"{data.document_no} is imported unlinked.",
        )
    return Link(statement, warning=warning)


def _link(
    session: Session,
    lookups: Lookups,
    kind: DocKind,
    document: Any,
    statement: Statement,
    data: PostedDocumentData,
    now: datetime,
    actor: dict[str, Any],
    ledgers: dict[tuple[str | None, str | None], None] | None = None,
) -> None:
    """§10.3: the document takes the statement's parties and billing type; the statement gets the document's
    reference and tax/gross totals and, if not Issued yet, becomes Issued (its ledger may then complete). With
    ``ledgers``, the statement's (ledger, custom ledger) is added there for the caller to follow later (a page
    follows each ledger once at its end: statements only become Issued there, so the outcome is the same)."""
    document.statement_id = statement.id
    for name in PARTIES:
        setattr(document, name, getattr(statement, name))
    document.billing_type = statement.billing_type
    setattr(statement, kind.statement_field, document.id)
    statement_totals(statement, document, data)
    events: list[str] = []
    if statement.status != "Issued":
        row = lookups.outbox(statement.id)
        if not statement.external_erp_id:  # the unposted number the push recorded, else the pre-assigned one
            statement.external_erp_id = (row.erp_document_no if row is not None else None) or data.erp_id
        held = row is not None and row.lease_until is not None and row.lease_until > now
        if row is not None and row.state == "pending" and not held:
            row.state, row.resolution, row.updated_at = "done", "found", now
            row.erp_document_no = row.erp_document_no or statement.external_erp_id
        statement.status = "Issued"
        statement.error = None
        statement.status_notes = None
        events.append("issued")
    statement.audit = with_events(statement.audit, events, actor, now)
    statement.updated_at = now
    if events and ledgers is not None:
        ledgers[(statement.ledger_id, statement.custom_ledger_id)] = None
    elif events:
        follow_statements(session, statement.ledger_id, statement.custom_ledger_id, now)


def statement_totals(statement: Statement, document: Any, data: PostedDocumentData) -> None:
    total_st = data.price.get("totalST")
    statement.total_st = (
        round6(Decimal(str(total_st))) if total_st is not None else document.total_gt - document.total_sp
    )
    statement.total_gt = document.total_gt


def _copy_parties(document: Any, invoice: Any | None) -> None:
    """An unlinked credit memo applied to an imported invoice belongs to that invoice's client."""
    if invoice is not None:
        for name in PARTIES:
            value = getattr(invoice, name)
            if value is not None or name != "seller_id":
                setattr(document, name, value)


# --- a page at a time (the ERP pull) ----------------------------------------------------------------------------


class PageLookups:
    """Everything the upserts of one page read, fetched in one query each: its known documents (locked), the
    statements any of its documents may link to (locked, with their outbox rows), the observed balances and the
    invoices its credit memos apply to. Statement matches are evaluated on the live objects, so a link made
    earlier in the page (``externalErpId`` recorded, statement taken) counts for the later documents as it would
    in the database."""

    def __init__(self, repository: PostedDocumentRepository, kind: DocKind, documents: Sequence[PostedDocumentData]):
        numbers = [data.document_no for data in documents]
        self.documents = repository.by_document_nos(kind, numbers)
        statements, rows = repository.link_candidates(
            [_external(data) for data in documents], [number for data in documents for number in _erp_numbers(data)]
        )
        self.statements = {statement.id: statement for statement in statements}  # in id order
        #: (ledger, custom ledger) of the statements the page's new documents made Issued, followed at its end
        self.ledgers: dict[tuple[str | None, str | None], None] = {}
        self.outboxes = {row.statement_id: row for row in rows}
        self.balances = repository.observed_balances(kind.doc_type, numbers)
        applied = [data.applies_to_doc_no for data in documents if data.applies_to_doc_no]
        self.invoices = (
            repository.columns_by_document_no(KINDS["invoice"], applied, PARTIES)
            if kind.doc_type == "credit_memo" and applied
            else {}
        )

    def statement(self, statement_id: str, *, for_update: bool = True) -> Statement | None:
        return self.statements.get(statement_id)

    def statement_by_erp_number(self, numbers: Sequence[str]) -> Statement | None:
        """`PostedDocumentRepository.statement_by_erp_number` over the page's candidates (the lowest id wins)."""
        wanted = {number for number in numbers if number}
        for statement in self.statements.values():
            row = self.outboxes.get(statement.id)
            if statement.external_erp_id in wanted or (row is not None and row.erp_document_no in wanted):
                return statement
        return None

    def outbox(self, statement_id: str) -> ErpOutbox | None:
        return self.outboxes.get(statement_id)

    def observed_balance(self, doc_type: str, document_no: str) -> Decimal | None:
        return self.balances.get(document_no)


@dataclass
class _New:
    """A new document of the page waiting for the batch insert: its row, its lines, the statement it links to."""

    row: dict[str, Any]
    lines: list[dict[str, Any]]
    statement: Statement | None
    result: UpsertResult


def upsert_page(
    session: Session,
    documents: Sequence[PostedDocumentData],
    *,
    import_unlinked: bool,
    now: datetime,
    actor: Mapping[str, Any] | None = None,
) -> list[UpsertResult]:
    """`upsert_posted` for each of ``documents`` (one type), in order, with the results in order; see the module
    docstring. Known documents take the update path (their rows already locked and loaded); a number repeated
    after its insert in the page takes `upsert_posted` once the page's inserts so far are written. Never commits."""
    if not documents:
        return []
    if len({data.doc_type for data in documents}) > 1:
        options: dict[str, Any] = {"import_unlinked": import_unlinked, "now": now, "actor": actor}
        return [upsert_posted(session, data, **options) for data in documents]
    kind = KINDS[documents[0].doc_type]
    repository = PostedDocumentRepository(session)
    who = dict(actor or SYSTEM_ACTOR)
    page = PageLookups(repository, kind, documents)
    ids = _draw_ids(repository, kind, sum(1 for data in documents if data.document_no not in page.documents))
    pending: list[_New] = []
    inserted: set[str] = set()
    results: list[UpsertResult] = []
    for data in documents:
        existing = page.documents.get(data.document_no)
        if existing is not None:
            results.append(_update(session, repository, kind, existing, data, now, who, page))
        elif data.document_no in inserted:  # the ERP listed it twice: the second is an update of the first
            _insert_pending(repository, kind, pending)
            pending = []
            results.append(upsert_posted(session, data, import_unlinked=import_unlinked, now=now, actor=who))
        else:
            new = _new(session, page, kind, data, ids.pop(), import_unlinked=import_unlinked, now=now, actor=who)
            results.append(new.result if isinstance(new, _New) else new)
            if isinstance(new, _New):
                pending.append(new)
                inserted.add(data.document_no)
    _insert_pending(repository, kind, pending)
    for ledger_id, custom_ledger_id in page.ledgers:
        follow_statements(session, ledger_id, custom_ledger_id, now)
    return results


def _new(
    session: Session,
    page: PageLookups,
    kind: DocKind,
    data: PostedDocumentData,
    document_id: str,
    *,
    import_unlinked: bool,
    now: datetime,
    actor: dict[str, Any],
) -> _New | UpsertResult:
    """The insert path of `upsert_posted` for a document of the page, its row and lines kept for the batch insert
    (the statement side effects happen now, on the locked statement, as they would there)."""
    link = find_link(page, kind, data)
    invoice = page.invoices.get(data.applies_to_doc_no or "") if kind.doc_type == "credit_memo" else None
    if link.statement is None and not link.duplicate and not import_unlinked and invoice is None:
        return UpsertResult("skipped_unlinked", warning=link.warning)
    columns: list[str] = list(kind.model.__table__.columns.keys())
    document = SimpleNamespace(**dict.fromkeys(columns))
    vars(document).update(id=document_id, **new_values(page, kind, data, now, actor, as_read_back=False))
    lines = []
    for line in _unique_lines(data.lines):
        line_id = f"{kind.line_prefix}-{digits_of(document_id)}-{document.next_line:04d}"
        document.next_line += 1
        lines.append({"id": line_id, kind.line_parent: document_id, **line_values(line, as_read_back=False)})
    if link.statement is not None:
        _link(session, page, kind, document, link.statement, data, now, actor, page.ledgers)
    else:
        _copy_parties(document, invoice)
    evaluate(document, kind, actor=actor, at=now)
    result = UpsertResult(
        "inserted",
        document_id=document_id,
        statement_id=document.statement_id,
        duplicate=link.duplicate,
        warning=link.warning,
    )
    return _New({key: getattr(document, key) for key in columns}, lines, link.statement, result)


def _draw_ids(repository: PostedDocumentRepository, kind: DocKind, count: int) -> list[str]:
    """``count`` random document ids no row has (checked in one query per draw; re-drawn on a collision)."""
    ids: list[str] = []
    for _ in range(ID_ATTEMPTS):
        if len(ids) >= count:
            return ids
        drawn = [i for i in dict.fromkeys(new_id(kind.prefix, 4) for _ in range(count - len(ids))) if i not in ids]
        taken = repository.taken_ids(kind, drawn)
        ids.extend(i for i in drawn if i not in taken)
    if len(ids) >= count:
        return ids
    raise RuntimeError(f"could not draw a free {kind.prefix} id")


def _insert_pending(repository: PostedDocumentRepository, kind: DocKind, pending: list[_New]) -> None:
    """The page's new documents and lines in one executemany each, inside a savepoint; should another
    transaction have taken one of the ids since they were drawn, one at a time with a re-draw."""
    if not pending:
        return
    session = repository.session
    savepoint = session.begin_nested()
    try:
        repository.insert_many(kind, [new.row for new in pending], [line for new in pending for line in new.lines])
    except IntegrityError:
        savepoint.rollback()
        for new in pending:
            _insert_one(repository, kind, new)
        return
    savepoint.commit()


def _insert_one(repository: PostedDocumentRepository, kind: DocKind, new: _New) -> None:
    session = repository.session
    for _ in range(ID_ATTEMPTS):
        savepoint = session.begin_nested()
        try:
            repository.insert_many(kind, [new.row], new.lines)
        except IntegrityError:
            savepoint.rollback()
            if repository.exists(kind, new.row["document_no"]):
                raise  # not an id collision: the document was inserted concurrently
            document_id = new_id(kind.prefix, 4)
            new.row["id"] = new.result.document_id = document_id
            for ordinal, line in enumerate(new.lines, 1):
                line["id"] = f"{kind.line_prefix}-{digits_of(document_id)}-{ordinal:04d}"
                line[kind.line_parent] = document_id
            if new.statement is not None:
                setattr(new.statement, kind.statement_field, document_id)
            continue
        savepoint.commit()
        return
    raise RuntimeError(f"could not draw a free {kind.prefix} id")
