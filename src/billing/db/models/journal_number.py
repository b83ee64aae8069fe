from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Base


class JournalNumber(Base):
    """The digit pool shared by journals and custom ledgers (no BJO- and CLE- id share digits, §12.1)."""

    __tablename__ = "journal_number"

    digits: Mapped[str] = mapped_column(String(9), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
