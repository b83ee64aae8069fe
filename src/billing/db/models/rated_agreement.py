from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Base
from billing.db.types import Money


class RatedAgreement(Base):
    """The Ready charges of one agreement in one rated ledger, summed by rating (billing-api.md §9.5): what the
    agreement's statement takes from them. Statement generation reads these rows instead of grouping the charges
    again; rating a ledger replaces its rows."""

    __tablename__ = "rated_agreement"

    ledger_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    agreement_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: the agreement's parties and currencies, the same on every charge of it
    client_id: Mapped[str | None] = mapped_column(String(16))
    buyer_id: Mapped[str | None] = mapped_column(String(16))
    seller_id: Mapped[str | None] = mapped_column(String(16))
    licensee_id: Mapped[str | None] = mapped_column(String(32))
    product_id: Mapped[str | None] = mapped_column(String(32))
    vendor_id: Mapped[str | None] = mapped_column(String(16))
    currency_purchase: Mapped[str | None] = mapped_column(String(3))
    currency_sale: Mapped[str | None] = mapped_column(String(3))
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    total_pp: Mapped[Any] = mapped_column(Money, nullable=False)
    total_sp: Mapped[Any] = mapped_column(Money, nullable=False)
