from __future__ import annotations

from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Base
from billing.db.models.erp_document import PostedDocumentColumns, PostedLineColumns
from billing.db.types import Money


class CreditMemo(PostedDocumentColumns, Base):
    """A posted sales credit memo pulled from the ERP (``CRD-…``, billing-api.md §6.10)."""

    __tablename__ = "credit_memo"

    applies_to_doc_no: Mapped[str | None] = mapped_column(String(32), index=True)
    credit_memo_total: Mapped[Any | None] = mapped_column(Money)

    __table_args__ = (Index("ix_credit_memo_client_created", "client_id", "created_at"),)


class CreditMemoLine(PostedLineColumns, Base):
    """A line of a credit memo (``CRL-…``, §6.11)."""

    __tablename__ = "credit_memo_line"

    credit_memo_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("credit_memo.id", ondelete="CASCADE"), nullable=False
    )

    __table_args__ = (UniqueConstraint("credit_memo_id", "line_no"),)
