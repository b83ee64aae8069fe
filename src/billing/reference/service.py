"""Reference data rules: atomic imports, per-entity CRUD, export. Never commits."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy.orm import Session

from billing.auth.principal import Principal
from billing.errors import Conflict, NotFound, ValidationFailed
from billing.kit.timeutil import utcnow
from billing.reference.entities import ENTITIES
from billing.reference.repository import ReferenceRepository
from billing.reference.validation import (
    ReferenceImportError,
    export_document,
    validate_entity,
    validate_import,
)

Mode = Literal["merge", "replace"]


class ReferenceService:
    def __init__(self, session: Session, principal: Principal) -> None:
        self.principal = principal
        self.repository = ReferenceRepository(session)

    def import_document(self, document: Any, mode: Mode) -> dict[str, dict[str, int]]:
        """Validate the whole file against the resulting world, then apply it in one transaction."""
        try:
            plan = validate_import(document, self.repository.world(), mode)
        except ReferenceImportError as exc:
            raise ValidationFailed(exc.errors, "The reference data is invalid; nothing was imported.") from None
        referenced = [
            label for entity, ids in plan.removed.items() for label in self.repository.billing_referrers(entity, ids)
        ]
        if referenced:
            raise Conflict(
                "Replace would remove reference data that billing objects use: " + ", ".join(referenced[:10]) + ".",
                path="mode",
            )
        now = utcnow()
        for entity in reversed(list(ENTITIES)):
            self.repository.remove(entity, plan.removed.get(entity, []))
        for entity in ENTITIES:
            docs = plan.created.get(entity, []) + plan.updated.get(entity, [])
            self.repository.replace_docs(entity, docs, self.principal.actor, now)
        return plan.counts()

    def export(self) -> dict[str, Any]:
        return export_document(self.repository.world())

    def get(self, entity: str, object_id: str) -> Any:
        row = self.repository.get(entity, object_id)
        if row is None:
            raise NotFound.object(ENTITIES[entity].label.capitalize(), object_id)
        return row

    def create(self, entity: str, payload: Any) -> Any:
        doc = self._validated(entity, payload, current=None)
        self.repository.replace_docs(entity, [doc], self.principal.actor, utcnow())
        return self.get(entity, doc["id"])

    def update(self, entity: str, object_id: str, payload: Any) -> Any:
        current = self.get(entity, object_id).doc
        doc = self._validated(entity, payload, current=current)
        self.repository.replace_docs(entity, [doc], self.principal.actor, utcnow())
        return self.get(entity, object_id)

    def delete(self, entity: str, object_id: str) -> None:
        self.get(entity, object_id)
        users = self.repository.referrers(entity, object_id)
        if users:
            raise Conflict(
                f"{ENTITIES[entity].label.capitalize()} {object_id} is referenced by {', '.join(users[:10])}; "
                "disable it instead.",
                path="id",
            )
        self.repository.remove(entity, [object_id])

    def _validated(self, entity: str, payload: Any, *, current: dict[str, Any] | None) -> dict[str, Any]:
        try:
            return validate_entity(entity, payload, self.repository.world(), current=current)
        except ReferenceImportError as exc:
            raise ValidationFailed(exc.errors) from None
