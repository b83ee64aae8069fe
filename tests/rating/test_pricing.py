"""Hand-computed examples for the pure pricing functions (billing-api.md §9.2–9.4, §13.2)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from billing.rating.pricing import MarkupResolver, PriceSummary, Rated, rate, rate_given_prices, summary

CLIENT = "ACC-8119-0187"
OTHER_CLIENT = "ACC-8119-0999"
PRODUCT = "PRD-2426-7318"
OTHER_PRODUCT = "PRD-2426-9999"


def _agreement(agr_id: str, default_markup: D | None = None, client: str = CLIENT) -> dict[str, Any]:
    return {"id": agr_id, "client": client, "product": PRODUCT, "defaultMarkup": default_markup}


def _source(src_id: str, markup: D | None) -> dict[str, Any]:
    return {"id": src_id, "agreement": "AGR-0001", "price": {"markup": markup}}


def _policy(
    pol_id: str,
    *,
    products: list[str] | None = None,
    markup: D | None = None,
    margin: D | None = None,
    client: str = CLIENT,
    status: str = "Active",
) -> dict[str, Any]:
    return {
        "id": pol_id,
        "client": client,
        "products": products or [],
        "markup": markup,
        "margin": margin,
        "status": status,
    }


def _resolver(
    *,
    default_markup: D | None = None,
    sources: dict[str, dict[str, Any]] | None = None,
    policies: list[dict[str, Any]] | None = None,
) -> MarkupResolver:
    return MarkupResolver({"AGR-0001": _agreement("AGR-0001", default_markup)}, sources or {}, policies or [])


# --- markup resolution (§9.3) ---------------------------------------------------------------------------------


def test_subscription_markup_wins_over_everything() -> None:
    resolver = _resolver(
        default_markup=D(12), sources={"SUB-1": _source("SUB-1", D(15))}, policies=[_policy("PRP-1", markup=D(10))]
    )
    assert resolver.markup_for(agreement_id="AGR-0001", source_id="SUB-1") == D(15)


def test_asset_markup_is_used_like_a_subscription() -> None:
    resolver = _resolver(default_markup=D(12), sources={"AST-1": _source("AST-1", D("7.5"))})
    assert resolver.markup_for(agreement_id="AGR-0001", source_id="AST-1") == D("7.5")


def test_subscription_markup_zero_is_not_null_and_wins() -> None:
    resolver = _resolver(default_markup=D(12), sources={"SUB-1": _source("SUB-1", D(0))})
    assert resolver.markup_for(agreement_id="AGR-0001", source_id="SUB-1") == D(0)


def test_null_subscription_markup_falls_back_to_agreement_default() -> None:
    resolver = _resolver(
        default_markup=D(12), sources={"SUB-1": _source("SUB-1", None)}, policies=[_policy("PRP-1", markup=D(10))]
    )
    assert resolver.markup_for(agreement_id="AGR-0001", source_id="SUB-1") == D(12)


def test_no_source_uses_agreement_default() -> None:
    resolver = _resolver(default_markup=D(12))
    assert resolver.markup_for(agreement_id="AGR-0001", source_id=None) == D(12)


def test_pricing_policy_when_no_source_or_default_markup() -> None:
    resolver = _resolver(sources={"SUB-1": _source("SUB-1", None)}, policies=[_policy("PRP-1", markup=D(10))])
    assert resolver.markup_for(agreement_id="AGR-0001", source_id="SUB-1") == D(10)


def test_product_specific_policy_beats_empty_list_even_with_larger_id() -> None:
    policies = [_policy("PRP-1", markup=D(10)), _policy("PRP-9", products=[OTHER_PRODUCT, PRODUCT], markup=D(20))]
    assert _resolver(policies=policies).markup_for(agreement_id="AGR-0001", source_id=None) == D(20)


def test_policy_for_other_product_does_not_apply() -> None:
    policies = [_policy("PRP-1", products=[OTHER_PRODUCT], markup=D(30)), _policy("PRP-2", markup=D(10))]
    assert _resolver(policies=policies).markup_for(agreement_id="AGR-0001", source_id=None) == D(10)


def test_policy_tie_goes_to_smallest_id() -> None:
    policies = [_policy("PRP-0003", markup=D(3)), _policy("PRP-0001", markup=D(1)), _policy("PRP-0002", markup=D(2))]
    assert _resolver(policies=policies).markup_for(agreement_id="AGR-0001", source_id=None) == D(1)


def test_policy_tie_among_product_specific_goes_to_smallest_id() -> None:
    policies = [
        _policy("PRP-0002", products=[PRODUCT], markup=D(2)),
        _policy("PRP-0001", products=[PRODUCT], markup=D(1)),
        _policy("PRP-0000", markup=D(9)),
    ]
    assert _resolver(policies=policies).markup_for(agreement_id="AGR-0001", source_id=None) == D(1)


def test_disabled_policy_is_ignored() -> None:
    policies = [_policy("PRP-1", products=[PRODUCT], markup=D(50), status="Disabled"), _policy("PRP-2", markup=D(10))]
    assert _resolver(policies=policies).markup_for(agreement_id="AGR-0001", source_id=None) == D(10)


def test_other_clients_policy_is_ignored() -> None:
    policies = [_policy("PRP-1", products=[PRODUCT], markup=D(50), client=OTHER_CLIENT)]
    assert _resolver(policies=policies).markup_for(agreement_id="AGR-0001", source_id=None) == D(0)


def test_margin_only_policy_converts_to_markup() -> None:
    policies = [_policy("PRP-1", margin=D(20))]
    assert _resolver(policies=policies).markup_for(agreement_id="AGR-0001", source_id=None) == D(25)


def test_policy_markup_preferred_over_its_margin() -> None:
    policies = [_policy("PRP-1", markup=D(10), margin=D(20))]
    assert _resolver(policies=policies).markup_for(agreement_id="AGR-0001", source_id=None) == D(10)


def test_no_markup_anywhere_is_zero() -> None:
    resolver = _resolver(sources={"SUB-1": _source("SUB-1", None)})
    assert resolver.markup_for(agreement_id="AGR-0001", source_id="SUB-1") == D(0)


def test_resolver_is_stable_across_repeated_calls() -> None:
    resolver = _resolver(policies=[_policy("PRP-1", margin=D(20))])
    results = {resolver.markup_for(agreement_id="AGR-0001", source_id=None) for _ in range(1000)}
    assert results == {D(25)}


# --- per-charge rating (§9.3 formulas) ------------------------------------------------------------------------


def test_markup_10_on_100() -> None:
    assert rate(D(100), D(1), D(100), D(10)) == Rated(D(110), D(110), D(10), D("9.090909"))


def test_example_13_2() -> None:
    rated = rate(D(10), D(10), D(100), D(15))
    assert (rated.unit_sp, rated.spx1, rated.markup, rated.margin) == (D("11.5"), D(115), D(15), D("13.043478"))


def test_spx1_uses_unrounded_unit_sp() -> None:
    # unitSP = 0.3666663 → stored 0.366666; SPx1 = 1.0999989 → 1.099999 (0.366666 × 3 would give 1.099998).
    rated = rate(D("0.333333"), D(3), D("0.999999"), D(10))
    assert rated.unit_sp == D("0.366666")
    assert rated.spx1 == D("1.099999")
    # margin = (1.099999 − 0.999999) / 1.099999 × 100 = 9.0909173553…
    assert rated.margin == D("9.090917")


@pytest.mark.parametrize(("unit_pp", "expected"), [(D("0.000025"), D("0.000028")), (D("-0.000025"), D("-0.000028"))])
def test_rounding_half_away_from_zero(unit_pp: D, expected: D) -> None:
    # 0.000025 × 1.1 = 0.0000275 exactly: the half goes away from zero in both signs.
    rated = rate(unit_pp, D(1), unit_pp, D(10))
    assert rated.unit_sp == expected
    assert rated.spx1 == expected


def test_unrounded_margin_policy_markup_is_used_in_prices() -> None:
    # margin 30 → markup 42.857142857…; 7 × (1 + markup/100) = 10 exactly, so SPx1 has no 0.01 drift.
    markup = _resolver(policies=[_policy("PRP-1", margin=D(30))]).markup_for(agreement_id="AGR-0001", source_id=None)
    rated = rate(D(7), D(1000000), D(7000000), markup)
    assert rated == Rated(D(10), D(10000000), D("42.857143"), D(30))


def test_negative_quantity() -> None:
    rated = rate(D(10), D(-2), D(-20), D(15))
    assert rated == Rated(D("11.5"), D(-23), D(15), D("13.043478"))


def test_negative_price_credit() -> None:
    rated = rate(D(-10), D(2), D(-20), D(15))
    assert rated == Rated(D("-11.5"), D(-23), D(15), D("13.043478"))


def test_negative_markup_gives_negative_margin() -> None:
    # unitSP 90, SPx1 90; margin = (90 − 100) / 90 × 100 = −11.111111…
    assert rate(D(100), D(1), D(100), D(-10)) == Rated(D(90), D(90), D(-10), D("-11.111111"))


def test_zero_quantity_has_no_margin() -> None:
    assert rate(D(10), D(0), D(0), D(15)) == Rated(D("11.5"), D(0), D(15), None)


def test_markup_minus_100_gives_zero_spx1_and_no_margin() -> None:
    assert rate(D(10), D(3), D(30), D(-100)) == Rated(D(0), D(0), D(-100), None)


# --- custom-ledger prices (§8.7, §9.3 last bullet) ------------------------------------------------------------


def test_given_prices() -> None:
    # PPx1 24, SPx1 30; markup = 2/8 × 100 = 25; margin = 6/30 × 100 = 20.
    assert rate_given_prices(D(8), D(10), D(3)) == Rated(D(10), D(30), D(25), D(20))


def test_given_prices_markup_rounded_half_away_from_zero() -> None:
    # markup = 2/3 × 100 = 66.6666…; PPx1 3, SPx1 5; margin = 2/5 × 100 = 40.
    assert rate_given_prices(D(3), D(5), D(1)) == Rated(D(5), D(5), D("66.666667"), D(40))


def test_given_prices_zero_unit_pp_has_no_markup() -> None:
    assert rate_given_prices(D(0), D(5), D(2)) == Rated(D(5), D(10), None, D(100))


def test_given_prices_zero_unit_sp_has_no_margin() -> None:
    assert rate_given_prices(D(4), D(0), D(2)) == Rated(D(0), D(0), D(-100), None)


def test_given_prices_negative_quantity() -> None:
    # PPx1 −24, SPx1 −30; margin = (−30 + 24) / −30 × 100 = 20.
    assert rate_given_prices(D(8), D(10), D(-3)) == Rated(D(10), D(-30), D(25), D(20))


# --- summaries (§9.4) -----------------------------------------------------------------------------------------


def test_summary_mixed_statuses() -> None:
    rows = [
        ("Ready", D(100), D(115)),
        ("Skipped", D(50), None),
        ("Error", D(30), None),
        ("Split", D(200), None),
    ]
    # totalPP = 100 + 50 (Skipped counts, Error and Split do not); markup/margin over Ready only.
    assert summary(rows) == PriceSummary(D(150), D(115), D(15), D("13.043478"))


def test_summary_all_skipped_has_no_sale_side() -> None:
    assert summary([("Skipped", D(50), None), ("Skipped", D("0.5"), None)]) == PriceSummary(D("50.5"), None, None, None)


def test_summary_empty() -> None:
    assert summary([]) == PriceSummary(D(0), None, None, None)


def test_summary_negative_totals() -> None:
    rows = [("Ready", D(-100), D(-115)), ("Ready", D(-20), D(-23)), ("Skipped", D(-5), None)]
    # Ready PP −120, SP −138: markup = −18/−120 × 100 = 15; margin = −18/−138 × 100 = 13.043478.
    assert summary(rows) == PriceSummary(D(-125), D(-138), D(15), D("13.043478"))


def test_summary_debits_and_credits_cancel() -> None:
    rows = [("Ready", D(100), D(110)), ("Ready", D(-50), D(-60))]
    assert summary(rows) == PriceSummary(D(50), D(50), D(0), D(0))


def test_summary_zero_purchase_total_has_no_markup() -> None:
    assert summary([("Ready", D(0), D(10))]) == PriceSummary(D(0), D(10), None, D(100))


def test_summary_zero_sale_total_has_no_margin() -> None:
    assert summary([("Ready", D(10), D(0))]) == PriceSummary(D(10), D(0), D(-100), None)
