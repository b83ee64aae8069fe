from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Base
from billing.db.types import Money


class ErpBalance(Base):
    """The newest observation of a posted document's customer ledger entry (§4.3), kept even before the document
    is imported: its ``Remaining_Amount`` becomes the document's ``balanceDue``."""

    __tablename__ = "erp_balance"

    doc_type: Mapped[str] = mapped_column(String(16), primary_key=True)  # invoice | credit_memo
    document_no: Mapped[str] = mapped_column(String(32), primary_key=True)
    entry_no: Mapped[int] = mapped_column(BigInteger, nullable=False)
    customer_no: Mapped[str | None] = mapped_column(String(32))
    remaining: Mapped[Any] = mapped_column(Money, nullable=False)
    open: Mapped[bool] = mapped_column(Boolean, nullable=False)
    observed_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
