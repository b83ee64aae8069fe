from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Base
from billing.db.models.erp_document import PostedDocumentColumns, PostedLineColumns
from billing.db.types import Money


class Invoice(PostedDocumentColumns, Base):
    """A posted sales invoice pulled from the ERP (``INV-…``, billing-api.md §6.8)."""

    __tablename__ = "invoice"

    due_date: Mapped[datetime | None] = mapped_column(DateTime)
    invoice_total: Mapped[Any | None] = mapped_column(Money)

    __table_args__ = (
        # serves ``eq(status,…)&order=-erpData.dueDate`` without a sort (the list orders nulls last descending,
        # id ascending as the tie-breaker) and the overdue job's status + due date range; SQLite has no NULLS
        # clause in an index, and its descending order puts nulls last already
        Index("ix_invoice_status_due", "status", text("due_date DESC NULLS LAST"), "id").ddl_if(dialect="postgresql"),
        Index("ix_invoice_status_due", "status", text("due_date DESC"), "id").ddl_if(dialect="sqlite"),
        # the same for a client's own invoices (client tokens are scoped by client_id, §2.4)
        Index("ix_invoice_client_status_due", "client_id", "status", text("due_date DESC NULLS LAST"), "id").ddl_if(
            dialect="postgresql"
        ),
        Index("ix_invoice_client_status_due", "client_id", "status", text("due_date DESC"), "id").ddl_if(
            dialect="sqlite"
        ),
        Index("ix_invoice_client_created", "client_id", "created_at"),
    )


class InvoiceLine(PostedLineColumns, Base):
    """A line of an invoice (``INL-…``, §6.9)."""

    __tablename__ = "invoice_line"

    invoice_id: Mapped[str] = mapped_column(String(32), ForeignKey("invoice.id", ondelete="CASCADE"), nullable=False)

    __table_args__ = (UniqueConstraint("invoice_id", "line_no"),)
