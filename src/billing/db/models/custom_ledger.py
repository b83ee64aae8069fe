from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Audited, Base
from billing.db.types import Document, Money


class CustomLedger(Audited, Base):
    """Manual billing: sales-document rows uploaded by Operations for one seller and vendor (billing-api.md §6.6)."""

    __tablename__ = "custom_ledger"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    external_vendor: Mapped[str | None] = mapped_column(String(255))
    external_operations: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    seller_id: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    vendor_id: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    billing_start_date: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    billing_end_date: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    assignee: Mapped[dict[str, Any] | None] = mapped_column(Document)
    currency_purchase: Mapped[str | None] = mapped_column(String(3))
    currency_sale: Mapped[str | None] = mapped_column(String(3))
    # upload summary (§6.1)
    upload_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    upload_ready: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    upload_error: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # price summary (§9.4)
    total_pp: Mapped[Any] = mapped_column(Money, nullable=False, default=0)
    total_sp: Mapped[Any | None] = mapped_column(Money)
    markup: Mapped[Any | None] = mapped_column(Money)
    margin: Mapped[Any | None] = mapped_column(Money)
    processing: Mapped[dict[str, Any] | None] = mapped_column(Document)
    error: Mapped[dict[str, Any] | None] = mapped_column(Document)
    #: The stored Input attachment holding the last uploaded workbook.
    input_attachment_id: Mapped[str | None] = mapped_column(String(20))
