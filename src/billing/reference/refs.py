"""Compact reference objects rendered from current reference data at read time (billing-api.md §3.6)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from billing.reference.repository import ReferenceRepository


class RefResolver:
    """Per-request cache of reference documents, so a list renders each referenced object once."""

    def __init__(self, repository: ReferenceRepository) -> None:
        self.repository = repository
        self._cache: dict[tuple[str, str], dict[str, Any] | None] = {}

    def prefetch(self, entity: str, ids: Iterable[str | None]) -> None:
        missing = [i for i in set(ids) if i and (entity, i) not in self._cache]
        if missing:
            found = self.repository.docs_by_ids(entity, missing)
            for object_id in missing:
                self._cache[(entity, object_id)] = found.get(object_id)

    def doc(self, entity: str, object_id: str | None) -> dict[str, Any] | None:
        if not object_id:
            return None
        key = (entity, object_id)
        if key not in self._cache:
            self._cache[key] = self.repository.get_doc(entity, object_id)
        return self._cache[key]

    def account(self, object_id: str | None) -> dict[str, Any] | None:
        """AccountRef: ``id, name, icon, type, status``."""
        if not object_id:
            return None
        doc = self.doc("accounts", object_id) or {}
        return {
            "id": object_id,
            "name": doc.get("name", ""),
            "icon": doc.get("icon", ""),
            "type": doc.get("type"),
            "status": doc.get("status"),
        }
