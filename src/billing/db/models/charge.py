from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Base
from billing.db.types import Document, Money

#: PostgreSQL heap fill factor of the charge table: half of each page is left free for the row versions rating
#: writes (a charge grows by its ledger, statement and prices), so they are HOT updates.
FILL_FACTOR = 50


class Charge(Base):
    """One billable line (billing-api.md §6.3), reachable under every parent it belongs to.

    The hot table: written in sets (executemany / COPY), never one ORM object per row in a loop. Audit is
    derived (created/updated by the System user), so it has no JSON column.
    """

    __tablename__ = "charge"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    journal_id: Mapped[str | None] = mapped_column(String(16))
    custom_ledger_id: Mapped[str | None] = mapped_column(String(16))
    ledger_id: Mapped[str | None] = mapped_column(String(32))
    statement_id: Mapped[str | None] = mapped_column(String(40))
    #: source line/row number and child ordinal (0 = ordinary charge or split parent, 1–99 split children)
    line: Mapped[int] = mapped_column(Integer, nullable=False)
    child: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)  # line × 100 + child: file order
    parent_id: Mapped[str | None] = mapped_column(String(32))
    parent_external_vendor: Mapped[str | None] = mapped_column(String(255))
    split_percentage: Mapped[Any | None] = mapped_column(Money)
    external_vendor: Mapped[str | None] = mapped_column(String(255))
    external_invoice: Mapped[str | None] = mapped_column(String(255))
    external_reference: Mapped[str | None] = mapped_column(String(255))
    search: Mapped[dict[str, Any] | None] = mapped_column(Document)
    period_start: Mapped[datetime | None] = mapped_column(DateTime)
    period_end: Mapped[datetime | None] = mapped_column(DateTime)
    quantity: Mapped[Any | None] = mapped_column(Money)
    unit_pp: Mapped[Any | None] = mapped_column(Money)
    ppx1: Mapped[Any | None] = mapped_column(Money)
    unit_sp: Mapped[Any | None] = mapped_column(Money)
    spx1: Mapped[Any | None] = mapped_column(Money)
    markup: Mapped[Any | None] = mapped_column(Money)
    margin: Mapped[Any | None] = mapped_column(Money)
    currency_purchase: Mapped[str | None] = mapped_column(String(3))
    currency_sale: Mapped[str | None] = mapped_column(String(3))
    segment: Mapped[str | None] = mapped_column(String(8))
    description1: Mapped[str | None] = mapped_column(Text)
    description2: Mapped[str | None] = mapped_column(Text)
    attributes: Mapped[dict[str, Any] | None] = mapped_column(Document)
    billing_type: Mapped[str] = mapped_column(String(16), nullable=False, default="Automated")
    upload_status: Mapped[str] = mapped_column(String(8), nullable=False)
    upload_errors: Mapped[list[str] | None] = mapped_column(Document)
    processing_status: Mapped[str | None] = mapped_column(String(8))
    processing_errors: Mapped[list[str] | None] = mapped_column(Document)
    client_id: Mapped[str | None] = mapped_column(String(16))
    buyer_id: Mapped[str | None] = mapped_column(String(16))
    licensee_id: Mapped[str | None] = mapped_column(String(32))
    seller_id: Mapped[str | None] = mapped_column(String(16))
    vendor_id: Mapped[str] = mapped_column(String(16), nullable=False)
    product_id: Mapped[str | None] = mapped_column(String(32))
    agreement_id: Mapped[str | None] = mapped_column(String(32))
    subscription_id: Mapped[str | None] = mapped_column(String(32))
    asset_id: Mapped[str | None] = mapped_column(String(32))
    order_id: Mapped[str | None] = mapped_column(String(32))
    item_id: Mapped[str | None] = mapped_column(String(32))
    authorization_id: Mapped[str | None] = mapped_column(String(16))
    erp_country_code: Mapped[str | None] = mapped_column(String(8))
    erp_item_id: Mapped[str | None] = mapped_column(String(64))
    cco: Mapped[str | None] = mapped_column(String(64))
    scu: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime, nullable=False)

    __table_args__ = (
        # journal charges in file order, and the hot filters of the journal charge list
        Index("ix_charge_journal_seq", "journal_id", "seq"),
        Index("ix_charge_journal_status", "journal_id", "upload_status"),
        # a ledger's charges in file order: a ledger is its journal's charges of one seller
        Index("ix_charge_journal_seller_seq", "journal_id", "seller_id", "seq"),
        Index(
            "ix_charge_custom_ledger_seq",
            "custom_ledger_id",
            "seq",
            sqlite_where=text("custom_ledger_id IS NOT NULL"),
            postgresql_where=text("custom_ledger_id IS NOT NULL"),
        ),
        # Rating writes ledger_id, statement_id and the prices of every charge: no index names them, so on
        # PostgreSQL those UPDATEs are HOT (the new row version stays on its page, no index entry is added),
        # given the room the fill factor leaves on each page.
        {"postgresql_with": {"fillfactor": FILL_FACTOR}},
    )


#: The parent of a charge's statement: its journal, or its custom ledger.
charge_parent = func.coalesce(Charge.journal_id, Charge.custom_ledger_id)
# a statement's charges in file order: a statement is its parent's charges of one agreement
Index("ix_charge_parent_agreement_seq", charge_parent, Charge.agreement_id, Charge.seq)
