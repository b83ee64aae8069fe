"""Columns shared by invoices and credit memos (posted ERP documents, billing-api.md §6.8–6.11): what the API
filters and sorts by is a column, the rest of ``erpData`` (addresses, reference numbers, payment codes, …) and of
``price`` is a JSON document."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Audited
from billing.db.types import Document, Money


class PostedDocumentColumns(Audited):
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: the ERP's posted document number: with the table (document type), the upsert key (§4.2)
    document_no: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    #: ``Pre_Assigned_No`` (the statement's ``externalIds.erpId``), else ``No``
    erp_id: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    statement_id: Mapped[str | None] = mapped_column(String(40), index=True)
    billing_type: Mapped[str] = mapped_column(String(16), nullable=False)
    client_id: Mapped[str | None] = mapped_column(String(16))  # indexed with created_at by each table
    vendor_id: Mapped[str | None] = mapped_column(String(16))
    buyer_id: Mapped[str | None] = mapped_column(String(16), index=True)
    seller_id: Mapped[str] = mapped_column(String(16), nullable=False)
    licensee_id: Mapped[str | None] = mapped_column(String(32))
    product_id: Mapped[str | None] = mapped_column(String(32))
    agreement_id: Mapped[str | None] = mapped_column(String(32), index=True)
    document_date: Mapped[datetime | None] = mapped_column(DateTime)
    posting_date: Mapped[datetime | None] = mapped_column(DateTime)
    balance_due: Mapped[Any | None] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    total_sp: Mapped[Any] = mapped_column(Money, nullable=False, default=0)
    total_gt: Mapped[Any] = mapped_column(Money, nullable=False, default=0)
    #: ``Row_Version`` (or a local counter bumped on each change seen): an update applies only when newer
    row_version: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    erp_modified_at: Mapped[datetime | None] = mapped_column(DateTime)
    #: the other ``erpData`` members (addresses, referenceNumber, payment, yourReference, …)
    erp_data: Mapped[dict[str, Any]] = mapped_column(Document, nullable=False, default=dict)
    #: the other ``price`` members (currencyFactor, currencyFactor2, totalPP, totalST, markup, margin)
    price: Mapped[dict[str, Any]] = mapped_column(Document, nullable=False, default=dict)
    #: the next line ordinal (line ids stay stable per ``lineNo`` across updates, §12.1)
    next_line: Mapped[int] = mapped_column(Integer, nullable=False, default=1)


class PostedLineColumns:
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, nullable=False)
    document_no: Mapped[str | None] = mapped_column(String(32))
    item_no: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[str | None] = mapped_column(Text)
    description2: Mapped[str | None] = mapped_column(Text)
    period_start: Mapped[datetime | None] = mapped_column(DateTime)
    period_end: Mapped[datetime | None] = mapped_column(DateTime)
    quantity: Mapped[Any | None] = mapped_column(Money)
    unit_price: Mapped[Any | None] = mapped_column(Money)
    amount: Mapped[Any | None] = mapped_column(Money)
    erp_data: Mapped[dict[str, Any]] = mapped_column(Document, nullable=False, default=dict)
    #: the other ``price`` members
    price: Mapped[dict[str, Any]] = mapped_column(Document, nullable=False, default=dict)
