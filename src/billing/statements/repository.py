"""All SQL for statements and their ERP outbox rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlalchemy.orm import Session

from billing.auth.capabilities import Scope
from billing.auth.principal import Principal
from billing.charges.repository import charge_rows, in_statement
from billing.db.models import Charge, ErpOutbox, RatedAgreement, Statement
from billing.db.query import ListSpec
from billing.db.types import Money
from billing.kit.rql import Field, FieldType

STATUSES = ("Generating", "Generated", "Queued", "Pending", "Issued", "Error", "Cancelled")

LIST_SPEC = ListSpec(
    registry={
        "id": Field(Statement.id, FieldType.ID),
        "name": Field(Statement.name, FieldType.STRING),
        "notes": Field(Statement.notes, FieldType.STRING),
        "externalids.erpid": Field(Statement.external_erp_id, FieldType.STRING),
        "externalids.operations": Field(Statement.external_operations, FieldType.STRING),
        "type": Field(Statement.type, FieldType.ENUM, ("Debit", "Credit")),
        "billingtype": Field(Statement.billing_type, FieldType.ENUM, ("Automated", "Manual")),
        "status": Field(Statement.status, FieldType.ENUM, STATUSES),
        "journal.id": Field(Statement.journal_id, FieldType.ID),
        "ledger.id": Field(Statement.ledger_id, FieldType.ID),
        "customledger.id": Field(Statement.custom_ledger_id, FieldType.ID),
        "client.id": Field(Statement.client_id, FieldType.ID),
        "vendor.id": Field(Statement.vendor_id, FieldType.ID),
        "buyer.id": Field(Statement.buyer_id, FieldType.ID),
        "seller.id": Field(Statement.seller_id, FieldType.ID),
        "licensee.id": Field(Statement.licensee_id, FieldType.ID),
        "product.id": Field(Statement.product_id, FieldType.ID),
        "agreement.id": Field(Statement.agreement_id, FieldType.ID),
        "price.currency.purchase": Field(Statement.currency_purchase, FieldType.STRING),
        "price.currency.sale": Field(Statement.currency_sale, FieldType.STRING),
        "price.totalpp": Field(Statement.total_pp, FieldType.NUMBER),
        "price.totalsp": Field(Statement.total_sp, FieldType.NUMBER),
        "price.markup": Field(Statement.markup, FieldType.NUMBER),
        "price.margin": Field(Statement.margin, FieldType.NUMBER),
        "invoice.id": Field(Statement.invoice_id, FieldType.ID),
        "creditmemo.id": Field(Statement.credit_memo_id, FieldType.ID),
        "audit.created.at": Field(Statement.created_at, FieldType.DATETIME),
        "audit.updated.at": Field(Statement.updated_at, FieldType.DATETIME),
    },
    default_order="-audit.created.at",
    tiebreak=Statement.id,
)


def agreement_group_columns() -> tuple[Any, ...]:
    """What a statement takes from the charges of one agreement (§9.5): the agreement, its parties and
    currencies (the same on every charge of it), the count and the PP/SP sums."""
    return (
        Charge.agreement_id,
        func.min(Charge.client_id).label("client_id"),
        func.min(Charge.buyer_id).label("buyer_id"),
        func.min(Charge.seller_id).label("seller_id"),
        func.min(Charge.licensee_id).label("licensee_id"),
        func.min(Charge.product_id).label("product_id"),
        func.min(Charge.vendor_id).label("vendor_id"),
        func.min(Charge.currency_purchase).label("currency_purchase"),
        func.min(Charge.currency_sale).label("currency_sale"),
        func.count().label("count"),
        func.sum(Charge.ppx1, type_=Money).label("total_pp"),
        func.sum(Charge.spx1, type_=Money).label("total_sp"),
    )


TERMINAL_STATUSES = ("Issued", "Cancelled")  # a statement that needs nothing more from the ERP push


def _still_open(owner: ColumnElement[bool]) -> Select[Any]:
    """Whether a statement of the owner is not terminal yet: one EXISTS, built once (it runs for each issued one)."""
    return select(select(Statement.id).where(owner, Statement.status.not_in(TERMINAL_STATUSES)).exists())


_LEDGER_STILL_OPEN = _still_open(Statement.ledger_id == bindparam("b_id"))
_CUSTOM_LEDGER_STILL_OPEN = _still_open(Statement.custom_ledger_id == bindparam("b_id"))


class StatementRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def scoped(self, principal: Principal, scope: Scope) -> Select[Any]:
        stmt = select(Statement)
        if scope is Scope.OWN_CLIENT:
            stmt = stmt.where(Statement.client_id == principal.account_id)
        return stmt

    def get(
        self, statement_id: str, principal: Principal, scope: Scope, *, for_update: bool = False
    ) -> Statement | None:
        stmt = self.scoped(principal, scope).where(Statement.id == statement_id)
        if for_update:
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def of_custom_ledger(self, ledger_id: str) -> list[Statement]:
        return list(
            self.session.execute(
                select(Statement).where(Statement.custom_ledger_id == ledger_id).order_by(Statement.id)
            ).scalars()
        )

    def all_terminal(self, *, ledger_id: str | None = None, custom_ledger_id: str | None = None) -> bool:
        """Whether every statement of the ledger (or custom ledger) is Issued or Cancelled: one EXISTS, not a
        load of them all (this runs for each statement the push issues)."""
        statement = _LEDGER_STILL_OPEN if ledger_id else _CUSTOM_LEDGER_STILL_OPEN
        return not self.session.execute(statement, {"b_id": ledger_id or custom_ledger_id}).scalar_one()

    def of_ledger(self, ledger_id: str) -> list[Statement]:
        return list(
            self.session.execute(
                select(Statement).where(Statement.ledger_id == ledger_id).order_by(Statement.id)
            ).scalars()
        )

    def charges(self, statement_id: str) -> Select[Any]:
        return charge_rows().where(in_statement(statement_id))

    def ready_groups(self, ledger_ids: Sequence[str]) -> list[RatedAgreement]:
        """Per ledger and agreement: parties, currencies, count and sums of the Ready charges, as rating summed
        them."""
        return list(
            self.session.execute(
                select(RatedAgreement)
                .where(RatedAgreement.ledger_id.in_(ledger_ids))
                .order_by(RatedAgreement.ledger_id, RatedAgreement.agreement_id)
            ).scalars()
        )

    def existing_ids(self, journal_id: str) -> set[str]:
        return set(self.session.execute(select(Statement.id).where(Statement.journal_id == journal_id)).scalars())

    def arm_outbox(self, statement: Statement, now: datetime) -> None:
        """Insert or re-arm the statement's outbox row, due now (erp-integration.md §3.2 "Enqueue")."""
        row = self.session.execute(select(ErpOutbox).where(ErpOutbox.statement_id == statement.id)).scalar_one_or_none()
        doc_type = "invoice" if statement.type == "Debit" else "credit_memo"
        if row is None:
            self.session.add(
                ErpOutbox(
                    statement_id=statement.id, doc_type=doc_type, next_attempt_at=now, queued_at=now, updated_at=now
                )
            )
            return
        row.state, row.op, row.doc_type, row.failures = "pending", "push", doc_type, 0
        row.next_attempt_at = row.queued_at = row.updated_at = now
