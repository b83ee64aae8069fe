"""Set-based rating gives exactly what `billing.rating.pricing.rate` gives, charge by charge (§9.2, §9.3)."""

from __future__ import annotations

import itertools
from datetime import datetime
from decimal import Decimal as D

import pytest
from sqlalchemy import select, text

from billing.db.bulk import insert_rows
from billing.db.models import Charge
from billing.kit.money import round6
from billing.rating.jobs import ChargeRater
from billing.rating.pricing import (
    factor,
    rate,
    rated_margin_micros,
    rated_spx1_micros,
    rated_unit_sp_micros,
)
from billing.rating.repository import RatingRepository
from billing.statements.factory import statement_id

VENDOR, SELLER, LEDGER, JOURNAL = "ACC-3102-8586", "SEL-0000-0001", "BLE-0000-0001-0000-0001", "BJO-0000-0001"
MANUAL_CLIENT = "ACC-0000-0999"
NOW = datetime(2025, 6, 10, 12, 0, 0)
#: Markups as they come from a subscription or agreement (6 places) or a margin policy (converted, 60 digits).
MARKUPS = ("15", "33.333333", "-33.333333", "0", "0.000001", "-100", "99900", "12.5")
MARGINS = ("25", "30", "-50", "0.000001", "99.9", "33.333333")
UNIT_PRICES = ("10", "0.333333", "-4.2", "0.000001", "0.000025", "-0.000025", "1234567.891234", "0")
QUANTITIES = ("3", "-2", "1000", "0.5", "1", "0.000001", "7.333333")


def micros(value: D) -> int:
    return int(value.scaleb(6))


def converted(margin: str) -> D:
    """The markup a margin-only policy stands for (`MarkupResolver`'s conversion)."""
    rater = ChargeRater(
        {"agreements": {"A": {"id": "A", "client": "C"}}, "subscriptions": {}, "assets": {}, "items": {}},
        [{"id": "P", "client": "C", "products": [], "margin": margin}],
        frozenset(),
        VENDOR,
        JOURNAL,
    )
    return rater.markups.markup_for(agreement_id="A", source_id=None)


def charge_row(line: int, client: str, agreement: str, subscription: str, unit_pp: D, quantity: D) -> dict:
    """A validated charge of the test journal's seller, as the validation job writes it."""
    return {
        "id": f"CHG-0000-0001-0000-{line:04d}-00",
        "journal_id": JOURNAL,
        "line": line,
        "child": 0,
        "seq": line * 100,
        "unit_pp": unit_pp,
        "quantity": quantity,
        "ppx1": round6(unit_pp * quantity),
        "currency_purchase": "USD",
        "billing_type": "Automated",
        "upload_status": "Ready",
        "client_id": client,
        "seller_id": SELLER,
        "vendor_id": VENDOR,
        "agreement_id": agreement,
        "subscription_id": subscription,
        "item_id": "ITM-0001",
        "created_at": NOW,
        "updated_at": NOW,
    }


def rated(db, rater: ChargeRater, rows: list[dict]) -> dict[str, Charge]:
    """Insert the charges, rate them all with one `RatingRepository.rate`, and read them back by id."""
    with db.session_scope() as session:
        insert_rows(session, Charge.__table__, rows)
    with db.session_scope() as session:
        repository = RatingRepository(session)
        charges = Charge.journal_id == JOURNAL
        repository.rate(charges, rater.plan(repository.rating_keys(charges), {SELLER: LEDGER}), NOW)
    with db.read_scope() as session:
        return {c.id: c for c in session.execute(select(Charge).where(Charge.journal_id == JOURNAL)).scalars()}


ALL_MARKUPS = [D(m) for m in MARKUPS] + [converted(m) for m in MARGINS]


class TestIntegerArithmetic:
    """SQLite computes prices on integer millionths with these functions; they must agree with `rate`."""

    @pytest.mark.parametrize("markup", ALL_MARKUPS, ids=str)
    def test_every_value_equals_rate(self, markup):
        text = str(factor(markup))
        for unit, quantity in itertools.product(UNIT_PRICES, QUANTITIES):
            unit_pp, qty = D(unit), D(quantity)
            ppx1 = round6(unit_pp * qty)
            expected = rate(unit_pp, qty, ppx1, markup)
            assert rated_unit_sp_micros(micros(unit_pp), text) == micros(expected.unit_sp)
            assert rated_spx1_micros(micros(unit_pp), micros(qty), text) == micros(expected.spx1)
            margin = rated_margin_micros(micros(unit_pp), micros(qty), micros(ppx1), text)
            assert margin == (None if expected.margin is None else micros(expected.margin))

    def test_a_sixty_digit_markup_is_used_unrounded(self):
        markup = converted("25")
        assert len(markup.as_tuple().digits) == 60
        assert rate(D("0.000003"), D(1), D("0.000003"), markup).unit_sp == D("0.000004")  # 0.000003 × 1.3333…


