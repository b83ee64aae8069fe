"""All SQL for charges: the RQL allow-list, parent-scoped statements, set-based writes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Join, Select, Table, and_, delete, func, select
from sqlalchemy.orm import Session

from billing.db.bulk import insert_rows
from billing.db.models import Charge, Ledger, Statement
from billing.db.models.charge import charge_parent
from billing.db.query import ListSpec
from billing.kit.rql import Field, FieldType

UPLOAD_STATUSES = ("Ready", "Error", "Split", "Skipped")
#: A row of `charge_rows`: the charge's columns, its statement's id and type.
ChargeRow = Any
#: A charge's statement. Rating names it (its id is the parent's and the agreement's digits, §12.1), statement
#: generation makes it: the charge shows its statement, and that statement's type, once the statement exists.
charge_statement: Table = Statement.__table__.alias("charge_statement")  # type: ignore[assignment]
#: Charges with their statement, where it exists.
charges_with_statement: Join = Charge.__table__.outerjoin(
    charge_statement, charge_statement.c.id == Charge.statement_id
)


def _f(expr: Any, kind: FieldType, values: tuple[str, ...] = ()) -> Field:
    return Field(expr, kind, values)


LIST_SPEC = ListSpec(
    registry={
        "id": _f(Charge.id, FieldType.ID),
        "externalids.vendor": _f(Charge.external_vendor, FieldType.STRING),
        "externalids.invoice": _f(Charge.external_invoice, FieldType.STRING),
        "externalids.reference": _f(Charge.external_reference, FieldType.STRING),
        "period.start": _f(Charge.period_start, FieldType.DATETIME),
        "period.end": _f(Charge.period_end, FieldType.DATETIME),
        "quantity": _f(Charge.quantity, FieldType.NUMBER),
        "price.currency.purchase": _f(Charge.currency_purchase, FieldType.STRING),
        "price.currency.sale": _f(Charge.currency_sale, FieldType.STRING),
        "price.unitpp": _f(Charge.unit_pp, FieldType.NUMBER),
        "price.ppx1": _f(Charge.ppx1, FieldType.NUMBER),
        "price.unitsp": _f(Charge.unit_sp, FieldType.NUMBER),
        "price.spx1": _f(Charge.spx1, FieldType.NUMBER),
        "price.markup": _f(Charge.markup, FieldType.NUMBER),
        "price.margin": _f(Charge.margin, FieldType.NUMBER),
        "segment": _f(Charge.segment, FieldType.STRING),
        "description.value1": _f(Charge.description1, FieldType.STRING),
        "description.value2": _f(Charge.description2, FieldType.STRING),
        "billingtype": _f(Charge.billing_type, FieldType.ENUM, ("Automated", "Manual")),
        "statementtype": _f(charge_statement.c.type, FieldType.ENUM, ("Debit", "Credit")),
        "upload.status": _f(Charge.upload_status, FieldType.ENUM, UPLOAD_STATUSES),
        "upload.line": _f(Charge.line, FieldType.INTEGER),
        "processing.status": _f(Charge.processing_status, FieldType.ENUM, UPLOAD_STATUSES),
        "journal.id": _f(Charge.journal_id, FieldType.ID),
        "ledger.id": _f(Charge.ledger_id, FieldType.ID),
        "customledger.id": _f(Charge.custom_ledger_id, FieldType.ID),
        "statement.id": _f(charge_statement.c.id, FieldType.ID),
        "statement.type": _f(charge_statement.c.type, FieldType.ENUM, ("Debit", "Credit")),
        "parent.id": _f(Charge.parent_id, FieldType.ID),
        "split.percentage": _f(Charge.split_percentage, FieldType.NUMBER),
        "client.id": _f(Charge.client_id, FieldType.ID),
        "buyer.id": _f(Charge.buyer_id, FieldType.ID),
        "licensee.id": _f(Charge.licensee_id, FieldType.ID),
        "seller.id": _f(Charge.seller_id, FieldType.ID),
        "vendor.id": _f(Charge.vendor_id, FieldType.ID),
        "product.id": _f(Charge.product_id, FieldType.ID),
        "agreement.id": _f(Charge.agreement_id, FieldType.ID),
        "subscription.id": _f(Charge.subscription_id, FieldType.ID),
        "asset.id": _f(Charge.asset_id, FieldType.ID),
        "order.id": _f(Charge.order_id, FieldType.ID),
        "item.id": _f(Charge.item_id, FieldType.ID),
        "authorization.id": _f(Charge.authorization_id, FieldType.ID),
        "erpdata.erpcountrycode": _f(Charge.erp_country_code, FieldType.STRING),
        "erpdata.erpitemid": _f(Charge.erp_item_id, FieldType.STRING),
        "erpdata.cco": _f(Charge.cco, FieldType.STRING),
        "erpdata.scu": _f(Charge.scu, FieldType.STRING),
        "audit.created.at": _f(Charge.created_at, FieldType.DATETIME),
        "audit.updated.at": _f(Charge.updated_at, FieldType.DATETIME),
    },
    default_order="id",
    tiebreak=Charge.id,
)


def charge_rows() -> Select[Any]:
    """Charges as plain rows (no ORM object per charge: exports stream up to a million of them), each with the
    ``statement_id`` and ``statement_type`` of its statement once that exists, None before."""
    columns = [column for column in Charge.__table__.columns if column.key != "statement_id"]
    statement = (charge_statement.c.id.label("statement_id"), charge_statement.c.type.label("statement_type"))
    return select(*columns, *statement).select_from(charges_with_statement)


def in_ledger(ledger_id: str) -> ColumnElement[bool]:
    """A journal ledger's charges. ``ledger_id`` is not indexed (rating writes it); a ledger holds its journal's
    charges of one seller, so the (journal, seller, seq) index finds them."""
    of_ledger = Ledger.id == ledger_id
    return and_(
        Charge.journal_id == select(Ledger.journal_id).where(of_ledger).scalar_subquery(),
        Charge.seller_id == select(Ledger.seller_id).where(of_ledger).scalar_subquery(),
        Charge.ledger_id == ledger_id,
    )


def in_statement(statement_id: str | ColumnElement[Any]) -> ColumnElement[bool]:
    """A statement's charges. ``statement_id`` is not indexed (rating writes it); a statement holds charges
    of one parent (journal or custom ledger) and one agreement, so the (parent, agreement, seq) index finds them."""
    of_statement = Statement.id == statement_id
    parent = func.coalesce(Statement.journal_id, Statement.custom_ledger_id)
    return and_(
        charge_parent == select(parent).where(of_statement).scalar_subquery(),
        Charge.agreement_id == select(Statement.agreement_id).where(of_statement).scalar_subquery(),
        Charge.statement_id == statement_id,
    )


class ChargeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def of_journal(self, journal_id: str) -> Select[Any]:
        return charge_rows().where(Charge.journal_id == journal_id)

    def get_in(self, stmt: Select[Any], charge_id: str) -> Any:
        return self.session.execute(stmt.where(Charge.id == charge_id)).one_or_none()

    def delete_of_journal(self, journal_id: str) -> None:
        self.session.execute(delete(Charge).where(Charge.journal_id == journal_id))

    def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        insert_rows(self.session, Charge.__table__, rows)  # type: ignore[arg-type]

    def errors_of_journal(self, journal_id: str) -> Iterator[tuple[int, list[str]]]:
        """(line, messages) of the journal's charges in error, in file order, streamed."""
        rows = self.session.execute(
            select(Charge.line, Charge.upload_errors)
            .where(Charge.journal_id == journal_id, Charge.upload_status == "Error")
            .order_by(Charge.seq)
            .execution_options(yield_per=2000)
        )
        for line, errors in rows:
            yield line, errors or []

    def seller_ids_of_journal(self, journal_id: str) -> list[str]:
        """Distinct sellers among the journal's charges that resolved an agreement (§5.9)."""
        rows = self.session.execute(
            select(Charge.seller_id)
            .where(Charge.journal_id == journal_id, Charge.seller_id.is_not(None), Charge.agreement_id.is_not(None))
            .distinct()
            .order_by(Charge.seller_id)
        )
        return [seller_id for (seller_id,) in rows if seller_id is not None]
