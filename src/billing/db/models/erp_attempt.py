from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Base


class ErpAttempt(Base):
    """One ERP call made for an outbox row, or an operator action on it (erp-integration.md §3.6)."""

    __tablename__ = "erp_attempt"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    outbox_id: Mapped[int | None] = mapped_column(BigInteger)
    statement_id: Mapped[str] = mapped_column(String(40), nullable=False)
    claim_no: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    replica: Mapped[str | None] = mapped_column(String(64))
    correlation_id: Mapped[str | None] = mapped_column(String(64))
    #: ``SalesInvoice.Create``, or ``manual.retry`` / ``manual.cancel`` / ``manual.issue`` for operator actions
    operation: Mapped[str] = mapped_column(String(64), nullable=False)
    started_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    http_status: Mapped[int | None] = mapped_column(Integer)
    #: ok | retryable | throttled | uncertain | permanent | auth | config | lease_lost | abandoned | manual
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)
    fault_code: Mapped[str | None] = mapped_column(String(255))
    fault_message: Mapped[str | None] = mapped_column(Text)
    request_excerpt: Mapped[str | None] = mapped_column(Text)
    response_excerpt: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_erp_attempt_statement", "statement_id", "id"),
        Index("ix_erp_attempt_started", "started_at"),
    )
