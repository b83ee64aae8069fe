from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Audited, Base
from billing.db.types import Document, Money


class Statement(Audited, Base):
    """Charges of one ledger (or custom ledger) for one agreement: the document sent to the ERP (§6.7)."""

    __tablename__ = "statement"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    notes: Mapped[str | None] = mapped_column(Text)
    external_erp_id: Mapped[str | None] = mapped_column(String(64), index=True)
    external_operations: Mapped[str | None] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(8), nullable=False)
    billing_type: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    journal_id: Mapped[str | None] = mapped_column(String(16))
    ledger_id: Mapped[str | None] = mapped_column(String(32), index=True)
    custom_ledger_id: Mapped[str | None] = mapped_column(String(16), index=True)
    client_id: Mapped[str] = mapped_column(String(16), nullable=False)
    vendor_id: Mapped[str] = mapped_column(String(16), nullable=False)
    buyer_id: Mapped[str] = mapped_column(String(16), nullable=False)
    seller_id: Mapped[str] = mapped_column(String(16), nullable=False)
    licensee_id: Mapped[str | None] = mapped_column(String(32))
    product_id: Mapped[str] = mapped_column(String(32), nullable=False)
    agreement_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    currency_purchase: Mapped[str] = mapped_column(String(3), nullable=False)
    currency_sale: Mapped[str] = mapped_column(String(3), nullable=False)
    total_pp: Mapped[Any] = mapped_column(Money, nullable=False, default=0)
    total_sp: Mapped[Any] = mapped_column(Money, nullable=False, default=0)
    total_st: Mapped[Any | None] = mapped_column(Money)
    total_gt: Mapped[Any | None] = mapped_column(Money)
    markup: Mapped[Any | None] = mapped_column(Money)
    margin: Mapped[Any | None] = mapped_column(Money)
    processing: Mapped[dict[str, Any]] = mapped_column(Document, nullable=False, default=dict)
    error: Mapped[dict[str, Any] | None] = mapped_column(Document)
    status_notes: Mapped[str | None] = mapped_column(Text)
    invoice_id: Mapped[str | None] = mapped_column(String(32))
    credit_memo_id: Mapped[str | None] = mapped_column(String(32))
    queued_at: Mapped[datetime | None] = mapped_column(DateTime)

    __table_args__ = (Index("ix_statement_client_created", "client_id", "created_at"),)
