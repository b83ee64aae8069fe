"""Reference lookups for charge validation (billing-api.md §8.4), prepared once per upload.

`ReferenceIndex.build` walks the reference world once and turns everything the validator needs per line into
plain dict lookups: sources (subscriptions, agreements, assets) by id and by ``externalIds.vendor``, items of the
journal's product, and for every agreement of the product the facts a charge copies from it (client, buyer,
licensee, seller, ERP data) plus its split allocations, already checked (V27).

Per-line resolution then costs one or two dict hits. Id lookups see every object of the type, so a hit on
another product can be told apart from a miss (V10 vs V08); vendor-id lookups see only the journal's product.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from billing.kit.money import NotANumber, format_decimal, in_range, round6, to_decimal

#: Split limits of billing-api.md §11.2 (also enforced by the reference import; data may have changed since).
MAX_SPLIT_ALLOCATIONS = 99
_HUNDRED = Decimal(100)

#: Source type (folded) → canonical name; canonical name → entity key of the reference world.
SOURCE_TYPES: dict[str, str] = {"subscription": "Subscription", "agreement": "Agreement", "asset": "Asset"}
SOURCE_ENTITIES: dict[str, str] = {"Subscription": "subscriptions", "Agreement": "agreements", "Asset": "assets"}

World = Mapping[str, Mapping[str, Mapping[str, Any]]]


@dataclass(frozen=True)
class JournalContext:
    """What the validator knows about the journal being uploaded."""

    journal_id: str
    vendor_id: str
    product_id: str
    authorization_id: str
    #: the authorization currency: every charge's purchase currency
    currency: str
    #: (client id, vendor id) pairs with an Active manual override
    manual_pairs: frozenset[tuple[str, str]]
    #: created_at / updated_at of the charges
    now: datetime


@dataclass(slots=True, eq=False)
class AgreementFacts:
    """An agreement of the journal's product with everything a charge copies from it (§8.4 steps 2, 5)."""

    id: str
    client_id: str | None
    buyer_id: str | None
    licensee_id: str | None
    seller_id: str | None
    product_id: str | None
    currency: str | None
    erp_country_code: str | None
    cco: str | None
    scu: str | None
    #: valid split allocations in allocation order; empty when the agreement is not split or its split is invalid
    split: tuple[Allocation, ...] = ()
    #: why the split configuration is invalid (the V27 reason), or None
    split_problem: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Allocation:
    agreement: AgreementFacts
    percentage: Decimal


@dataclass(frozen=True, slots=True, eq=False)
class SourceFacts:
    """A subscription, agreement or asset found by a charge's ``search.source``."""

    kind: str  # "Subscription" | "Agreement" | "Asset"
    id: str
    #: the agreement (the source itself or its ``agreement``) when it belongs to the journal's product, else None
    agreement: AgreementFacts | None
    #: product of the source's agreement (None when the agreement does not exist)
    product_id: str | None
    #: item ids of a subscription or asset (empty: any item of the product)
    items: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, eq=False)
class ItemFacts:
    id: str
    erp_item_id: str | None  # externalIds.operations


