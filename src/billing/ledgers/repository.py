"""All SQL for ledgers."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from billing.charges.repository import charge_rows, in_ledger
from billing.db.models import Ledger
from billing.db.query import ListSpec
from billing.kit.rql import Field, FieldType

STATUSES = ("Rating", "Review", "Error", "Generating", "Generated", "Queued", "Completed")

LIST_SPEC = ListSpec(
    registry={
        "id": Field(Ledger.id, FieldType.ID),
        "name": Field(Ledger.name, FieldType.STRING),
        "notes": Field(Ledger.notes, FieldType.STRING),
        "status": Field(Ledger.status, FieldType.ENUM, STATUSES),
        "journal.id": Field(Ledger.journal_id, FieldType.ID),
        "authorization.id": Field(Ledger.authorization_id, FieldType.ID),
        "owner.id": Field(Ledger.owner_id, FieldType.ID),
        "seller.id": Field(Ledger.seller_id, FieldType.ID),
        "product.id": Field(Ledger.product_id, FieldType.ID),
        "vendor.id": Field(Ledger.vendor_id, FieldType.ID),
        "price.currency": Field(Ledger.currency, FieldType.STRING),
        "price.totalpp": Field(Ledger.total_pp, FieldType.NUMBER),
        "price.totalsp": Field(Ledger.total_sp, FieldType.NUMBER),
        "price.markup": Field(Ledger.markup, FieldType.NUMBER),
        "price.margin": Field(Ledger.margin, FieldType.NUMBER),
        "audit.created.at": Field(Ledger.created_at, FieldType.DATETIME),
        "audit.updated.at": Field(Ledger.updated_at, FieldType.DATETIME),
    },
    default_order="-audit.created.at",
    tiebreak=Ledger.id,
)


#: A ledger's status, locked (PostgreSQL): each issued statement checks it, so the statement is built once.
_STATUS_FOR_UPDATE = select(Ledger.status).where(Ledger.id == bindparam("b_id")).with_for_update()


class LedgerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def status_for_update(self, ledger_id: str) -> str | None:
        """The ledger's status, its row locked for the caller's change (None: no such ledger)."""
        return self.session.execute(_STATUS_FOR_UPDATE, {"b_id": ledger_id}).scalar()

    def get(self, ledger_id: str, *, for_update: bool = False) -> Ledger | None:
        return self.session.get(Ledger, ledger_id, with_for_update=for_update)

    def of_journal(self, journal_id: str) -> list[Ledger]:
        return list(self.session.execute(select(Ledger).where(Ledger.journal_id == journal_id)).scalars())

    def list_statement(self) -> Select[Any]:
        return select(Ledger)

    def of_journal_by_seller(self, journal_id: str) -> dict[str, Ledger]:
        rows = self.session.execute(select(Ledger).where(Ledger.journal_id == journal_id)).scalars()
        return {ledger.seller_id: ledger for ledger in rows}

    def charges(self, ledger_id: str) -> Select[Any]:
        """The ledger's charges as plain rows (§5.8: split parents are never assigned to a ledger)."""
        return charge_rows().where(in_ledger(ledger_id))
