"""Compact reference objects rendered from current reference data at read time (billing-api.md §3.6)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from billing.db.types import json_loads
from billing.reference.repository import ReferenceRepository


class RefResolver:
    """Per-request cache of reference documents, so a list renders each referenced object once.

    `prefetch_many` reads documents as their stored text and decodes one only when it is rendered: a list page
    whose items come from the encoded-item cache decodes none, and keys those items on the texts (`stored_text`).
    """

    def __init__(self, repository: ReferenceRepository) -> None:
        self.repository = repository
        self._cache: dict[tuple[str, str], dict[str, Any] | None] = {}
        #: prefetched and not decoded yet; None: the object does not exist
        self._texts: dict[tuple[str, str], str | None] = {}

    def prefetch(self, entity: str, ids: Iterable[str | None]) -> None:
        missing = [i for i in set(ids) if i and (entity, i) not in self._cache]
        if missing:
            found = self.repository.docs_by_ids(entity, missing)
            for object_id in missing:
                self._cache[(entity, object_id)] = found.get(object_id)

    def prefetch_many(self, wanted: Iterable[tuple[str, str | None]]) -> None:
        """`prefetch` for ``(entity, id)`` pairs of several entities, in one query (per ~500 ids)."""
        missing: dict[str, set[str]] = {}
        for entity, object_id in wanted:
            key = (entity, object_id)
            if object_id and key not in self._cache and key not in self._texts:
                missing.setdefault(entity, set()).add(object_id)
        if missing:
            found = self.repository.doc_texts_by_keys({entity: sorted(ids) for entity, ids in missing.items()})
            for entity, ids in missing.items():
                for object_id in ids:
                    self._texts[(entity, object_id)] = found.get((entity, object_id))

    def stored_text(self, entity: str, object_id: str) -> str | None:
        """The prefetched object's stored JSON text (None: no such object); KeyError when not prefetched."""
        return self._texts[(entity, object_id)]

    def doc(self, entity: str, object_id: str | None) -> dict[str, Any] | None:
        if not object_id:
            return None
        key = (entity, object_id)
        if key not in self._cache:
            if key in self._texts:
                text = self._texts[key]
                self._cache[key] = None if text is None else json_loads(text)
            else:
                self._cache[key] = self.repository.get_doc(entity, object_id)
        return self._cache[key]

    def _ref(self, entity: str, object_id: str | None, *fields: str) -> dict[str, Any] | None:
        if not object_id:
            return None
        doc = self.doc(entity, object_id) or {}
        ref: dict[str, Any] = {"id": object_id}
        for name in fields:
            ref[name] = doc.get(name, "" if name in ("name", "icon") else None)
        return ref

    def seller(self, object_id: str | None) -> dict[str, Any] | None:
        """SellerRef: ``id, name, icon, externalId``."""
        return self._ref("sellers", object_id, "name", "icon", "externalId")

    def buyer(self, object_id: str | None) -> dict[str, Any] | None:
        return self._ref("buyers", object_id, "name", "icon")

    def licensee(self, object_id: str | None) -> dict[str, Any] | None:
        return self._ref("licensees", object_id, "name", "icon", "externalId")

    def agreement(self, object_id: str | None) -> dict[str, Any] | None:
        return self._ref("agreements", object_id, "name", "icon", "status")

    def subscription(self, object_id: str | None) -> dict[str, Any] | None:
        return self._ref("subscriptions", object_id, "name")

    def asset(self, object_id: str | None) -> dict[str, Any] | None:
        return self._ref("assets", object_id, "name")

    def authorization(self, object_id: str | None) -> dict[str, Any] | None:
        return self._ref("authorizations", object_id, "name", "currency")

    def product(self, object_id: str | None) -> dict[str, Any] | None:
        """ProductRef: ``id, name, icon, status, externalIds {operations}``."""
        ref = self._ref("products", object_id, "name", "icon", "status")
        if ref is not None:
            external = (self.doc("products", object_id) or {}).get("externalIds") or {}
            ref["externalIds"] = {"operations": external.get("operations")}
        return ref

    def item(self, object_id: str | None) -> dict[str, Any] | None:
        """ItemRef: ``id, name, externalIds {vendor, operations}``."""
        ref = self._ref("items", object_id, "name")
        if ref is not None:
            external = (self.doc("items", object_id) or {}).get("externalIds") or {}
            ref["externalIds"] = {"vendor": external.get("vendor"), "operations": external.get("operations")}
        return ref

    def user(self, object_id: str | None) -> dict[str, Any] | None:
        return self._ref("users", object_id, "name", "icon")

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
