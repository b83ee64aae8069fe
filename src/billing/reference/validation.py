"""Validate reference data: whole import files and single objects of the per-entity API (billing-api.md §11).

Pure logic: documents in, canonical documents out. Every problem is collected before anything is raised;
`ReferenceImportError` carries them keyed by path:

* import: ``<entity>[<index>].<field>`` (index = position in the file's list; ``accounts`` for a problem with
  the list itself, ``file`` for a file that is not a mapping). In merge mode a stored object that the file
  does not mention but that the file's changes break is keyed by its id instead: ``agreements[AGR-…].buyer``.
* per entity: ``<field>``; stored objects broken by the change are keyed ``<entity>[<id>].<field>``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from billing.errors import ValidationFailed
from billing.reference.binding import Problem, bind_document, fold
from billing.reference.entities import ENTITIES
from billing.reference.rules import World, check_document, referrers

ImportMode = Literal["merge", "replace"]


class ReferenceImportError(ValidationFailed):
    """400 with ``errors`` keyed by path (see the module docstring)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors, "The reference data is invalid.")
        self.errors: dict[str, list[str]] = errors


class _Errors(dict[str, list[str]]):
    def add(self, path: str, message: str) -> None:
        self.setdefault(path, []).append(message)

    def extend(self, prefix: str, problems: Iterable[Problem]) -> None:
        for path, message in problems:
            self.add(f"{prefix}.{path}" if prefix else path, message)

    def raise_any(self) -> None:
        if self:
            raise ReferenceImportError(dict(self))


@dataclass(frozen=True)
class ImportPlan:
    """What applying an import changes, per entity in dependency order (every entity key is present).

    ``updated`` holds only objects whose document differs from the stored one, so re-loading an unchanged file
    writes nothing. ``removed`` (ids) is filled in replace mode only.
    """

    created: dict[str, list[dict[str, Any]]]
    updated: dict[str, list[dict[str, Any]]]
    removed: dict[str, list[str]]

    def counts(self) -> dict[str, dict[str, int]]:
        """The import response body (§11.1): non-zero counts only."""
        return {
            name: {entity: len(items) for entity, items in part.items() if items}
            for name, part in (
                ("created", self.created),
                ("updated", self.updated),
                ("removed", self.removed),
            )
        }


@dataclass
class _Placed:
    index: int
    doc: dict[str, Any]


def validate_import(document: Any, existing: World, mode: ImportMode) -> ImportPlan:
    """Validate an import file (parsed JSON or YAML) against the stored world; raise or return the plan.

    merge: upsert by id (an upsert replaces the whole document), nothing removed. replace: the file is the
    whole world; stored objects it does not list are removed. Rules run on the resulting world.
    """
    if mode not in ("merge", "replace"):
        raise ValueError(f"unknown import mode {mode!r}")
    errors = _Errors()
    incoming, to_check = _bind_file(document, errors)
    world: dict[str, dict[str, dict[str, Any]]] = {}
    for entity in ENTITIES:
        kept = dict(existing.get(entity, {})) if mode == "merge" else {}
        world[entity] = kept | {doc_id: placed.doc for doc_id, placed in incoming[entity].items()}
        to_check.extend(
            (entity, f"{entity}[{doc_id}]", doc) for doc_id, doc in kept.items() if doc_id not in incoming[entity]
        )
    for entity, key, doc in to_check:
        errors.extend(key, check_document(entity, doc, world))
    errors.raise_any()
    return _plan(incoming, existing, mode)


def _bind_file(
    document: Any, errors: _Errors
) -> tuple[dict[str, dict[str, _Placed]], list[tuple[str, str, dict[str, Any]]]]:
    """Bind every entry: the first entry of each id by entity, and every bound entry with its error key."""
    incoming: dict[str, dict[str, _Placed]] = {entity: {} for entity in ENTITIES}
    bound: list[tuple[str, str, dict[str, Any]]] = []
    for entity, rows in _sections(document, errors).items():
        for index, raw in enumerate(rows):
            key = f"{entity}[{index}]"
            if not isinstance(raw, Mapping):
                errors.add(key, "Each entry must be an object.")
                continue
            doc, problems = bind_document(ENTITIES[entity], raw)
            errors.extend(key, problems)
            bound.append((entity, key, doc))
            doc_id = doc["id"]
            if doc_id in incoming[entity]:
                first = incoming[entity][doc_id].index
                errors.add(f"{key}.id", f"Duplicate id '{doc_id}' (also at {entity}[{first}]).")
            elif doc_id is not None:
                incoming[entity][doc_id] = _Placed(index, doc)
    return incoming, bound


