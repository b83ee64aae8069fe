from __future__ import annotations

from typing import Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Audited, Base
from billing.db.types import Document, Money


class Ledger(Audited, Base):
    """Rated charges of one journal for one seller (billing-api.md §6.5); created only by rating."""

    __tablename__ = "ledger"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    notes: Mapped[str | None] = mapped_column(Text)
    journal_id: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    authorization_id: Mapped[str] = mapped_column(String(16), nullable=False)
    owner_id: Mapped[str] = mapped_column(String(16), nullable=False)
    seller_id: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    product_id: Mapped[str] = mapped_column(String(32), nullable=False)
    vendor_id: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    assignee: Mapped[dict[str, Any] | None] = mapped_column(Document)
    total_pp: Mapped[Any] = mapped_column(Money, nullable=False, default=0)
    total_sp: Mapped[Any | None] = mapped_column(Money)
    markup: Mapped[Any | None] = mapped_column(Money)
    margin: Mapped[Any | None] = mapped_column(Money)
    processing: Mapped[dict[str, Any]] = mapped_column(Document, nullable=False, default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(Document)

    __table_args__ = (Index("ix_ledger_journal", "journal_id", "seller_id"),)
