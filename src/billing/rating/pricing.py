"""Pure pricing functions for rating (billing-api.md §9.2–9.4); no database access.

All arithmetic is exact decimal: products are computed in a context wide enough never to round them, the one
division (margin) keeps 60 digits, far more than its rounding to 6 places can notice; every stored value is
rounded once with `round6` (§3.3). The ``rated_*_micros`` functions are the same arithmetic on integer
millionths, the form in which SQLite stores money: set-based rating calls them from SQL there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, localcontext
from functools import lru_cache
from typing import Any

from billing.kit.money import round6

__all__ = [
    "MarkupResolver",
    "PriceSummary",
    "Rated",
    "factor",
    "rate",
    "rate_given_prices",
    "rated_margin_micros",
    "rated_spx1_micros",
    "rated_unit_sp_micros",
    "summary",
]

_PREC = 60
#: Digits that keep every product exact: unitPP and quantity have ≤ 21 digits (|x| < 10^15, 6 places) and
#: ``1 + markup/100`` ≤ 81 (a 60-digit markup converted from a margin, down to 10^-67).
_EXACT_PREC = 150
_MICRO = 10**6
_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
#: Processing statuses whose charges are not billable (§9.4): split parents and failures.
_NOT_BILLABLE = frozenset({"Split", "Error"})


def _ref_id(value: Any) -> str | None:
    """A reference as a bare id (canonical docs) or, defensively, as ``{"id": …}``."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) else None


def _policy_markup(policy: Mapping[str, Any]) -> Decimal | None:
    """The policy's `markup`, else the markup equivalent of its `margin` (unrounded), else None."""
    markup = policy.get("markup")
    if markup is not None:
        return Decimal(markup)
    margin = policy.get("margin")
    if margin is None:
        return None
    margin = Decimal(margin)
    if margin >= _HUNDRED:  # rejected by the reference rules; never divide by zero here
        return None
    with localcontext() as ctx:
        ctx.prec = _PREC
        return margin / (_HUNDRED - margin) * _HUNDRED


class MarkupResolver:
    """Resolves a charge's markup per §9.3; build once per rating run, then call `markup_for` per charge.

    Pricing policies are indexed by client up front and the winner per (client, product) is memoised, so
    repeated calls cost two dict look-ups.
    """

    __slots__ = ("_agreements", "_by_client", "_memo", "_sources")

    def __init__(
        self,
        agreements: Mapping[str, Mapping[str, Any]],
        sources: Mapping[str, Mapping[str, Any]],
        policies: Iterable[Mapping[str, Any]],
    ) -> None:
        self._agreements = agreements
        self._sources = sources
        #: client id → [(product ids, policy id, markup)] of its Active policies.
        self._by_client: dict[str, list[tuple[frozenset[str], str, Decimal]]] = {}
        for policy in policies:
            if (policy.get("status") or "Active") != "Active":
                continue
            client = _ref_id(policy.get("client"))
            markup = _policy_markup(policy)
            if client is None or markup is None:
                continue
            products = frozenset(p for p in (_ref_id(x) for x in policy.get("products") or ()) if p is not None)
            self._by_client.setdefault(client, []).append((products, str(policy["id"]), markup))
        self._memo: dict[tuple[str, str | None], Decimal | None] = {}

    def policy_markup(self, client: str, product: str | None) -> Decimal | None:
        """Markup of the client's winning Active policy for `product` (§9.3 step 3), or None."""
        key = (client, product)
        if key in self._memo:
            return self._memo[key]
        best: tuple[int, str, Decimal] | None = None  # (0 = names the product, 1 = all products), id, markup
        for products, policy_id, markup in self._by_client.get(client, ()):
            if products and product not in products:
                continue
            rank = (0 if products else 1, policy_id, markup)
            if best is None or rank[:2] < best[:2]:
                best = rank
        result = best[2] if best is not None else None
        self._memo[key] = result
        return result

    def markup_for(self, *, agreement_id: str, source_id: str | None) -> Decimal:
        """Markup (percent, unrounded) for a charge of `agreement_id` matched to subscription/asset `source_id`."""
        if source_id is not None:
            source = self._sources.get(source_id)
            if source is not None:
                markup = (source.get("price") or {}).get("markup")
                if markup is not None:
                    return Decimal(markup)
        agreement = self._agreements.get(agreement_id)
        if agreement is None:
            return _ZERO
        default = agreement.get("defaultMarkup")
        if default is not None:
            return Decimal(default)
        client = _ref_id(agreement.get("client"))
        if client is not None:
            policy = self.policy_markup(client, _ref_id(agreement.get("product")))
            if policy is not None:
                return policy
        return _ZERO


@dataclass(frozen=True, slots=True)
class Rated:
    """Stored (rounded) prices of one rated charge."""

    unit_sp: Decimal
    spx1: Decimal
    markup: Decimal | None
    margin: Decimal | None


def _margin(spx1: Decimal, ppx1: Decimal) -> Decimal | None:
    """``(SPx1 − PPx1) / SPx1 × 100`` rounded to 6, None when SPx1 = 0."""
    if spx1 == 0:
        return None
    with localcontext() as ctx:
        ctx.prec = _PREC
        return round6((spx1 - ppx1) / spx1 * _HUNDRED)


