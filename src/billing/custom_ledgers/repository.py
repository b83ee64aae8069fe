"""All SQL for custom ledgers and their charges."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, select, update
from sqlalchemy.orm import Session

from billing.charges.repository import charge_rows
from billing.db.models import Charge, CustomLedger
from billing.db.query import ListSpec
from billing.journals.repository import JournalRepository
from billing.kit.rql import Field, FieldType
from billing.statements.repository import agreement_group_columns

STATUSES = (
    "Draft",
    "Validating",
    "Validated",
    "Error",
    "Deleted",
    "Generating",
    "Generated",
    "Queued",
    "Completed",
)

LIST_SPEC = ListSpec(
    registry={
        "id": Field(CustomLedger.id, FieldType.ID),
        "name": Field(CustomLedger.name, FieldType.STRING),
        "description": Field(CustomLedger.description, FieldType.STRING),
        "notes": Field(CustomLedger.notes, FieldType.STRING),
        "externalids.vendor": Field(CustomLedger.external_vendor, FieldType.STRING),
        "externalids.operations": Field(CustomLedger.external_operations, FieldType.STRING),
        "status": Field(CustomLedger.status, FieldType.ENUM, STATUSES),
        "seller.id": Field(CustomLedger.seller_id, FieldType.ID),
        "vendor.id": Field(CustomLedger.vendor_id, FieldType.ID),
        "billingstartdate": Field(CustomLedger.billing_start_date, FieldType.DATETIME),
        "billingenddate": Field(CustomLedger.billing_end_date, FieldType.DATETIME),
        "price.currency.purchase": Field(CustomLedger.currency_purchase, FieldType.STRING),
        "price.currency.sale": Field(CustomLedger.currency_sale, FieldType.STRING),
        "price.totalpp": Field(CustomLedger.total_pp, FieldType.NUMBER),
        "price.totalsp": Field(CustomLedger.total_sp, FieldType.NUMBER),
        "price.markup": Field(CustomLedger.markup, FieldType.NUMBER),
        "price.margin": Field(CustomLedger.margin, FieldType.NUMBER),
        "upload.total": Field(CustomLedger.upload_total, FieldType.INTEGER),
        "upload.ready": Field(CustomLedger.upload_ready, FieldType.INTEGER),
        "upload.error": Field(CustomLedger.upload_error, FieldType.INTEGER),
        "audit.created.at": Field(CustomLedger.created_at, FieldType.DATETIME),
        "audit.updated.at": Field(CustomLedger.updated_at, FieldType.DATETIME),
    },
    default_order="-audit.created.at",
    tiebreak=CustomLedger.id,
)


class CustomLedgerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, ledger_id: str, *, for_update: bool = False) -> CustomLedger | None:
        return self.session.get(CustomLedger, ledger_id, with_for_update=for_update, populate_existing=for_update)

    def add(self, **values: Any) -> CustomLedger:
        """A new custom ledger whose digits come from the pool shared with journals (§12.1)."""
        ledger = CustomLedger(id=f"CLE-{JournalRepository(self.session).draw_digits('custom_ledger')}", **values)
        self.session.add(ledger)
        self.session.flush()
        return ledger

    def list_statement(self) -> Select[Any]:
        return select(CustomLedger)

    def charges(self, ledger_id: str) -> Select[Any]:
        return charge_rows().where(Charge.custom_ledger_id == ledger_id)

    def delete_charges(self, ledger_id: str) -> None:
        self.session.execute(delete(Charge).where(Charge.custom_ledger_id == ledger_id))

    def agreement_groups(self, ledger_id: str) -> list[Any]:
        """Per agreement: references, currencies, counts and sums of the ledger's Ready charges (§9.5)."""
        return list(
            self.session.execute(
                select(*agreement_group_columns())
                .where(Charge.custom_ledger_id == ledger_id, Charge.processing_status == "Ready")
                .group_by(Charge.agreement_id)
                .order_by(Charge.agreement_id)
            )
        )

    def assign(self, ledger_id: str, agreement_id: str, statement_id: str) -> None:
        self.session.execute(
            update(Charge)
            .where(
                Charge.custom_ledger_id == ledger_id,
                Charge.agreement_id == agreement_id,
                Charge.processing_status == "Ready",
            )
            .values(statement_id=statement_id)
        )
