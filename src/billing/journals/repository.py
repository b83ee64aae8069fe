"""All SQL for journals (charges have their own repository in billing.charges)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.auth.capabilities import Scope
from billing.auth.principal import Principal
from billing.db.models import Journal, JournalNumber
from billing.db.query import ListSpec
from billing.kit.ids import random_digits
from billing.kit.rql import Field, FieldType

STATUSES = (
    "Draft",
    "Validating",
    "Validated",
    "Error",
    "Deleted",
    "Review",
    "Enquiring",
    "Generating",
    "Generated",
    "Accepted",
    "Completed",
)

LIST_SPEC = ListSpec(
    registry={
        "id": Field(Journal.id, FieldType.ID),
        "name": Field(Journal.name, FieldType.STRING),
        "description": Field(Journal.description, FieldType.STRING),
        "notes": Field(Journal.notes, FieldType.STRING),
        "externalids.vendor": Field(Journal.external_vendor, FieldType.STRING),
        "externalids.operations": Field(Journal.external_operations, FieldType.STRING),
        "status": Field(Journal.status, FieldType.ENUM, STATUSES),
        "vendor.id": Field(Journal.vendor_id, FieldType.ID),
        "owner.id": Field(Journal.owner_id, FieldType.ID),
        "product.id": Field(Journal.product_id, FieldType.ID),
        "authorization.id": Field(Journal.authorization_id, FieldType.ID),
        "duedate": Field(Journal.due_date, FieldType.DATETIME),
        "price.currency": Field(Journal.currency, FieldType.STRING),
        "price.totalpp": Field(Journal.total_pp, FieldType.NUMBER),
        "price.totalsp": Field(Journal.total_sp, FieldType.NUMBER),
        "price.markup": Field(Journal.markup, FieldType.NUMBER),
        "price.margin": Field(Journal.margin, FieldType.NUMBER),
        "upload.total": Field(Journal.upload_total, FieldType.INTEGER),
        "upload.ready": Field(Journal.upload_ready, FieldType.INTEGER),
        "upload.split": Field(Journal.upload_split, FieldType.INTEGER),
        "upload.skipped": Field(Journal.upload_skipped, FieldType.INTEGER),
        "upload.error": Field(Journal.upload_error, FieldType.INTEGER),
        "audit.created.at": Field(Journal.created_at, FieldType.DATETIME),
        "audit.updated.at": Field(Journal.updated_at, FieldType.DATETIME),
    },
    default_order="-audit.created.at",
    tiebreak=Journal.id,
)


class JournalRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def scoped(self, principal: Principal, scope: Scope) -> Select[Any]:
        stmt = select(Journal)
        if scope is Scope.OWN_VENDOR:
            stmt = stmt.where(Journal.vendor_id == principal.account_id)
        return stmt

    def get(self, journal_id: str, principal: Principal, scope: Scope, *, for_update: bool = False) -> Journal | None:
        stmt = self.scoped(principal, scope).where(Journal.id == journal_id)
        if for_update:
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def get_any(self, journal_id: str, *, for_update: bool = False) -> Journal | None:
        return self.session.get(Journal, journal_id, with_for_update=for_update, populate_existing=True)

    def add(self, **values: Any) -> Journal:
        journal = Journal(id=f"BJO-{self.draw_digits('journal')}", **values)
        self.session.add(journal)
        self.session.flush()
        return journal

    def draw_digits(self, kind: str) -> str:
        """Digits from the pool shared with custom ledgers, re-drawn on collision (§12.1)."""
        for _ in range(20):
            digits = random_digits(2)
            savepoint = self.session.begin_nested()
            try:
                self.session.add(JournalNumber(digits=digits, kind=kind))
                self.session.flush()
            except IntegrityError:
                savepoint.rollback()
                continue
            savepoint.commit()
            return digits
        raise RuntimeError("could not draw free journal digits")
