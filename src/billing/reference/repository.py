"""All SQL for reference data (billing-api.md §11)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, Text, and_, cast, delete, insert, or_, select, type_coerce

from billing.db.engine import Executor, orm
from billing.db.models import ManualOverride, ReferenceLink, ReferenceObject
from billing.db.query import ListSpec
from billing.kit.rql import Field, FieldType
from billing.reference.entities import ENTITIES

#: Billing tables whose columns name reference objects: (table model, column, entity). Deleting a
#: referenced object answers 409 (billing-api.md §11.1). Later domains append their columns here.
BILLING_REFERENCES: list[tuple[Any, str, str]] = [
    (ManualOverride, "client_id", "accounts"),
    (ManualOverride, "vendor_id", "accounts"),
]

World = dict[str, dict[str, dict[str, Any]]]
_CHUNK = 500


class ReferenceRepository:
    def __init__(self, session: Executor) -> None:
        self.session = session

    # -- lookups ---------------------------------------------------------------------------------------
    def get(self, entity: str, object_id: str) -> ReferenceObject | None:
        return orm(self.session).get(ReferenceObject, (entity, object_id))

    def get_doc(self, entity: str, object_id: str) -> dict[str, Any] | None:
        return self.session.execute(
            select(ReferenceObject.doc).where(ReferenceObject.entity == entity, ReferenceObject.id == object_id)
        ).scalar_one_or_none()

    def docs_by_ids(self, entity: str, ids: list[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), _CHUNK):
            rows = self.session.execute(
                select(ReferenceObject.id, ReferenceObject.doc).where(
                    ReferenceObject.entity == entity, ReferenceObject.id.in_(ids[start : start + _CHUNK])
                )
            )
            found.update({object_id: doc for object_id, doc in rows})
        return found

    def doc_texts_by_keys(self, wanted: Mapping[str, list[str]]) -> dict[tuple[str, str], str]:
        """Documents of several entities as their stored JSON text (``json_loads`` gives the document), in one
        query per ~500 ids: ``{entity: ids}`` → ``{(entity, id): text}``. List pages decode only what they render."""
        pairs = [(entity, object_id) for entity, ids in wanted.items() for object_id in ids]
        found: dict[tuple[str, str], str] = {}
        for start in range(0, len(pairs), _CHUNK):
            chunk: dict[str, list[str]] = {}
            for entity, object_id in pairs[start : start + _CHUNK]:
                chunk.setdefault(entity, []).append(object_id)
            conditions = [
                and_(ReferenceObject.entity == entity, ReferenceObject.id.in_(ids)) for entity, ids in chunk.items()
            ]
            rows = self.session.execute(
                select(ReferenceObject.entity, ReferenceObject.id, cast(ReferenceObject.doc, Text)).where(
                    or_(*conditions)
                )
            )
            found.update(((entity, object_id), text) for entity, object_id, text in rows)
        return found

    def token_by_hash(self, secret_sha256: str) -> ReferenceObject | None:
        return (
            orm(self.session)
            .execute(
                select(ReferenceObject).where(
                    ReferenceObject.entity == "api-tokens", ReferenceObject.secret_sha256 == secret_sha256
                )
            )
            .scalar_one_or_none()
        )

    def docs(self, entity: str) -> dict[str, dict[str, Any]]:
        rows = self.session.execute(
            select(ReferenceObject.id, ReferenceObject.doc).where(ReferenceObject.entity == entity)
        )
        return {object_id: doc for object_id, doc in rows}

    def world(self) -> World:
        """Every reference object, by entity and id (import validation needs the whole set)."""
        result: World = {key: {} for key in ENTITIES}
        for entity, object_id, doc in self.session.execute(
            select(ReferenceObject.entity, ReferenceObject.id, ReferenceObject.doc)
        ):
            result.setdefault(entity, {})[object_id] = doc
        return result

    def _audits(self, entity: str, ids: Iterable[str]) -> dict[str, tuple[datetime, dict[str, Any]]]:
        wanted = list(ids)
        found: dict[str, tuple[datetime, dict[str, Any]]] = {}
        for start in range(0, len(wanted), _CHUNK):
            for object_id, created_at, audit in self.session.execute(
                select(ReferenceObject.id, ReferenceObject.created_at, ReferenceObject.audit).where(
                    ReferenceObject.entity == entity, ReferenceObject.id.in_(wanted[start : start + _CHUNK])
                )
            ):
                found[object_id] = (created_at, audit)
        return found

    # -- writes ------------------------------------------------------------------------------------------
    def replace_docs(self, entity: str, docs: list[dict[str, Any]], actor: Mapping[str, Any], now: datetime) -> None:
        """Insert or fully replace objects (keeping their ``created`` audit), in sets."""
        if not docs:
            return
        ids = [doc["id"] for doc in docs]
        previous = self._audits(entity, ids)
        self.remove(entity, [object_id for object_id in ids if object_id in previous])
        event = {"at": now, "by": dict(actor)}
        spec = ENTITIES[entity]
        rows: list[dict[str, Any]] = []
        links: list[dict[str, Any]] = []
        for doc in docs:
            created_at, audit = previous.get(doc["id"], (now, {"created": event}))
            rows.append(
                {
                    "entity": entity,
                    "id": doc["id"],
                    "name": doc.get("name") or "",
                    "status": doc.get("status") or "Active",
                    "doc": doc,
                    "secret_sha256": doc.get("secretSha256"),
                    "audit": {**audit, "updated": event},
                    "created_at": created_at,
                    "updated_at": now,
                }
            )
            links.extend(
                {
                    "entity": entity,
                    "id": doc["id"],
                    "path": path,
                    "target_entity": target,
                    "target_id": target_id,
                }
                for path, target, target_id in dict.fromkeys(spec.references(doc))
            )
        self.session.execute(insert(ReferenceObject), rows)
        if links:
            self.session.execute(insert(ReferenceLink), links)

    def remove(self, entity: str, ids: list[str]) -> None:
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            self.session.execute(
                delete(ReferenceLink).where(ReferenceLink.entity == entity, ReferenceLink.id.in_(chunk))
            )
            self.session.execute(
                delete(ReferenceObject).where(ReferenceObject.entity == entity, ReferenceObject.id.in_(chunk))
            )

    # -- referential checks --------------------------------------------------------------------------------
    def referrers(self, entity: str, object_id: str) -> list[str]:
        """Labels (``agreements AGR-…``) of what references the object: reference data and billing objects."""
        found = [
            f"{ref_entity} {ref_id}"
            for ref_entity, ref_id in self.session.execute(
                select(ReferenceLink.entity, ReferenceLink.id)
                .where(ReferenceLink.target_entity == entity, ReferenceLink.target_id == object_id)
                .distinct()
            )
            if (ref_entity, ref_id) != (entity, object_id)
        ]
        found.extend(self.billing_referrers(entity, [object_id]))
        return found

    def billing_referrers(self, entity: str, ids: list[str]) -> list[str]:
        """Billing objects naming any of ``ids`` (a few per table are enough for the message)."""
        found: list[str] = []
        for model, column, target in BILLING_REFERENCES:
            if target != entity or not ids:
                continue
            rows = self.session.execute(
                select(model.id, getattr(model, column)).where(getattr(model, column).in_(ids[:_CHUNK])).limit(5)
            )
            found.extend(f"{model.__tablename__} {billing_id} → {ref}" for billing_id, ref in rows)
        return found

    # -- listing ---------------------------------------------------------------------------------------------
    def list_statement(self, entity: str) -> Select[Any]:
        return select(ReferenceObject).where(ReferenceObject.entity == entity)


def list_spec(entity: str) -> ListSpec:
    """The RQL allow-list of one entity: its declared columns, read from the stored document."""
    registry: dict[str, Field] = {
        "id": Field(ReferenceObject.id, FieldType.ID),
        "name": Field(ReferenceObject.name, FieldType.STRING),
        "status": Field(ReferenceObject.status, FieldType.STRING),
        "audit.created.at": Field(ReferenceObject.created_at, FieldType.DATETIME),
        "audit.updated.at": Field(ReferenceObject.updated_at, FieldType.DATETIME),
    }
    spec = ENTITIES[entity]
    single_refs = {ref.path for ref in spec.refs if "[]" not in ref.path}
    for path, kind in spec.columns.items():
        key = path.lower()
        if key in registry:
            continue
        # references are stored as bare id strings: `client.id` reads the document's `client`
        stored = path[:-3] if path.endswith(".id") and path[:-3] in single_refs else path
        element = ReferenceObject.doc[tuple(stored.split("."))]
        if kind.startswith("enum:"):
            registry[key] = Field(element.as_string(), FieldType.ENUM, tuple(kind[5:].split(",")))
        elif kind == "decimal":
            registry[key] = Field(element.as_numeric(21, 6), FieldType.NUMBER)
        elif kind == "id":
            registry[key] = Field(element.as_string(), FieldType.ID)
        else:
            registry[key] = Field(type_coerce(element.as_string(), String), FieldType.STRING)
    return ListSpec(registry, "id", ReferenceObject.id)
