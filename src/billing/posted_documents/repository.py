"""All SQL for posted documents (invoices, credit memos, their lines) and the look-ups the upsert needs:
statements to link, ERP outbox numbers, balance observations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.auth.capabilities import Scope
from billing.auth.principal import Principal
from billing.db.models import ErpBalance, ErpOutbox, Invoice, Statement
from billing.db.query import ListSpec
from billing.kit.ids import new_id
from billing.kit.rql import Collection, Field, FieldType
from billing.posted_documents.kinds import DocKind

ID_ATTEMPTS = 10


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
        hundred documents and needs no ORM objects, whose bookkeeping would cost about as much as the query."""
        stmt = select(*kind.model.__table__.columns)
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
        (attributes named as the line model's), read only."""
        result: dict[str, list[Any]] = {document_id: [] for document_id in document_ids}
        if not document_ids:
            return result
        line = kind.line_model
        parent = kind.line_parent_column()
        rows = self.session.execute(
            select(*line.__table__.columns).where(parent.in_(list(document_ids))).order_by(parent, line.line_no)
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

    # --- balances and status ---------------------------------------------------------------------------------

    def observed_balance(self, doc_type: str, document_no: str) -> Decimal | None:
        """The newest ``erp_balance`` observation's remaining amount, None when there is none (§4.3)."""
        return self.session.execute(
            select(ErpBalance.remaining).where(ErpBalance.doc_type == doc_type, ErpBalance.document_no == document_no)
        ).scalar_one_or_none()

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
