"""Field visibility by role (billing-api.md §2.6), declared as data.

Each resource lists only its restricted paths and the roles that may see them; every other field is
visible to every role that can read the resource. A hidden field is absent from responses (not null), is
not reported in ``$meta.omitted``, cannot be selected, filtered or ordered on, and input for it is ignored.
``[]`` in a path means "every element of this list".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from billing.auth.principal import Role
from billing.kit.rql import Collection, Registry

C, V, O = Role.CLIENT, Role.VENDOR, Role.OPERATIONS
_VO, _CO, _O = frozenset({V, O}), frozenset({C, O}), frozenset({O})

_CHARGE: dict[str, frozenset[Role]] = {
    "price.currency.purchase": _VO,
    "price.unitPP": _VO,
    "price.PPx1": _VO,
    "price.currency.sale": _CO,
    "price.currency.rate": _CO,
    "price.unitSP": _CO,
    "price.SPx1": _CO,
    "price.markup": _O,
    "price.margin": _O,
    "upload": _VO,
    "search": _VO,
    "journal": _VO,
    "authorization": _VO,
    "statementType": _CO,
    "statement": _CO,
    "processing": _O,
    "erpData": _O,
    "ledger": _O,
    "customLedger": _O,
}

_DOCUMENT_LINE = {
    "price.purchaseCurrencyCode": _O,
    "price.purchaseCurrencyFactor": _O,
    "price.purchasePrice": _O,
    "price.purchasePriceLcy": _O,
    "price.purchasePriceTotal": _O,
    "price.purchasePriceTotalLcy": _O,
    "price.salesMarkup": _O,
    "price.salesMargin": _O,
}
_DOCUMENT = {
    "price.totalPP": _O,
    "price.markup": _O,
    "price.margin": _O,
    **{f"lines[].{path}": roles for path, roles in _DOCUMENT_LINE.items()},
}

RESTRICTED: dict[str, dict[str, frozenset[Role]]] = {
    "charge": _CHARGE,
    "journal": {
        "price.totalSP": _O,
        "price.markup": _O,
        "price.margin": _O,
        "processing": _O,
    },
    "journal_seller": {"ledger": _O},
    "statement": {
        "notes": _O,
        "journal": _O,
        "ledger": _O,
        "customLedger": _O,
        "price.currency.purchase": _O,
        "price.currency.sale": _CO,
        "price.currency.rate": _CO,
        "price.totalPP": _O,
        "price.markup": _O,
        "price.margin": _O,
        "processing": _O,
        "error": _O,
        "statusNotes": _O,
    },
    "invoice": _DOCUMENT,
    "credit_memo": _DOCUMENT,
    "document_line": _DOCUMENT_LINE,
}


def hidden_paths(resource: str, role: Role) -> frozenset[str]:
    """Paths of ``resource`` the role may not see."""
    return frozenset(path for path, roles in RESTRICTED.get(resource, {}).items() if role not in roles)


def is_hidden(path: str, hidden: Iterable[str]) -> bool:
    """True when ``path`` (dotted, case-sensitive canonical) is a hidden path or lies beneath one."""
    return any(path == h or path.startswith(h + ".") for h in hidden)


def prune(item: dict[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    """Remove hidden paths in place; a parent object left empty by the removal disappears too."""
    for path in hidden:
        _remove(item, path.split("."))
    return item


def _remove(node: Any, parts: list[str]) -> None:
    head, rest = parts[0], parts[1:]
    if head.endswith("[]"):
        items = node.get(head[:-2]) if isinstance(node, dict) else None
        for element in items or ():
            _remove(element, rest)
        return
    if not isinstance(node, dict) or head not in node:
        return
    if not rest:
        del node[head]
        return
    child = node[head]
    _remove(child, rest)
    if isinstance(child, dict) and not child:
        del node[head]


def visible_registry(registry: Registry, hidden: Iterable[str]) -> Registry:
    """The RQL allow-list without the hidden paths (filtering or ordering on them → 400 Unknown property).

    Registry keys are lower-case dotted paths; a hidden ``lines[].price.x`` is removed from the fields of the
    ``lines`` collection, so ``any(lines,eq(price.x,1))`` is refused as well.
    """
    keys = {path.lower().replace("[]", "") for path in hidden}
    if not keys:
        return registry
    result: dict[str, Any] = {}
    for key, target in registry.items():
        if is_hidden(key, keys):
            continue
        if isinstance(target, Collection):
            prefix = key + "."
            inner = {path[len(prefix) :] for path in keys if path.startswith(prefix)}
            if inner:
                target = replace(target, fields=visible_registry(target.fields, inner))
        result[key] = target
    return result
