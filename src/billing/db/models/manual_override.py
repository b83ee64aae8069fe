from __future__ import annotations

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Audited, Base


class ManualOverride(Audited, Base):
    """A (client, vendor) pair billed manually (billing-api.md §6.12)."""

    __tablename__ = "manual_override"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    client_id: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    vendor_id: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    external_id: Mapped[str | None] = mapped_column(String(255))
    notes: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (UniqueConstraint("client_id", "vendor_id"),)
