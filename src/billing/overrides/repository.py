"""All SQL for manual overrides."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing.db.models import ManualOverride
from billing.db.query import ListSpec
from billing.kit.ids import new_id
from billing.kit.rql import Field, FieldType

STATUSES = ("Active", "Disabled")

LIST_SPEC = ListSpec(
    registry={
        "id": Field(ManualOverride.id, FieldType.ID),
        "name": Field(ManualOverride.name, FieldType.STRING),
        "status": Field(ManualOverride.status, FieldType.ENUM, STATUSES),
        "client.id": Field(ManualOverride.client_id, FieldType.ID),
        "vendor.id": Field(ManualOverride.vendor_id, FieldType.ID),
        "externalid": Field(ManualOverride.external_id, FieldType.STRING),
        "notes": Field(ManualOverride.notes, FieldType.STRING),
        "audit.created.at": Field(ManualOverride.created_at, FieldType.DATETIME),
        "audit.updated.at": Field(ManualOverride.updated_at, FieldType.DATETIME),
    },
    default_order="-audit.created.at",
    tiebreak=ManualOverride.id,
)


class OverrideRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, override_id: str, *, for_update: bool = False) -> ManualOverride | None:
        return self.session.get(ManualOverride, override_id, with_for_update=for_update)

    def for_pair(self, client_id: str, vendor_id: str) -> ManualOverride | None:
        return self.session.execute(
            select(ManualOverride).where(ManualOverride.client_id == client_id, ManualOverride.vendor_id == vendor_id)
        ).scalar_one_or_none()

    def active_pairs(self) -> set[tuple[str, str]]:
        """(client, vendor) pairs billed manually right now (validation and rating read this once)."""
        rows = self.session.execute(
            select(ManualOverride.client_id, ManualOverride.vendor_id).where(ManualOverride.status == "Active")
        )
        return {(client, vendor) for client, vendor in rows}

    def add(self, **values: Any) -> ManualOverride:
        """Insert with a fresh random id, re-drawn on the (unlikely) collision with another process."""
        for _ in range(10):
            override = ManualOverride(id=new_id("BOV", 2), **values)
            savepoint = self.session.begin_nested()
            try:
                self.session.add(override)
                self.session.flush()
            except IntegrityError:
                savepoint.rollback()
                if self.for_pair(values["client_id"], values["vendor_id"]) is not None:
                    raise
                continue
            savepoint.commit()
            return override
        raise RuntimeError("could not draw a free manual override id")

    def list_statement(self) -> Select[Any]:
        return select(ManualOverride)