def factor(markup: Decimal) -> Decimal:
    """``1 + markup/100``, exactly: what unitPP is multiplied by (§9.3)."""
    with localcontext() as ctx:
        ctx.prec = _EXACT_PREC
        return 1 + markup / _HUNDRED


def rate(unit_pp: Decimal, quantity: Decimal, ppx1: Decimal, markup: Decimal) -> Rated:
    """Price a charge from its purchase prices and resolved markup (§9.3).

    ``unitSP = unitPP × (1 + markup/100)``; ``SPx1 = unitSP × quantity`` using the unrounded unitSP. The charge
    markup is the resolved markup rounded to 6. Reading of the margin formula: it is computed from the *stored*
    (rounded) SPx1 and PPx1, so a charge's margin is reproducible from its own displayed prices.
    """
    with localcontext() as ctx:
        ctx.prec = _EXACT_PREC
        unit_sp = unit_pp * factor(markup)
        spx1 = round6(unit_sp * quantity)
    return Rated(unit_sp=round6(unit_sp), spx1=spx1, markup=round6(markup), margin=_margin(spx1, round6(ppx1)))


def _half_away(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded to an integer, half away from zero (exact)."""
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


@lru_cache(maxsize=256)
def _ratio(factor_text: str) -> tuple[int, int]:
    return Decimal(factor_text).as_integer_ratio()


@lru_cache(maxsize=1 << 14)
def rated_unit_sp_micros(unit_pp: int, factor_text: str) -> int:
    """`rate`'s unitSP in millionths, from unitPP in millionths and `factor` as text."""
    numerator, denominator = _ratio(factor_text)
    return _half_away(unit_pp * numerator, denominator)


@lru_cache(maxsize=1 << 14)
def rated_spx1_micros(unit_pp: int, quantity: int, factor_text: str) -> int:
    """`rate`'s SPx1 in millionths (unitPP and quantity in millionths)."""
    numerator, denominator = _ratio(factor_text)
    return _half_away(unit_pp * numerator * quantity, denominator * _MICRO)


@lru_cache(maxsize=1 << 14)
def rated_margin_micros(unit_pp: int, quantity: int, ppx1: int, factor_text: str) -> int | None:
    """`rate`'s margin in millionths (None when SPx1 = 0), computed exactly. `rate` rounds a 60-digit quotient
    to the same value: it is off by less than 10^-36, while an exact quotient of such amounts is either a half
    or at least 5·10^-28 away from one."""
    spx1 = rated_spx1_micros(unit_pp, quantity, factor_text)
    return None if spx1 == 0 else _half_away(100 * _MICRO * (spx1 - ppx1), spx1)


def rate_given_prices(unit_pp: Decimal, unit_sp: Decimal, quantity: Decimal) -> Rated:
    """Price a custom-ledger charge whose unit prices are given (§8.7, §9.3 last bullet).

    ``PPx1 = unitPP × quantity``, ``SPx1 = unitSP × quantity``; ``markup = (unitSP − unitPP)/unitPP × 100``
    (None when unitPP = 0); margin from the rounded SPx1 and PPx1 as in `rate`. PPx1 itself is
    ``round6(unit_pp * quantity)``; callers store it alongside.
    """
    with localcontext() as ctx:
        ctx.prec = _PREC
        ppx1 = round6(unit_pp * quantity)
        spx1 = round6(unit_sp * quantity)
        markup = None if unit_pp == 0 else round6((unit_sp - unit_pp) / unit_pp * _HUNDRED)
    return Rated(unit_sp=round6(unit_sp), spx1=spx1, markup=markup, margin=_margin(spx1, ppx1))


@dataclass(frozen=True, slots=True)
class PriceSummary:
    """§9.4 totals of a journal, ledger, custom ledger or statement."""

    total_pp: Decimal
    total_sp: Decimal | None
    markup: Decimal | None
    margin: Decimal | None


def summary(rows: Iterable[tuple[str | None, Decimal | None, Decimal | None]]) -> PriceSummary:
    """Summarise ``(processing status, PPx1, SPx1)`` rows (§9.4).

    totalPP sums PPx1 of billable charges (not Split/Error; Skipped and unrated included); totalSP sums SPx1 of
    Ready charges (None when none is Ready); markup and margin use the PP and SP totals of Ready charges only.
    Totals are sums of stored values, hence exact; markup and margin are rounded to 6.
    """
    total_pp = _ZERO
    ready_pp = _ZERO
    ready_sp = _ZERO
    any_ready = False
    with localcontext() as ctx:
        ctx.prec = _PREC
        for status, ppx1, spx1 in rows:
            if status in _NOT_BILLABLE:
                continue
            if ppx1 is not None:
                total_pp += ppx1
            if status == "Ready":
                any_ready = True
                if ppx1 is not None:
                    ready_pp += ppx1
                if spx1 is not None:
                    ready_sp += spx1
        if not any_ready:
            return PriceSummary(total_pp=total_pp, total_sp=None, markup=None, margin=None)
        diff = ready_sp - ready_pp
        markup = None if ready_pp == 0 else round6(diff / ready_pp * _HUNDRED)
        margin = None if ready_sp == 0 else round6(diff / ready_sp * _HUNDRED)
    return PriceSummary(total_pp=total_pp, total_sp=ready_sp, markup=markup, margin=margin)