def _plan(incoming: dict[str, dict[str, _Placed]], existing: World, mode: ImportMode) -> ImportPlan:
    created: dict[str, list[dict[str, Any]]] = {}
    updated: dict[str, list[dict[str, Any]]] = {}
    removed: dict[str, list[str]] = {}
    for entity, placed in incoming.items():
        stored = existing.get(entity, {})
        created[entity] = [p.doc for doc_id, p in placed.items() if doc_id not in stored]
        updated[entity] = [p.doc for doc_id, p in placed.items() if doc_id in stored and stored[doc_id] != p.doc]
        removed[entity] = sorted(set(stored) - set(placed)) if mode == "replace" else []
    return ImportPlan(created, updated, removed)


def _sections(document: Any, errors: _Errors) -> dict[str, list[Any]]:
    """Entity key → its list, keys matched case-insensitively; a null list is an empty one."""
    if not isinstance(document, Mapping):
        errors.add("file", f"The file must be an object keyed by entity ({', '.join(ENTITIES)}).")
        return {}
    by_folded = {entity.casefold(): entity for entity in ENTITIES}
    sections: dict[str, list[Any]] = {}
    for key, rows in document.items():
        entity = by_folded.get(key.casefold()) if isinstance(key, str) else None
        if entity is None:
            errors.add(str(key), f"Unknown entity '{key}'; expected one of {', '.join(ENTITIES)}.")
        elif rows is None:
            sections[entity] = []
        elif isinstance(rows, list):
            sections[entity] = rows
        else:
            errors.add(entity, f"'{entity}' must be a list.")
    return sections


def validate_entity(entity: str, payload: Any, existing: World, *, current: dict[str, Any] | None) -> dict[str, Any]:
    """Validate a create (``current`` None) or a partial update of ``current``; return the canonical document.

    An update merges ``payload`` into ``current`` (§3.8: objects merge, arrays replace, ``null`` clears);
    ``id`` is immutable. Stored objects that reference the updated one are re-checked against it.
    """
    spec = ENTITIES[entity]
    errors = _Errors()
    if not isinstance(payload, Mapping):
        errors.add("body", "The body must be a JSON object.")
        errors.raise_any()
    doc, problems = bind_document(spec, payload if current is None else merge_patch(current, payload))
    errors.extend("", problems)
    doc_id = doc["id"]
    stored = existing.get(entity, {})
    if current is None and doc_id in stored:
        errors.add("id", f"{spec.noun} '{doc_id}' already exists.")
    elif current is not None and doc_id is not None and doc_id != current["id"]:
        errors.add("id", "'id' cannot be changed.")

    world = {**existing, entity: {**stored, doc_id: doc}} if doc_id else existing
    errors.extend("", check_document(entity, doc, world))
    if current is not None and doc_id == current["id"]:
        for ref_entity, ref_id in dict.fromkeys((e, i) for e, i, _ in referrers(world, entity, doc_id)):
            errors.extend(f"{ref_entity}[{ref_id}]", check_document(ref_entity, world[ref_entity][ref_id], world))
    errors.raise_any()
    return doc


def merge_patch(current: Mapping[str, Any], patch: Mapping[Any, Any]) -> dict[str, Any]:
    """``patch`` applied to ``current`` (§3.8): names fold case, objects merge, anything else replaces."""
    merged = dict(current)
    names = {name.casefold(): name for name in merged}
    for key, value in fold(patch).items():
        name = names.setdefault(key, key)
        old = merged.get(name)
        merged[name] = merge_patch(old, value) if isinstance(old, Mapping) and isinstance(value, Mapping) else value
    return merged


def export_document(world: World) -> dict[str, list[dict[str, Any]]]:
    """The whole set in the import format: entity → documents sorted by id (decimals stay `Decimal`)."""
    exported: dict[str, list[dict[str, Any]]] = {}
    for entity in ENTITIES:
        docs = world.get(entity, {})
        exported[entity] = [copy.deepcopy(docs[object_id]) for object_id in sorted(docs)]
    return exported
