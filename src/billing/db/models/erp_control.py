from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Base


class ErpControl(Base):
    """The one row that pauses all ERP traffic, by hand or after an auth/config failure (erp-integration.md §3.5)."""

    __tablename__ = "erp_control"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    paused: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    pause_reason: Mapped[str | None] = mapped_column(Text)
    paused_by: Mapped[str | None] = mapped_column(String(64))  # "auto" or the operator
    paused_at: Mapped[datetime | None] = mapped_column(DateTime)
