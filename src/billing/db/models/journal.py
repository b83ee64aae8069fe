from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Audited, Base
from billing.db.types import Document, Money


class Journal(Audited, Base):
    """A vendor's batch of purchase-price charges for one authorization (billing-api.md §6.2)."""

    __tablename__ = "journal"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    external_vendor: Mapped[str | None] = mapped_column(String(255), index=True)
    external_operations: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    vendor_id: Mapped[str] = mapped_column(String(16), nullable=False)
    owner_id: Mapped[str] = mapped_column(String(16), nullable=False)
    product_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    authorization_id: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    due_date: Mapped[datetime] = mapped_column(DateTime, nullable=False, index=True)
    assignee: Mapped[dict[str, Any] | None] = mapped_column(Document)
    # upload summary (§6.1)
    upload_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    upload_ready: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    upload_split: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    upload_skipped: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    upload_error: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # price summary (§9.4)
    total_pp: Mapped[Any] = mapped_column(Money, nullable=False, default=0)
    total_sp: Mapped[Any | None] = mapped_column(Money)
    markup: Mapped[Any | None] = mapped_column(Money)
    margin: Mapped[Any | None] = mapped_column(Money)
    processing: Mapped[dict[str, Any] | None] = mapped_column(Document)
    error: Mapped[dict[str, Any] | None] = mapped_column(Document)
    #: The stored Input attachment holding the last uploaded file (re-validated by regenerate).
    input_attachment_id: Mapped[str | None] = mapped_column(String(20))
    #: False while a validation is writing charges in batches: readers then see none, never a partial set.
    charges_visible: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    __table_args__ = (Index("ix_journal_vendor_created", "vendor_id", "created_at"),)
