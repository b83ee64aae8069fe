"""All SQL for posted documents (invoices, credit memos, their lines) and the look-ups the upsert needs:
statements to link, ERP outbox numbers, balance observations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from sqlalchemy import JSON, ColumnElement, Row, Select, Text, cast, delete, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.auth.capabilities import Scope
from billing.auth.principal import Principal
from billing.db.models import ErpBalance, ErpOutbox, Invoice, Statement
from billing.db.query import ListSpec
from billing.db.types import json_loads
from billing.kit.ids import new_id
from billing.kit.rql import Collection, Field, FieldType
from billing.posted_documents.kinds import DocKind

ID_ATTEMPTS = 10
#: values per IN list (well under SQLite's and PostgreSQL's bound-parameter limits)
IN_CHUNK = 1000


def _chunks(values: Sequence[str]) -> list[list[str]]:
    unique = list(dict.fromkeys(values))
    return [unique[start : start + IN_CHUNK] for start in range(0, len(unique), IN_CHUNK)]


class PostedDocumentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- documents -----------------------------------------------------------------------------------------

    def by_document_no(self, kind: DocKind, document_no: str, *, for_update: bool = False) -> Any | None:
        stmt = select(kind.model).where(kind.model.document_no == document_no)
        if for_update:
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def exists(self, kind: DocKind, document_no: str) -> bool:
        found = self.session.execute(select(kind.model.id).where(kind.model.document_no == document_no)).first()
        return found is not None

    def scoped(self, kind: DocKind, principal: Principal, scope: Scope) -> Select[Any]:
        """Clients see their own documents only; a document without a client is Operations-only (§2.4)."""
        stmt = select(kind.model)
        if scope is Scope.OWN_CLIENT:
            stmt = stmt.where(kind.model.client_id == principal.account_id)
        return stmt

    def scoped_rows(self, kind: DocKind, principal: Principal, scope: Scope) -> Select[Any]:
        """`scoped` as plain rows with every column (attributes named as the model's): a list page renders a
        hundred documents and needs no ORM objects, whose bookkeeping would cost about as much as the query.
        The JSON documents come as their stored text (see `stored_text_columns`)."""
        stmt = select(*stored_text_columns(kind.model))
        if scope is Scope.OWN_CLIENT:
            stmt = stmt.where(kind.model.client_id == principal.account_id)
        return stmt

    def get(
        self, kind: DocKind, document_id: str, principal: Principal, scope: Scope, *, for_update: bool = False
    ) -> Any | None:
        stmt = self.scoped(kind, principal, scope).where(kind.model.id == document_id)
        if for_update:
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def insert(self, kind: DocKind, **values: Any) -> Any:
        """A new document with random digits, re-drawn on the (unlikely) collision with another row (§12.1)."""
        for _ in range(ID_ATTEMPTS):
            document = kind.model(id=new_id(kind.prefix, 4), **values)
            savepoint = self.session.begin_nested()
            try:
                self.session.add(document)
                self.session.flush()
            except IntegrityError:
                savepoint.rollback()
                if self.exists(kind, values["document_no"]):
                    raise  # not an id collision: the document was inserted concurrently
                continue
            savepoint.commit()
            return document
        raise RuntimeError(f"could not draw a free {kind.prefix} id")

    def by_document_nos(self, kind: DocKind, document_nos: Sequence[str]) -> dict[str, Any]:
        """The documents with these numbers (a pull page's known ones), locked, by number."""
        found: dict[str, Any] = {}
        for chunk in _chunks(document_nos):
            stmt = select(kind.model).where(kind.model.document_no.in_(chunk)).with_for_update()
            found.update((document.document_no, document) for document in self.session.execute(stmt).scalars())
        return found

    def taken_ids(self, kind: DocKind, ids: Sequence[str]) -> set[str]:
        """Which of these document ids are used already (drawn ids are checked before a batch insert)."""
        taken: set[str] = set()
        for chunk in _chunks(ids):
            taken.update(self.session.execute(select(kind.model.id).where(kind.model.id.in_(chunk))).scalars())
        return taken

    def insert_many(self, kind: DocKind, documents: Sequence[dict[str, Any]], lines: Sequence[dict[str, Any]]) -> None:
        """New documents and their lines, each with every column given, in one executemany per table."""
        if documents:
            self.session.execute(insert(kind.model.__table__), list(documents))
        if lines:
            self.session.execute(insert(kind.line_model.__table__), list(lines))

    # --- lines ---------------------------------------------------------------------------------------------

    def lines(self, kind: DocKind, document_id: str) -> list[Any]:
        line = kind.line_model
        return list(
            self.session.execute(
                select(line).where(kind.line_parent_column() == document_id).order_by(line.line_no)
            ).scalars()
        )

    def lines_of_many(self, kind: DocKind, document_ids: Sequence[str]) -> dict[str, list[Any]]:
        """The lines of several documents in one query (list pages), by document id, in lineNo order; plain rows
        (attributes named as the line model's, JSON documents as their stored text), read only."""
        result: dict[str, list[Any]] = {document_id: [] for document_id in document_ids}
        if not document_ids:
            return result
        line = kind.line_model
        parent = kind.line_parent_column()
        rows = self.session.execute(
            select(*stored_text_columns(line)).where(parent.in_(list(document_ids))).order_by(parent, line.line_no)
        )
        for row in rows:
            result[getattr(row, kind.line_parent)].append(row)
        return result

    def lines_statement(self, kind: DocKind, document_id: str) -> Select[Any]:
        return select(kind.line_model).where(kind.line_parent_column() == document_id)

    def add_line(self, kind: DocKind, **values: Any) -> None:
        self.session.add(kind.line_model(**values))

    def delete_lines(self, kind: DocKind, line_ids: Sequence[str]) -> None:
        if line_ids:
            self.session.execute(
                delete(kind.line_model).where(kind.line_model.id.in_(list(line_ids))),
                execution_options={"synchronize_session": False},
            )

    # --- linking ---------------------------------------------------------------------------------------------

    def statement(self, statement_id: str, *, for_update: bool = True) -> Statement | None:
        stmt = select(Statement).where(Statement.id == statement_id)
        if for_update:
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def statement_by_erp_number(self, numbers: Sequence[str]) -> Statement | None:
        """The statement whose outbox row recorded one of ``numbers`` as its ERP document, else the one whose
        ``externalIds.erpId`` is one of them (mark-as-sent); the lowest id when several match."""
        wanted = [n for n in dict.fromkeys(numbers) if n]
        if not wanted:
            return None
        by_outbox = select(ErpOutbox.statement_id).where(ErpOutbox.erp_document_no.in_(wanted))
        stmt = (
            select(Statement)
            .where(or_(Statement.id.in_(by_outbox), Statement.external_erp_id.in_(wanted)))
            .order_by(Statement.id)
            .limit(1)
            .with_for_update()
        )
        return self.session.execute(stmt).scalar_one_or_none()

    def outbox(self, statement_id: str) -> ErpOutbox | None:
        return self.session.execute(
            select(ErpOutbox).where(ErpOutbox.statement_id == statement_id)
        ).scalar_one_or_none()

    def link_candidates(
        self, statement_ids: Sequence[str], numbers: Sequence[str]
    ) -> tuple[list[Statement], list[ErpOutbox]]:
        """Every statement a page of documents may link to, locked, in id order: those with one of
        ``statement_ids`` (upper-cased ``externalDocumentNo``), and those `statement_by_erp_number` would find for
        one of ``numbers``; plus their outbox rows."""
        ids = [n for n in dict.fromkeys(statement_ids) if n]
        wanted = [n for n in dict.fromkeys(numbers) if n]
        statements: dict[str, Statement] = {}
        for chunk in _chunks(ids):
            stmt = select(Statement).where(Statement.id.in_(chunk)).order_by(Statement.id).with_for_update()
            statements.update((s.id, s) for s in self.session.execute(stmt).scalars())
        for chunk in _chunks(wanted):
            by_outbox = select(ErpOutbox.statement_id).where(ErpOutbox.erp_document_no.in_(chunk))
            stmt = (
                select(Statement)
                .where(or_(Statement.id.in_(by_outbox), Statement.external_erp_id.in_(chunk)))
                .order_by(Statement.id)
                .with_for_update()
            )
            statements.update((s.id, s) for s in self.session.execute(stmt).scalars())
        rows: list[ErpOutbox] = []
        for chunk in _chunks(sorted(statements)):
            rows.extend(self.session.execute(select(ErpOutbox).where(ErpOutbox.statement_id.in_(chunk))).scalars())
        return [statements[key] for key in sorted(statements)], rows

    def columns_by_document_no(
        self, kind: DocKind, document_nos: Sequence[str], names: Sequence[str]
    ) -> dict[str, Row[Any]]:
        """Number → (the ``names`` columns) of the documents with these numbers."""
        model = kind.model
        found: dict[str, Row[Any]] = {}
        for chunk in _chunks(document_nos):
            stmt = select(model.document_no, *(getattr(model, name) for name in names))
            found.update((row[0], row) for row in self.session.execute(stmt.where(model.document_no.in_(chunk))))
        return found

    # --- balances and status ---------------------------------------------------------------------------------

    def observed_balance(self, doc_type: str, document_no: str) -> Decimal | None:
        """The newest ``erp_balance`` observation's remaining amount, None when there is none (§4.3)."""
        return self.session.execute(
            select(ErpBalance.remaining).where(ErpBalance.doc_type == doc_type, ErpBalance.document_no == document_no)
        ).scalar_one_or_none()

    def observed_balances(self, doc_type: str, document_nos: Sequence[str]) -> dict[str, Decimal]:
        """`observed_balance` of several documents in one query: number → remaining amount (observed ones only)."""
        found: dict[str, Decimal] = {}
        for chunk in _chunks(document_nos):
            stmt = select(ErpBalance.document_no, ErpBalance.remaining).where(
                ErpBalance.doc_type == doc_type, ErpBalance.document_no.in_(chunk)
            )
            found.update((row.document_no, row.remaining) for row in self.session.execute(stmt))
        return found

    def due_invoices(self, before: datetime, *, limit: int) -> list[Invoice]:
        """Issued invoices with an open balance whose due date is before ``before`` (§4.4), locked."""
        return list(
            self.session.execute(
                select(Invoice)
                .where(Invoice.status == "Issued", Invoice.due_date < before, Invoice.balance_due > 0)
                .order_by(Invoice.id)
                .limit(limit)
                .with_for_update()
            ).scalars()
        )


def stored_text_columns(model: Any) -> list[ColumnElement[Any]]:
    """Every column of ``model``'s table, the JSON documents as their stored text (``CAST(… AS TEXT)``, labelled
    with the column's name): list pages decode them only for the documents they actually render (see
    `billing.posted_documents.representation.decoded`) and key their item cache on the text."""
    return [
        cast(column, Text).label(column.key) if isinstance(column.type, JSON) else column
        for column in model.__table__.columns
    ]


def decoded_row(model: Any, row: Any) -> SimpleNamespace:
    """A row read with `stored_text_columns` as the ORM reads it: the JSON documents decoded (by the engine's
    own JSON deserializer, so the values are exactly those a typed column would give)."""
    values = row._asdict()
    for column in model.__table__.columns:
        if isinstance(column.type, JSON) and values[column.key] is not None:
            values[column.key] = json_loads(values[column.key])
    return SimpleNamespace(**values)


# --- RQL allow-lists (billing-api.md §4; filterable erpData members are columns) -----------------------------------


def line_registry(kind: DocKind) -> dict[str, Field | Collection]:
    line = kind.line_model
    registry: dict[str, Field | Collection] = {
        "id": Field(line.id, FieldType.ID),
        "lineno": Field(line.line_no, FieldType.INTEGER),
        "documentno": Field(line.document_no, FieldType.STRING),
        "itemno": Field(line.item_no, FieldType.STRING),
        "description": Field(line.description, FieldType.STRING),
        "description2": Field(line.description2, FieldType.STRING),
        "period.start": Field(line.period_start, FieldType.DATETIME),
        "period.end": Field(line.period_end, FieldType.DATETIME),
        "price.quantity": Field(line.quantity, FieldType.NUMBER),
        "price.unitprice": Field(line.unit_price, FieldType.NUMBER),
        "price.amount": Field(line.amount, FieldType.NUMBER),
    }
    for member in ("contractNo", "unitOfMeasure", "navisionCountryCode", "varAgreementNo", "countryOfUsage"):
        registry[f"erpdata.{member.lower()}"] = Field(line.erp_data[member].as_string(), FieldType.STRING)
    return registry


def line_list_spec(kind: DocKind) -> ListSpec:
    return ListSpec(registry=line_registry(kind), default_order="lineNo", tiebreak=kind.line_model.id)


def document_list_spec(kind: DocKind, statuses: tuple[str, ...]) -> ListSpec:
    model = kind.model
    registry: dict[str, Field | Collection] = {
        "id": Field(model.id, FieldType.ID),
        "status": Field(model.status, FieldType.ENUM, statuses),
        "billingtype": Field(model.billing_type, FieldType.ENUM, ("Automated", "Manual")),
        "statement.id": Field(model.statement_id, FieldType.ID),
        "client.id": Field(model.client_id, FieldType.ID),
        "vendor.id": Field(model.vendor_id, FieldType.ID),
        "buyer.id": Field(model.buyer_id, FieldType.ID),
        "seller.id": Field(model.seller_id, FieldType.ID),
        "licensee.id": Field(model.licensee_id, FieldType.ID),
        "product.id": Field(model.product_id, FieldType.ID),
        "agreement.id": Field(model.agreement_id, FieldType.ID),
        "erpdata.erpid": Field(model.erp_id, FieldType.STRING),
        "erpdata.documentno": Field(model.document_no, FieldType.STRING),
        "erpdata.documentdate": Field(model.document_date, FieldType.DATETIME),
        "erpdata.postingdate": Field(model.posting_date, FieldType.DATETIME),
        "erpdata.balancedue": Field(model.balance_due, FieldType.NUMBER),
        "erpdata.rowversion": Field(model.row_version, FieldType.INTEGER),
        "erpdata.yourreference": Field(model.erp_data["yourReference"].as_string(), FieldType.STRING),
        "price.currency": Field(model.currency, FieldType.STRING),
        "price.totalsp": Field(model.total_sp, FieldType.NUMBER),
        "price.totalgt": Field(model.total_gt, FieldType.NUMBER),
        "audit.created.at": Field(model.created_at, FieldType.DATETIME),
        "audit.updated.at": Field(model.updated_at, FieldType.DATETIME),
    }
    if kind.doc_type == "invoice":
        registry["erpdata.duedate"] = Field(model.due_date, FieldType.DATETIME)
        registry["erpdata.invoicetotal"] = Field(model.invoice_total, FieldType.NUMBER)
    else:
        registry["erpdata.appliestodocno"] = Field(model.applies_to_doc_no, FieldType.STRING)
        registry["erpdata.creditmemototal"] = Field(model.credit_memo_total, FieldType.NUMBER)
        registry["erpdata.externaldocumentno"] = Field(
            model.erp_data["externalDocumentNo"].as_string(), FieldType.STRING
        )
    line = kind.line_model

    def lines_exist(predicate: ColumnElement[bool] | None) -> ColumnElement[bool]:
        stmt = select(line.id).where(kind.line_parent_column() == model.id)
        if predicate is not None:
            stmt = stmt.where(predicate)
        return stmt.exists()

    registry["lines"] = Collection(fields=line_registry(kind), exists=lines_exist)
    return ListSpec(registry=registry, default_order="-audit.created.at", tiebreak=model.id)
