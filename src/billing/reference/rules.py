"""Cross-object rules of the reference data (billing-api.md §11.2), checked on a whole world.

A *world* maps entity key → id → canonical document. `check_document` yields ``(path, message)`` problems
of one document against the world it lives in: every reference must name an existing object of the right
entity (and account type), plus the rules that tie an object to what it references. Documents with binding
problems are checked too: a field that failed binding is empty and its rules are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from billing.kit.money import format_decimal
from billing.reference.binding import Problem
from billing.reference.entities import ENTITIES

World = Mapping[str, Mapping[str, dict[str, Any]]]

MAX_SPLIT_ALLOCATIONS = 99


def check_document(entity: str, doc: Mapping[str, Any], world: World) -> list[Problem]:
    problems = list(_references(entity, doc, world))
    rule = _RULES.get(entity)
    if rule is not None:
        problems.extend(rule(doc, world))
    return problems


def referrers(world: World, entity: str, object_id: str) -> list[tuple[str, str, str]]:
    """``(entity, id, path)`` of every other document in ``world`` that references the object."""
    found: list[tuple[str, str, str]] = []
    for key, spec in ENTITIES.items():
        if not any(ref.target == entity for ref in spec.refs):
            continue
        for doc_id, doc in world.get(key, {}).items():
            found.extend(
                (key, doc_id, path)
                for path, target, target_id in spec.references(doc)
                if target == entity and target_id == object_id and (key, doc_id) != (entity, object_id)
            )
    return found


def _get(world: World, entity: str, object_id: str | None) -> Mapping[str, Any] | None:
    return world.get(entity, {}).get(object_id) if object_id else None


def _differ(value: Any, expected: Any) -> bool:
    """Both known (a field that failed binding is None and its rules are skipped) and different."""
    return value is not None and expected is not None and value != expected


def _references(entity: str, doc: Mapping[str, Any], world: World) -> Iterator[Problem]:
    for ref, path, target_id in ENTITIES[entity].resolve_refs(doc):
        target = _get(world, ref.target, target_id)
        if target is None:
            yield path, f"{ENTITIES[ref.target].noun} '{target_id}' was not found."
        elif ref.account_type and target.get("type") != ref.account_type:
            kind = str(target.get("type"))
            article = "an" if kind[:1] in "AEIOU" else "a"
            yield path, f"Account '{target_id}' is {article} {kind} account; expected {ref.account_type}."


def _erp_customers(doc: Mapping[str, Any], world: World) -> Iterator[Problem]:
    """One customer number per seller."""
    first: dict[str, int] = {}
    for index, entry in enumerate(doc["erpCustomers"]):
        seller = entry["seller"]
        if seller is None:
            continue
        if seller in first:
            yield (
                f"erpCustomers[{index}].seller",
                f"Seller '{seller}' already has a customer number (erpCustomers[{first[seller]}]).",
            )
        else:
            first[seller] = index


def _buyer_of_client(doc: Mapping[str, Any], world: World) -> Iterator[Problem]:
    buyer = _get(world, "buyers", doc["buyer"])
    if buyer is not None and _differ(buyer["client"], doc["client"]):
        yield (
            "buyer",
            f"Buyer '{doc['buyer']}' belongs to client '{buyer['client']}', not to '{doc['client']}'.",
        )


def _vendor_of_product(doc: Mapping[str, Any], world: World) -> Iterator[Problem]:
    product = _get(world, "products", doc["product"])
    if product is not None and _differ(product["vendor"], doc["vendor"]):
        yield (
            "vendor",
            f"Vendor '{doc['vendor']}' is not the vendor of product '{doc['product']}' ('{product['vendor']}').",
        )


def _split(doc: Mapping[str, Any], world: World) -> Iterator[Problem]:
    """Allocations > 0 summing to exactly 100, ≤ 99 of them, targets of the same product and not split."""
    split = doc["split"]
    if not split:
        return
    if len(split) > MAX_SPLIT_ALLOCATIONS:
        yield "split", f"At most {MAX_SPLIT_ALLOCATIONS} split allocations are allowed (got {len(split)})."
    total: Decimal | None = Decimal(0)
    for index, allocation in enumerate(split):
        percentage = allocation["percentage"]
        if percentage is None:
            total = None
        else:
            if percentage <= 0:
                path = f"split[{index}].percentage"
                yield path, f"'{path}' must be greater than 0 (got {format_decimal(percentage)})."
            total = None if total is None else total + percentage
        target_id = allocation["agreement"]
        target = None if target_id == doc["id"] else _get(world, "agreements", target_id)
        if target is None:
            continue  # itself, or not found (reported with the references)
        if _differ(target["product"], doc["product"]):
            yield (
                f"split[{index}].agreement",
                f"Agreement '{target_id}' is for product '{target['product']}', not '{doc['product']}'.",
            )
        if target["split"]:
            yield (
                f"split[{index}].agreement",
                f"Agreement '{target_id}' has a split of its own; splits cannot be nested.",
            )
    if total is not None and total != 100:
        yield "split", f"Split percentages must sum to 100 (got {format_decimal(total)})."


def _agreement(doc: Mapping[str, Any], world: World) -> Iterator[Problem]:
    yield from _buyer_of_client(doc, world)
    yield from _vendor_of_product(doc, world)
    yield from _split(doc, world)


def _items_of_agreement_product(doc: Mapping[str, Any], world: World) -> Iterator[Problem]:
    agreement = _get(world, "agreements", doc["agreement"])
    if agreement is None:
        return
    for index, item_id in enumerate(doc["items"]):
        item = _get(world, "items", item_id)
        if item is not None and _differ(item["product"], agreement["product"]):
            yield (
                f"items[{index}]",
                f"Item '{item_id}' belongs to product '{item['product']}', not to product "
                f"'{agreement['product']}' of agreement '{doc['agreement']}'.",
            )


def _pricing_policy(doc: Mapping[str, Any], world: World) -> Iterator[Problem]:
    if doc["markup"] is None and doc["margin"] is None:
        yield "markup", "At least one of 'markup' and 'margin' is required."
    if doc["margin"] is not None and doc["margin"] >= 100:
        yield "margin", f"'margin' must be less than 100 (got {format_decimal(doc['margin'])})."


def _licensee(doc: Mapping[str, Any], world: World) -> Iterator[Problem]:
    yield from _buyer_of_client(doc, world)
    yield from _erp_customers(doc, world)


_RULES: dict[str, Callable[[Mapping[str, Any], World], Iterator[Problem]]] = {
    "buyers": _erp_customers,
    "licensees": _licensee,
    "agreements": _agreement,
    "subscriptions": _items_of_agreement_product,
    "assets": _items_of_agreement_product,
    "authorizations": _vendor_of_product,
    "pricing-policies": _pricing_policy,
}
