from __future__ import annotations

from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billing.db.models.base import Audited, Base
from billing.db.types import Document


class ReferenceObject(Audited, Base):
    """One reference-data object (billing-api.md §11) of any entity, kept as its canonical document."""

    __tablename__ = "reference_object"

    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    doc: Mapped[dict[str, Any]] = mapped_column(Document, nullable=False)
    #: api-tokens only: the SHA-256 of the secret, for bearer lookup.
    secret_sha256: Mapped[str | None] = mapped_column(String(64), unique=True)


class ReferenceLink(Base):
    """An outgoing reference of a reference object; answers "is X referenced?" without scanning documents."""

    __tablename__ = "reference_link"

    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(String(128), primary_key=True)
    target_entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    target_id: Mapped[str] = mapped_column(String(64), primary_key=True)

    __table_args__ = (Index("ix_reference_link_target", "target_entity", "target_id"),)
