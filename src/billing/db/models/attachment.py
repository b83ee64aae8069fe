from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Audited, Base


class Attachment(Audited, Base):
    """A file attached to a journal, ledger, custom ledger, statement, invoice or credit memo (§6.13).

    The bytes live in content-addressed storage (`attachments.storage`) under ``sha256``; identical uploads
    share one stored file. Deleting an attachment only marks the row (``is_deleted``).
    """

    __tablename__ = "attachment"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    #: journal | ledger | custom_ledger | statement | invoice | credit_memo
    parent_type: Mapped[str] = mapped_column(String(16), nullable=False)
    parent_id: Mapped[str] = mapped_column(String(40), nullable=False)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    #: Attachment | Input | Output
    type: Mapped[str] = mapped_column(String(16), nullable=False)
    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    content_type: Mapped[str] = mapped_column(String(255), nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    is_deleted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    is_external: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    # a parent's attachments, newest first (the default list order)
    __table_args__ = (Index("ix_attachment_parent", "parent_type", "parent_id", "created_at"),)
