"""The demo reference set: deterministic, valid at any scale, with the shapes demos and benchmarks rely on."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from typing import Any

import pytest

from billing.reference.demo import DEMO_ACCOUNTS, DEMO_TOKENS, build_demo_dataset
from billing.reference.validation import validate_import

World = dict[str, dict[str, dict[str, Any]]]


def world_of(document: dict[str, Any]) -> World:
    plan = validate_import(document, {}, "replace")
    return {entity: {doc["id"]: doc for doc in docs} for entity, docs in plan.created.items()}


@pytest.fixture(scope="module")
def demo() -> World:
    return world_of(build_demo_dataset())


@pytest.fixture(scope="module")
def large() -> World:
    return world_of(build_demo_dataset(sellers=20, clients=700))


class TestDeterminism:
    def test_same_arguments_same_document(self) -> None:
        assert build_demo_dataset() == build_demo_dataset()
        assert build_demo_dataset(sellers=5, seed=7) == build_demo_dataset(sellers=5, seed=7)

    def test_seed_changes_the_draw(self) -> None:
        assert build_demo_dataset(seed=1) != build_demo_dataset(seed=2)

    def test_too_small_is_refused(self) -> None:
        with pytest.raises(ValueError):
            build_demo_dataset(sellers=1)


class TestValidity:
    def test_default_set_imports(self, demo: World) -> None:
        assert len(demo["agreements"]) == 4 * 3
        assert len(demo["sellers"]) == 3

    def test_large_set_imports(self, large: World) -> None:
        assert len(large["sellers"]) == 20
        assert len(large["agreements"]) == 2100
        assert {a["seller"] for a in large["agreements"].values()} == set(large["sellers"])

    def test_large_set_builds_without_quadratic_work(self) -> None:
        # this process's CPU time, not the wall clock (other test workers share the machine): 2,100 agreements take
        # ~0.1 s; a builder that compared every agreement with every other would take minutes
        started = time.process_time()
        build_demo_dataset(sellers=20, clients=700)
        assert time.process_time() - started < 5.0


class TestShape:
    def test_accounts_of_every_role(self, demo: World) -> None:
        types = Counter(account["type"] for account in demo["accounts"].values())
        assert types == {"Operations": 2, "Vendor": 2, "Client": 4}
        roles = {
            "operations": "Operations",
            "vendor": "Vendor",
            "vendor2": "Vendor",
            "client": "Client",
            "client2": "Client",
        }
        for role, account_type in roles.items():
            assert demo["accounts"][DEMO_ACCOUNTS[role]]["type"] == account_type
        assignees = [user for user in demo["users"].values() if user["account"] == DEMO_ACCOUNTS["operations"]]
        assert assignees

    def test_tokens_carry_the_hashes_of_the_demo_secrets(self, demo: World) -> None:
        by_hash = {token["secretSha256"]: token for token in demo["api-tokens"].values()}
        for role, secret in DEMO_TOKENS.items():
            token = by_hash[hashlib.sha256(secret.encode()).hexdigest()]
            assert token["account"] == DEMO_ACCOUNTS[role] and token["status"] == "Active"
        assert [t["status"] for t in demo["api-tokens"].values()].count("Disabled") == 1
        assert set(DEMO_TOKENS) == {"operations", "vendor", "client", "vendor2", "client2"}

    def test_sellers_in_several_countries_with_their_currency(self, demo: World) -> None:
        countries = {s["address"]["country"]: s["currencies"] for s in demo["sellers"].values()}
        assert countries == {"US": ["USD"], "DE": ["EUR"], "AR": ["ARS"]}
        for seller in demo["sellers"].values():
            assert seller["erp"]["company"] and seller["erp"]["countryCode"] and seller["erpLink"]["id"]

    def test_every_buyer_and_licensee_has_a_customer_number_for_every_seller(self, large: World) -> None:
        sellers = set(large["sellers"])
        for party in [*large["buyers"].values(), *large["licensees"].values()]:
            assert {entry["seller"] for entry in party["erpCustomers"]} == sellers
            assert all(entry["customerNo"] for entry in party["erpCustomers"])

    def test_products_and_items_carry_erp_numbers(self, demo: World) -> None:
        vendors = {product["vendor"] for product in demo["products"].values()}
        assert vendors == {DEMO_ACCOUNTS["vendor"], DEMO_ACCOUNTS["vendor2"]}
        assert all(product["externalIds"]["operations"] for product in demo["products"].values())
        skus = Counter((item["product"], item["externalIds"]["vendor"]) for item in demo["items"].values())
        assert max(skus.values()) == 1
        assert all(item["externalIds"]["operations"].endswith(".MP") for item in demo["items"].values())

    def test_authorization_for_every_product_and_seller_in_its_currency(self, demo: World) -> None:
        pairs = {(a["product"], a["owner"]) for a in demo["authorizations"].values()}
        assert pairs == {(p, s) for p in demo["products"] for s in demo["sellers"]}
        for authorization in demo["authorizations"].values():
            assert authorization["currency"] == demo["sellers"][authorization["owner"]]["currencies"][0]

    def test_agreements_bill_in_the_seller_currency(self, large: World) -> None:
        agreements = large["agreements"].values()
        for agreement in agreements:
            assert agreement["currency"] == large["sellers"][agreement["seller"]]["currencies"][0]
            assert agreement["externalIds"]["operations"]
        markups = [agreement["defaultMarkup"] for agreement in agreements]
        assert None in markups and any(markup is not None for markup in markups)

    def test_exactly_one_split_agreement(self, large: World) -> None:
        splits = [agreement for agreement in large["agreements"].values() if agreement["split"]]
        assert len(splits) == 1
        payer = splits[0]
        targets = [large["agreements"][allocation["agreement"]] for allocation in payer["split"]]
        assert [allocation["percentage"] for allocation in payer["split"]] == [60, 40]
        assert targets[0] is payer
        assert {(t["product"], t["currency"]) for t in targets} == {(payer["product"], payer["currency"])}

    def test_subscriptions_assets_and_policies(self, demo: World) -> None:
        subscriptions = demo["subscriptions"].values()
        assert all(subscription["items"] for subscription in subscriptions)
        markups = [subscription["price"]["markup"] for subscription in subscriptions]
        assert None in markups and any(markup is not None for markup in markups)
        assert all(s["externalIds"]["vendor"].startswith("tenant-") for s in subscriptions)
        assert demo["assets"]
        policies = demo["pricing-policies"].values()
        assert any(policy["products"] for policy in policies)
        assert any(not policy["products"] for policy in policies)
        assert any(policy["markup"] is None and policy["margin"] is not None for policy in policies)
