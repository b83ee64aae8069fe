from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Base


class ErpCursor(Base):
    """Where a pull stream stands (erp-integration.md §4.1): the committed watermark and the checkpoint of an
    unfinished run (its bounds, the last page's bookmark and the page count). It moves only in the transaction
    that commits the rows it covers."""

    __tablename__ = "erp_cursor"

    stream: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: ISO-8601 UTC time (``SystemModifiedAt``) or a number (``Row_Version``, ``Entry_No``), as text
    watermark: Mapped[str | None] = mapped_column(String(40))
    run_lower: Mapped[str | None] = mapped_column(String(40))
    run_upper: Mapped[str | None] = mapped_column(String(40))
    run_bookmark: Mapped[str | None] = mapped_column(Text)
    run_pages: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
