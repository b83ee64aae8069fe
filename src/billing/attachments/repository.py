"""All SQL for attachments and the scoped look-up of their parents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.attachments.schemas import TYPES
from billing.db.models import Attachment, CreditMemo, CustomLedger, Invoice, Journal, Ledger, Statement
from billing.db.query import ListSpec
from billing.kit.ids import new_id
from billing.kit.rql import Field, FieldType

LIST_SPEC = ListSpec(
    registry={
        "id": Field(Attachment.id, FieldType.ID),
        "name": Field(Attachment.name, FieldType.STRING),
        "description": Field(Attachment.description, FieldType.STRING),
        "type": Field(Attachment.type, FieldType.ENUM, TYPES),
        "filename": Field(Attachment.filename, FieldType.STRING),
        "contenttype": Field(Attachment.content_type, FieldType.STRING),
        "size": Field(Attachment.size, FieldType.INTEGER),
        "audit.created.at": Field(Attachment.created_at, FieldType.DATETIME),
        "audit.updated.at": Field(Attachment.updated_at, FieldType.DATETIME),
    },
    default_order="-audit.created.at",
    tiebreak=Attachment.id,
)


class AttachmentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, attachment_id: str, *, for_update: bool = False) -> Attachment | None:
        return self.session.get(Attachment, attachment_id, with_for_update=for_update)

    def add(self, prefix: str, groups: int, **values: Any) -> Attachment:
        """Insert with a fresh random id, re-drawn on the (unlikely) collision with another row."""
        for _ in range(10):
            attachment = Attachment(id=new_id(prefix, groups), **values)
            savepoint = self.session.begin_nested()
            try:
                self.session.add(attachment)
                self.session.flush()
            except IntegrityError:
                savepoint.rollback()
                continue
            savepoint.commit()
            return attachment
        raise RuntimeError(f"could not draw a free {prefix} attachment id")

    def list_statement(self, parent_type: str, parent_id: str) -> Select[Any]:
        """The live attachments of one parent (deleted ones are never served)."""
        return select(Attachment).where(
            Attachment.parent_type == parent_type,
            Attachment.parent_id == parent_id,
            Attachment.is_deleted.is_(False),
        )

    def journal(self, journal_id: str, *, vendor_id: str | None) -> Journal | None:
        """The journal, or None when it does not exist or (``vendor_id`` given) belongs to another vendor."""
        stmt = select(Journal).where(Journal.id == journal_id)
        if vendor_id is not None:
            stmt = stmt.where(Journal.vendor_id == vendor_id)
        return self.session.execute(stmt).scalar_one_or_none()

    def ledger(self, ledger_id: str) -> Ledger | None:
        return self.session.get(Ledger, ledger_id)

    def custom_ledger(self, ledger_id: str) -> CustomLedger | None:
        return self.session.get(CustomLedger, ledger_id)

    def statement(self, statement_id: str, *, client_id: str | None) -> Statement | None:
        """The statement, or None when it does not exist or (``client_id`` given) belongs to another client."""
        stmt = select(Statement).where(Statement.id == statement_id)
        if client_id is not None:
            stmt = stmt.where(Statement.client_id == client_id)
        return self.session.execute(stmt).scalar_one_or_none()

    def invoice(self, invoice_id: str, *, client_id: str | None) -> Invoice | None:
        """The invoice, or None when it does not exist or (``client_id`` given) belongs to another client."""
        stmt = select(Invoice).where(Invoice.id == invoice_id)
        if client_id is not None:
            stmt = stmt.where(Invoice.client_id == client_id)
        return self.session.execute(stmt).scalar_one_or_none()

    def credit_memo(self, credit_memo_id: str, *, client_id: str | None) -> CreditMemo | None:
        stmt = select(CreditMemo).where(CreditMemo.id == credit_memo_id)
        if client_id is not None:
            stmt = stmt.where(CreditMemo.client_id == client_id)
        return self.session.execute(stmt).scalar_one_or_none()