class TestRatingInTheDatabase:
    """Charges rated by one UPDATE (NUMERIC on PostgreSQL, SQL functions on SQLite) equal `rate` to the digit."""

    def world(self) -> tuple[dict, list[dict]]:
        agreements, subscriptions, policies = {}, {}, []
        for number, markup in enumerate(MARKUPS):  # markup on the subscription
            agreements[f"AGR-{number:04d}"] = {"id": f"AGR-{number:04d}", "client": "ACC-0000-0100"}
            subscriptions[f"SUB-{number:04d}"] = {"id": f"SUB-{number:04d}", "price": {"markup": markup}}
        for number, margin in enumerate(MARGINS, start=100):  # a margin policy of the agreement's client
            client = f"ACC-0000-{number:04d}"
            agreements[f"AGR-{number:04d}"] = {"id": f"AGR-{number:04d}", "client": client}
            subscriptions[f"SUB-{number:04d}"] = {"id": f"SUB-{number:04d}", "price": {"markup": None}}
            policies.append({"id": f"PRP-{number:04d}", "client": client, "products": [], "margin": margin})
        agreements["AGR-0999"] = {"id": "AGR-0999", "client": MANUAL_CLIENT}  # billed manually
        subscriptions["SUB-0999"] = {"id": "SUB-0999", "price": {"markup": "15"}}
        items = {"ITM-0001": {"id": "ITM-0001"}}
        return {"agreements": agreements, "subscriptions": subscriptions, "assets": {}, "items": items}, policies

    def charges(self, world: dict) -> list[dict]:
        rows = []
        sources = [(agreement, f"SUB-{agreement[4:]}") for agreement in world["agreements"]]
        sources.append(("AGR-0000", "SUB-9999"))  # a subscription that no longer exists
        values = list(itertools.product(UNIT_PRICES, QUANTITIES))
        for line, ((agreement, subscription), (unit, quantity)) in enumerate(itertools.product(sources, values), 1):
            client = world["agreements"][agreement]["client"]
            rows.append(charge_row(line, client, agreement, subscription, D(unit), D(quantity)))
        return rows

    def test_set_based_values_equal_rate(self, db):
        world, policies = self.world()
        rater = ChargeRater(world, policies, frozenset({(MANUAL_CLIENT, VENDOR)}), VENDOR, JOURNAL)
        rows = self.charges(world)
        stored = rated(db, rater, rows)
        outcomes = {"Ready": 0, "Skipped": 0, "Error": 0}
        for row in rows:
            charge = stored[row["id"]]
            outcomes[charge.processing_status] += 1
            assert charge.ledger_id == LEDGER
            if row["client_id"] == MANUAL_CLIENT:
                assert (charge.billing_type, charge.processing_status, charge.unit_sp) == ("Manual", "Skipped", None)
                assert charge.statement_id is None
                continue
            if row["subscription_id"] == "SUB-9999":
                assert charge.processing_status == "Error" and charge.billing_type == "Automated"
                assert charge.statement_id is None
                assert charge.processing_errors == ["Subscription 'SUB-9999' no longer exists."]
                assert (charge.spx1, charge.markup, charge.currency_sale) == (None, None, None)
                continue
            markup = rater.markups.markup_for(agreement_id=row["agreement_id"], source_id=row["subscription_id"])
            expected = rate(row["unit_pp"], row["quantity"], row["ppx1"], markup)
            got = (charge.unit_sp, charge.spx1, charge.markup, charge.margin)
            assert got == (expected.unit_sp, expected.spx1, expected.markup, expected.margin), row
            assert (charge.processing_status, charge.processing_errors, charge.currency_sale) == ("Ready", None, "USD")
            assert charge.statement_id == statement_id(JOURNAL, row["agreement_id"])  # the statement-to-be
        assert outcomes == {"Ready": len(rows) - 2 * len(UNIT_PRICES) * len(QUANTITIES)} | {
            "Skipped": len(UNIT_PRICES) * len(QUANTITIES),
            "Error": len(UNIT_PRICES) * len(QUANTITIES),
        }

    def test_charges_of_sellers_without_a_pending_ledger_are_left_alone(self, db):
        world, policies = self.world()
        rows = self.charges(world)[:3]
        with db.session_scope() as session:
            insert_rows(session, Charge.__table__, rows)
        with db.session_scope() as session:
            repository = RatingRepository(session)
            charges = Charge.journal_id == JOURNAL
            plan = ChargeRater(world, policies, frozenset(), VENDOR, JOURNAL).plan(repository.rating_keys(charges), {})
            assert plan == []
            repository.rate(charges, plan, NOW)
        with db.read_scope() as session:
            assert {c.ledger_id for c in session.execute(select(Charge)).scalars()} == {None}