@dataclass(slots=True)
class ReferenceIndex:
    """The lookups of one upload; see the module docstring."""

    product_id: str
    #: kind → id → source (every object of the kind, whatever its product)
    sources_by_id: dict[str, dict[str, SourceFacts]] = field(default_factory=dict)
    #: kind → externalIds.vendor → sources of the journal's product
    sources_by_vendor: dict[str, dict[str, list[SourceFacts]]] = field(default_factory=dict)
    #: items of the journal's product by id and by externalIds.vendor
    items_by_id: dict[str, ItemFacts] = field(default_factory=dict)
    items_by_vendor: dict[str, list[ItemFacts]] = field(default_factory=dict)
    #: agreements of the journal's product (and split targets of them), by id
    agreements: dict[str, AgreementFacts] = field(default_factory=dict)

    @classmethod
    def build(cls, world: World, product_id: str) -> ReferenceIndex:
        index = cls(product_id)
        agreement_docs = world.get("agreements", {})
        index._build_agreements(world, agreement_docs)
        for kind, entity in SOURCE_ENTITIES.items():
            by_id: dict[str, SourceFacts] = {}
            by_vendor: dict[str, list[SourceFacts]] = {}
            for object_id, doc in world.get(entity, {}).items():
                if kind == "Agreement":
                    agreement_id: Any = object_id
                    items: frozenset[str] = frozenset()
                else:
                    agreement_id = doc.get("agreement")
                    items = frozenset(i for i in doc.get("items") or () if isinstance(i, str))
                agreement_doc = agreement_docs.get(agreement_id) if isinstance(agreement_id, str) else None
                product = agreement_doc.get("product") if agreement_doc is not None else None
                facts = index.agreements.get(agreement_id) if product == product_id else None
                source = SourceFacts(kind, object_id, facts, product, items)
                by_id[object_id] = source
                vendor = _external(doc, "vendor")
                if facts is not None and vendor is not None:
                    by_vendor.setdefault(vendor, []).append(source)
            index.sources_by_id[kind] = by_id
            index.sources_by_vendor[kind] = by_vendor
        for item_id, doc in world.get("items", {}).items():
            if doc.get("product") != product_id:
                continue
            item = ItemFacts(item_id, _external(doc, "operations"))
            index.items_by_id[item_id] = item
            vendor = _external(doc, "vendor")
            if vendor is not None:
                index.items_by_vendor.setdefault(vendor, []).append(item)
        return index

    def _build_agreements(self, world: World, docs: Mapping[str, Mapping[str, Any]]) -> None:
        sellers = world.get("sellers", {})
        buyers = world.get("buyers", {})

        def facts_of(agreement_id: str, doc: Mapping[str, Any]) -> AgreementFacts:
            seller_id = doc.get("seller")
            buyer_id = doc.get("buyer")
            seller = sellers.get(seller_id) if isinstance(seller_id, str) else None
            buyer = buyers.get(buyer_id) if isinstance(buyer_id, str) else None
            erp = seller.get("erp") if seller is not None else None
            return AgreementFacts(
                id=agreement_id,
                client_id=doc.get("client"),
                buyer_id=buyer_id,
                licensee_id=doc.get("licensee"),
                seller_id=seller_id,
                product_id=doc.get("product"),
                currency=doc.get("currency") or None,
                erp_country_code=erp.get("countryCode") if isinstance(erp, Mapping) else None,
                cco=_external(doc, "operations"),
                scu=_customer_no(buyer, seller_id),
            )

        for agreement_id, doc in docs.items():
            if doc.get("product") == self.product_id:
                self.agreements[agreement_id] = facts_of(agreement_id, doc)
        for agreement_id, facts in list(self.agreements.items()):
            split = docs[agreement_id].get("split")
            if not split:
                continue
            problem = _split_problem(agreement_id, split, docs, self.product_id)
            if problem is not None:
                facts.split_problem = problem
                continue
            # valid targets exist and are of the journal's product, so they are all indexed
            facts.split = tuple(
                Allocation(self.agreements[allocation["agreement"]], round6(to_decimal(allocation["percentage"])))
                for allocation in split
            )


def _external(doc: Mapping[str, Any], name: str) -> str | None:
    external = doc.get("externalIds")
    value = external.get(name) if isinstance(external, Mapping) else None
    return value if isinstance(value, str) and value.strip() else None


def _customer_no(buyer: Mapping[str, Any] | None, seller_id: Any) -> str | None:
    """The buyer's ERP customer number for the agreement's seller (erpData.scu)."""
    if buyer is None or seller_id is None:
        return None
    for entry in buyer.get("erpCustomers") or ():
        if isinstance(entry, Mapping) and entry.get("seller") == seller_id:
            return entry.get("customerNo")
    return None


def _split_problem(agreement_id: str, split: Any, docs: Mapping[str, Mapping[str, Any]], product_id: str) -> str | None:
    """The first reason why an agreement's split allocations are unusable (V27), or None (§11.2 rules)."""
    if not isinstance(split, list):
        return "the allocations are not a list"
    if len(split) > MAX_SPLIT_ALLOCATIONS:
        return f"at most {MAX_SPLIT_ALLOCATIONS} allocations are allowed (got {len(split)})"
    total = Decimal(0)
    for number, allocation in enumerate(split, start=1):
        if not isinstance(allocation, Mapping):
            return f"allocation {number} is not an object"
        raw = allocation.get("percentage")
        if raw is None:
            return f"allocation {number} has no percentage"
        try:
            percentage = to_decimal(raw)
        except NotANumber:
            return f"the percentage of allocation {number} is not a number"
        if not in_range(percentage):
            return f"the percentage of allocation {number} is out of range"
        percentage = round6(percentage)
        if percentage <= 0:
            return f"the percentage of allocation {number} must be greater than 0 (got {format_decimal(percentage)})"
        total += percentage
        target_id = allocation.get("agreement")
        target = docs.get(target_id) if isinstance(target_id, str) else None
        if target is None:
            return f"agreement '{target_id}' of allocation {number} was not found"
        if target_id == agreement_id:
            continue  # an agreement may list itself
        if target.get("product") != product_id:
            return f"agreement '{target_id}' is for product '{target.get('product')}', not '{product_id}'"
        if target.get("split"):
            return f"agreement '{target_id}' has a split of its own; splits cannot be nested"
    if total != _HUNDRED:
        return f"percentages must sum to 100 (got {format_decimal(total)})"
    return None
