from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Base


class DocumentTask(Base):
    """A parent (statement, invoice, credit memo) whose documents may need rendering: one row per parent, due again
    whenever the parent's ``updated_at`` moves past ``source_updated_at`` (documents.render claims due rows)."""

    __tablename__ = "document_task"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: statement | invoice | credit_memo
    parent_type: Mapped[str] = mapped_column(String(16), nullable=False)
    parent_id: Mapped[str] = mapped_column(String(40), nullable=False)
    source_updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    #: when the next render is due; NULL when the parent's documents are up to date
    due_at: Mapped[datetime | None] = mapped_column(DateTime)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    rendered_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (
        UniqueConstraint("parent_type", "parent_id"),
        Index("ix_document_task_due", "due_at"),
    )


class DocumentOutput(Base):
    """One rendered version of one document of a parent; ``checksum`` = sha256(template version, inputs)."""

    __tablename__ = "document_output"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    parent_type: Mapped[str] = mapped_column(String(16), nullable=False)
    parent_id: Mapped[str] = mapped_column(String(40), nullable=False)
    #: invoice_pdf | credit_memo_pdf | statement_pdf | statement_charges_csv | ledger_charges_csv | invoice_lines_csv
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    checksum: Mapped[str] = mapped_column(String(64), nullable=False)
    template_version: Mapped[str] = mapped_column(String(64), nullable=False)
    attachment_id: Mapped[str] = mapped_column(String(20), nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)

    __table_args__ = (UniqueConstraint("parent_type", "parent_id", "kind", "checksum"),)


class DocumentDelivery(Base):
    """One document version sent (or to be sent) to one delivery target; retried with backoff as data."""

    __tablename__ = "document_delivery"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    output_id: Mapped[int] = mapped_column(ForeignKey("document_output.id"), nullable=False, index=True)
    target: Mapped[str] = mapped_column(String(64), nullable=False)
    #: Pending | Sent | Failed (attempts exhausted); a paused target's deliveries stay Pending and wait
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)

    __table_args__ = (Index("ix_document_delivery_due", "status", "next_attempt_at"),)


class DocumentDeliveryAttempt(Base):
    """The history of a delivery: one row per try, with its outcome."""

    __tablename__ = "document_delivery_attempt"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("document_delivery.id"), nullable=False, index=True)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    replica: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: sent | failed | abandoned (the sending replica died before recording an outcome)
    outcome: Mapped[str | None] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)


class DeliveryTarget(Base):
    """Health of a configured delivery target: consecutive failures pause it until an operator resumes it."""

    __tablename__ = "delivery_target"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    paused_at: Mapped[datetime | None] = mapped_column(DateTime)
    pause_reason: Mapped[str | None] = mapped_column(Text)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime)