#: (markup, n, d) of `1 + markup/100` = n/d, and the largest |unitPP × quantity| in millionths that SQLite prices
#: with integer SQL for it (2^61 // n); beyond it, or with a longer factor, the Python functions take over.
FRACTIONS = (("10", 11, 10), ("33.333333", 133333333, 100000000), ("-40", 3, 5))


class TestIntegerSqlAtItsLimits:
    """Around the amounts where SQLite's prices switch from integer SQL to the Python functions, and beyond
    64 bits, every rated value still equals `rate` (on PostgreSQL: NUMERIC, the same values)."""

    def amounts(self, n: int, d: int) -> list[tuple[D, D]]:
        limit = 2**61 // n
        edge = D(limit).scaleb(-12)  # unitPP × quantity at the limit, in units²
        pairs = [(D("1"), edge.quantize(D("0.000001"))), (D("1"), (edge + D("0.000001")).quantize(D("0.000001")))]
        pairs += [(D("-1"), pairs[0][1]), (D("1"), -pairs[1][1])]
        # the margin switches where |SPx1 − PPx1| passes 2^61 // 10^8 millionths (23,058.430092): at a unitPP of
        # 1,000, near the quantity q below; 3q and 7q would overflow 64 bits in integer SQL
        q = (D(2**61 // 10**8).scaleb(-6) / (1000 * abs(D(n) / D(d) - 1))).quantize(D("0.000001"))
        for quantity in (q - D("0.000002"), q, q + D("0.000002"), 3 * q, -7 * q, D(3), D("-7.5")):
            pairs.append((D("1000"), quantity))
            pairs.append((D("0.999999"), quantity))
        pairs.append((D("9000000"), D("100000")))  # 9 × 10^23 millionths²: a float in SQLite, priced in Python
        return pairs

    def test_values_equal_rate(self, db):
        world = {"agreements": {}, "subscriptions": {}, "assets": {}, "items": {"ITM-0001": {"id": "ITM-0001"}}}
        rows = []
        for number, (markup, n, d) in enumerate(FRACTIONS):
            assert factor(D(markup)).as_integer_ratio() == (n, d)
            agreement, subscription = f"AGR-{number:04d}", f"SUB-{number:04d}"
            world["agreements"][agreement] = {"id": agreement, "client": "ACC-0000-0100"}
            world["subscriptions"][subscription] = {"id": subscription, "price": {"markup": markup}}
            for unit_pp, quantity in self.amounts(n, d):
                rows.append(charge_row(len(rows) + 1, "ACC-0000-0100", agreement, subscription, unit_pp, quantity))
        stored = rated(db, ChargeRater(world, [], frozenset(), VENDOR, JOURNAL), rows)
        markups = {f"SUB-{number:04d}": D(markup) for number, (markup, _, _) in enumerate(FRACTIONS)}
        for row in rows:
            expected = rate(row["unit_pp"], row["quantity"], row["ppx1"], markups[row["subscription_id"]])
            charge = stored[row["id"]]
            assert (charge.unit_sp, charge.spx1, charge.margin) == (expected.unit_sp, expected.spx1, expected.margin), (
                row["unit_pp"],
                row["quantity"],
            )
        if db.dialect == "sqlite":  # money stays 64-bit integers: no product overflowed into a float
            with db.read_scope() as session:
                kinds = "SELECT DISTINCT typeof(unit_sp), typeof(spx1), typeof(margin) FROM charge"
                assert set(session.execute(text(kinds))) == {("integer", "integer", "integer")}
