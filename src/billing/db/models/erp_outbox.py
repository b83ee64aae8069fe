from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Base


class ErpOutbox(Base):
    """The unit of push work, one per statement (erp-integration.md §3.1), written with the Queued transition."""

    __tablename__ = "erp_outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    statement_id: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    op: Mapped[str] = mapped_column(String(16), nullable=False, default="push")  # push | withdraw
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")  # pending|done|dead|cancelled
    doc_type: Mapped[str] = mapped_column(String(16), nullable=False)  # invoice | credit_memo
    claims: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    stage: Mapped[str] = mapped_column(String(16), nullable=False, default="none")  # none | header | complete
    erp_document_no: Mapped[str | None] = mapped_column(String(64))
    resolution: Mapped[str | None] = mapped_column(String(16))  # sent | found | manual
    last_outcome: Mapped[str | None] = mapped_column(String(16))
    last_error_code: Mapped[str | None] = mapped_column(String(16))
    last_error: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)

    __table_args__ = (Index("erp_outbox_due", "state", "next_attempt_at"),)
