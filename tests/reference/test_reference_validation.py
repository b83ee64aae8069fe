"""Reference data validation (billing-api.md §11): every rule of §11.2, import modes, per-entity updates."""

from __future__ import annotations

import copy
import hashlib
from decimal import Decimal
from typing import Any

import pytest

from billing.reference.demo import build_demo_dataset
from billing.reference.entities import ENTITIES
from billing.reference.validation import (
    ReferenceImportError,
    export_document,
    validate_entity,
    validate_import,
)

DROP = object()  # a change that removes the property

OPS, OPS_SPARE = "ACC-0000-0001", "ACC-0000-0002"
VENDOR, VENDOR2 = "ACC-1000-0001", "ACC-1000-0002"
CLIENT, CLIENT2 = "ACC-2000-0001", "ACC-2000-0002"
SEL_US, SEL_DE = "SEL-0000-0001", "SEL-0000-0002"
BUY, BUY2 = "BUY-0000-0001", "BUY-0000-0002"
LCE = "LCE-0000-0001"
PRD, PRD2 = "PRD-0000-0001", "PRD-0000-0002"
ITM, ITM2 = "ITM-0000-0001-0001", "ITM-0000-0002-0001"
AGR, AGR2, AGR3 = "AGR-0000-0001", "AGR-0000-0002", "AGR-0000-0003"


def base_document() -> dict[str, list[dict[str, Any]]]:
    """A small valid import file; every test starts from a fresh copy."""
    customers = [{"seller": SEL_US, "customerNo": "US-SCU-1"}, {"seller": SEL_DE, "customerNo": "DE-SCU-1"}]
    return {
        "accounts": [
            {"id": OPS, "type": "Operations", "name": "Operator"},
            {"id": OPS_SPARE, "type": "Operations", "name": "Spare"},
            {"id": VENDOR, "type": "Vendor", "name": "Vendor Co"},
            {"id": VENDOR2, "type": "Vendor", "name": "Other Vendor"},
            {"id": CLIENT, "type": "Client", "name": "Contoso"},
            {"id": CLIENT2, "type": "Client", "name": "Fabrikam"},
        ],
        "users": [{"id": "USR-0000-0001", "name": "Olivia", "account": OPS}],
        "api-tokens": [{"id": "TKN-0000-0001", "name": "ops", "account": OPS, "secret": "s3cret"}],
        "sellers": [
            {
                "id": seller,
                "name": f"Operator {country}",
                "externalId": country,
                "address": {"country": country},
                "currencies": [currency],
                "erpLink": {"id": f"ERP-{country}", "name": f"NAV {country}", "status": "Active"},
                "erp": {"company": f"CRONUS {country}", "countryCode": country},
            }
            for seller, country, currency in ((SEL_US, "US", "USD"), (SEL_DE, "DE", "EUR"))
        ],
        "buyers": [
            {"id": BUY, "name": "Contoso Ltd", "client": CLIENT, "erpCustomers": copy.deepcopy(customers)},
            {"id": BUY2, "name": "Fabrikam Ltd", "client": CLIENT2, "erpCustomers": copy.deepcopy(customers)},
        ],
        "licensees": [
            {"id": LCE, "name": "Contoso Ops", "client": CLIENT, "buyer": BUY, "erpCustomers": customers},
        ],
        "products": [
            {"id": PRD, "name": "Cloud Suite", "vendor": VENDOR, "status": "Published"},
            {"id": PRD2, "name": "Mail", "vendor": VENDOR2},
        ],
        "items": [
            {
                "id": ITM,
                "name": "Seat",
                "product": PRD,
                "externalIds": {"vendor": "SKU-1", "operations": "CS01"},
            },
            {"id": ITM2, "name": "Mailbox", "product": PRD2},
        ],
        "agreements": [
            {
                "id": AGR,
                "name": "Contoso Cloud",
                "client": CLIENT,
                "buyer": BUY,
                "seller": SEL_US,
                "product": PRD,
                "vendor": VENDOR,
                "licensee": LCE,
                "currency": "USD",
                "defaultMarkup": 12,
            },
            {
                "id": AGR2,
                "name": "Fabrikam Cloud",
                "client": CLIENT2,
                "buyer": BUY2,
                "seller": SEL_US,
                "product": PRD,
                "vendor": VENDOR,
            },
            {
                "id": AGR3,
                "name": "Contoso Mail",
                "client": CLIENT,
                "buyer": BUY,
                "seller": SEL_DE,
                "product": PRD2,
                "vendor": VENDOR2,
            },
        ],
        "subscriptions": [
            {
                "id": "SUB-0000-0001",
                "name": "Seats",
                "agreement": AGR,
                "items": [ITM],
                "price": {"markup": 15},
            },
        ],
        "assets": [{"id": "AST-0000-0001", "name": "Box", "agreement": AGR, "items": [ITM]}],
        "authorizations": [
            {
                "id": "AUT-0000-0001",
                "name": "Cloud US",
                "vendor": VENDOR,
                "product": PRD,
                "owner": SEL_US,
                "currency": "USD",
            }
        ],
        "pricing-policies": [
            {"id": "PRP-0000-0001", "name": "Contoso", "client": CLIENT, "products": [PRD], "markup": 10},
        ],
    }


def changed(entity: str, index: int, changes: dict[str, Any]) -> dict[str, Any]:
    document = base_document()
    row = document[entity][index]
    for name, value in changes.items():
        if value is DROP:
            del row[name]
        else:
            row[name] = value
    return document


def import_errors(document: Any, existing: Any = None, mode: str = "replace") -> dict[str, list[str]]:
    with pytest.raises(ReferenceImportError) as caught:
        validate_import(document, existing or {}, mode)  # type: ignore[arg-type]
    return caught.value.errors


def assert_error(errors: dict[str, list[str]], key: str, fragment: str) -> None:
    assert key in errors, errors
    assert any(fragment in message for message in errors[key]), errors[key]


def world_of(document: Any) -> dict[str, dict[str, dict[str, Any]]]:
    plan = validate_import(document, {}, "replace")
    return {entity: {doc["id"]: doc for doc in docs} for entity, docs in plan.created.items()}


def entity_errors(entity: str, payload: Any, existing: Any, current: Any = None) -> dict[str, list[str]]:
    with pytest.raises(ReferenceImportError) as caught:
        validate_entity(entity, payload, existing, current=current)
    return caught.value.errors


def split(*allocations: tuple[str, Any]) -> list[dict[str, Any]]:
    return [{"agreement": agreement, "percentage": percentage} for agreement, percentage in allocations]


class TestBaseline:
    def test_base_document_is_valid(self) -> None:
        plan = validate_import(base_document(), {}, "replace")
        assert plan.counts()["created"]["agreements"] == 3
        assert plan.counts()["updated"] == {} and plan.counts()["removed"] == {}

    def test_entities_are_in_dependency_order(self) -> None:
        assert list(ENTITIES) == [
            "accounts",
            "users",
            "api-tokens",
            "sellers",
            "buyers",
            "licensees",
            "products",
            "items",
            "agreements",
            "subscriptions",
            "assets",
            "authorizations",
            "pricing-policies",
        ]


# (entity, index, changes, error key, message fragment): one rule violated per row.
VIOLATIONS = [
    # ids: presence, format per entity, uniqueness
    ("accounts", 1, {"id": DROP}, "accounts[1].id", "'id' is required."),
    ("accounts", 1, {"id": "ACC-12-34"}, "accounts[1].id", "'id' must look like ACC-dddd-dddd."),
    ("accounts", 1, {"id": "ACC-0000-0000-0002"}, "accounts[1].id", "'id' must look like ACC-dddd-dddd."),
    ("users", 0, {"id": "USR-12"}, "users[0].id", "'id' must look like USR-dddd[-dddd…]."),
    ("users", 0, {"id": "ACC-0000-0009"}, "users[0].id", "'id' must look like USR-"),
    ("accounts", 1, {"id": OPS}, "accounts[1].id", f"Duplicate id '{OPS}' (also at accounts[0])."),
    # accounts, users, api-tokens: closed type and status sets; names
    ("accounts", 1, {"type": "Partner"}, "accounts[1].type", "must be one of Client, Vendor, Operations."),
    ("accounts", 1, {"type": DROP}, "accounts[1].type", "'type' is required."),
    ("accounts", 1, {"status": "Suspended"}, "accounts[1].status", "must be one of Active, Disabled."),
    ("users", 0, {"status": "Blocked"}, "users[0].status", "must be one of Active, Disabled."),
    ("api-tokens", 0, {"status": "Revoked"}, "api-tokens[0].status", "must be one of Active, Disabled."),
    ("accounts", 1, {"name": DROP}, "accounts[1].name", "'name' is required."),
    ("accounts", 1, {"name": "   "}, "accounts[1].name", "'name' is required."),
    ("accounts", 1, {"name": "x" * 256}, "accounts[1].name", "'name' must be at most 255 characters."),
    ("accounts", 1, {"name": 42}, "accounts[1].name", "'name' must be a string."),
    ("users", 0, {"account": "ACC-0000-0009"}, "users[0].account", "Account 'ACC-0000-0009' was not found."),
    ("users", 0, {"account": 7}, "users[0].account", "'account' must be an id or an object with an 'id'."),
    ("api-tokens", 0, {"account": DROP}, "api-tokens[0].account", "'account' is required."),
    ("api-tokens", 0, {"secret": DROP}, "api-tokens[0].secret", "'secret' or 'secretSha256' is required."),
    ("api-tokens", 0, {"secret": ""}, "api-tokens[0].secret", "'secret' must be a non-empty string."),
    (
        "api-tokens",
        0,
        {"secret": DROP, "secretSha256": "abc"},
        "api-tokens[0].secretSha256",
        "'secretSha256' must be 64 hexadecimal characters",
    ),
    # sellers
    ("sellers", 0, {"externalId": DROP}, "sellers[0].externalId", "'externalId' is required."),
    ("sellers", 0, {"address": DROP}, "sellers[0].address", "'address' is required."),
    (
        "sellers",
        0,
        {"address": {"city": "Austin"}},
        "sellers[0].address.country",
        "'address.country' is required.",
    ),
    ("sellers", 0, {"erpLink": DROP}, "sellers[0].erpLink", "'erpLink' is required."),
    ("sellers", 0, {"erpLink": {"name": "NAV US"}}, "sellers[0].erpLink.id", "'erpLink.id' is required."),
    (
        "sellers",
        0,
        {"erp": {"company": "CRONUS"}},
        "sellers[0].erp.countryCode",
        "'erp.countryCode' is required.",
    ),
    ("sellers", 0, {"erp": {"countryCode": "US"}}, "sellers[0].erp.company", "'erp.company' is required."),
    ("sellers", 0, {"erp": "CRONUS US"}, "sellers[0].erp", "'erp' must be an object."),
    ("sellers", 0, {"currencies": ["USD", "dollars"]}, "sellers[0].currencies[1]", "three-letter ISO 4217"),
    ("sellers", 0, {"currencies": "USD"}, "sellers[0].currencies", "'currencies' must be a list."),
    # buyers and licensees: clients, one customer number per seller
    (
        "buyers",
        1,
        {"client": VENDOR},
        "buyers[1].client",
        f"Account '{VENDOR}' is a Vendor account; expected Client.",
    ),
    ("buyers", 0, {"erpCustomers": DROP}, "buyers[0].erpCustomers", "'erpCustomers' is required."),
    ("buyers", 0, {"erpCustomers": []}, "buyers[0].erpCustomers", "'erpCustomers' must not be empty."),
    ("buyers", 0, {"erpCustomers": "US-SCU-1"}, "buyers[0].erpCustomers", "'erpCustomers' must be a list."),
    ("buyers", 0, {"erpCustomers": ["US-SCU-1"]}, "buyers[0].erpCustomers[0]", "must be an object."),
    (
        "buyers",
        0,
        {"erpCustomers": [{"seller": SEL_US}]},
        "buyers[0].erpCustomers[0].customerNo",
        "'erpCustomers[0].customerNo' is required.",
    ),
    (
        "buyers",
        0,
        {"erpCustomers": [{"seller": "SEL-0000-0009", "customerNo": "X-1"}]},
        "buyers[0].erpCustomers[0].seller",
        "Seller 'SEL-0000-0009' was not found.",
    ),
    (
        "buyers",
        0,
        {"erpCustomers": [{"seller": SEL_US, "customerNo": "A"}, {"seller": SEL_US, "customerNo": "B"}]},
        "buyers[0].erpCustomers[1].seller",
        f"Seller '{SEL_US}' already has a customer number (erpCustomers[0]).",
    ),
    (
        "licensees",
        0,
        {"erpCustomers": [{"seller": SEL_DE, "customerNo": "A"}, {"seller": SEL_DE, "customerNo": "B"}]},
        "licensees[0].erpCustomers[1].seller",
        "already has a customer number",
    ),
    ("licensees", 0, {"client": OPS}, "licensees[0].client", f"Account '{OPS}' is an Operations account"),
    (
        "licensees",
        0,
        {"buyer": BUY2},
        "licensees[0].buyer",
        f"Buyer '{BUY2}' belongs to client '{CLIENT2}', not to '{CLIENT}'.",
    ),
    # products and items
    ("products", 1, {"vendor": CLIENT}, "products[1].vendor", "is a Client account; expected Vendor."),
    ("items", 1, {"product": "PRD-0000-0009"}, "items[1].product", "Product 'PRD-0000-0009' was not found."),
    # agreements
    ("agreements", 2, {"client": VENDOR}, "agreements[2].client", "is a Vendor account; expected Client."),
    (
        "agreements",
        0,
        {"buyer": BUY2},
        "agreements[0].buyer",
        f"belongs to client '{CLIENT2}', not to '{CLIENT}'.",
    ),
    (
        "agreements",
        0,
        {"seller": "SEL-0000-0009"},
        "agreements[0].seller",
        "Seller 'SEL-0000-0009' was not found.",
    ),
    ("agreements", 0, {"product": DROP}, "agreements[0].product", "'product' is required."),
    ("agreements", 0, {"vendor": VENDOR2}, "agreements[0].vendor", f"is not the vendor of product '{PRD}'"),
    (
        "agreements",
        0,
        {"licensee": "LCE-0009"},
        "agreements[0].licensee",
        "Licensee 'LCE-0009' was not found.",
    ),
    (
        "agreements",
        0,
        {"currency": "US"},
        "agreements[0].currency",
        "three-letter ISO 4217 currency code: 'US'.",
    ),
    ("agreements", 0, {"defaultMarkup": "abc"}, "agreements[0].defaultMarkup", "must be a number: 'abc'."),
    ("agreements", 0, {"defaultMarkup": "NaN"}, "agreements[0].defaultMarkup", "must be a number"),
    ("agreements", 0, {"defaultMarkup": "Infinity"}, "agreements[0].defaultMarkup", "must be a number"),
    ("agreements", 0, {"defaultMarkup": ""}, "agreements[0].defaultMarkup", "must be a number"),
    ("agreements", 0, {"defaultMarkup": True}, "agreements[0].defaultMarkup", "must be a number"),
    (
        "agreements",
        0,
        {"defaultMarkup": "1e15"},
        "agreements[0].defaultMarkup",
        "'defaultMarkup' is out of range.",
    ),
    # split billing
    (
        "agreements",
        0,
        {"split": split((AGR, 60), (AGR2, 30))},
        "agreements[0].split",
        "Split percentages must sum to 100 (got 90).",
    ),
    (
        "agreements",
        0,
        {"split": split((AGR, 100), (AGR2, 0))},
        "agreements[0].split[1].percentage",
        "'split[1].percentage' must be greater than 0 (got 0).",
    ),
    ("agreements", 0, {"split": [{"agreement": AGR}]}, "agreements[0].split[0].percentage", "is required."),
    (
        "agreements",
        0,
        {"split": split((AGR, 50), ("AGR-0000-0009", 50))},
        "agreements[0].split[1].agreement",
        "Agreement 'AGR-0000-0009' was not found.",
    ),
    (
        "agreements",
        0,
        {"split": split((AGR, 50), (AGR3, 50))},
        "agreements[0].split[1].agreement",
        f"Agreement '{AGR3}' is for product '{PRD2}', not '{PRD}'.",
    ),
    (
        "agreements",
        0,
        {"split": split(*[(AGR, 1)] * 100)},
        "agreements[0].split",
        "At most 99 split allocations are allowed (got 100).",
    ),
    # subscriptions and assets
    (
        "subscriptions",
        0,
        {"items": [ITM2]},
        "subscriptions[0].items[0]",
        f"Item '{ITM2}' belongs to product '{PRD2}', not to product '{PRD}' of agreement '{AGR}'.",
    ),
    ("assets", 0, {"items": [ITM, ITM2]}, "assets[0].items[1]", f"Item '{ITM2}' belongs to product '{PRD2}'"),
    (
        "subscriptions",
        0,
        {"agreement": "AGR-0009"},
        "subscriptions[0].agreement",
        "Agreement 'AGR-0009' was not",
    ),
    (
        "subscriptions",
        0,
        {"items": ["ITM-0009"]},
        "subscriptions[0].items[0]",
        "Item 'ITM-0009' was not found.",
    ),
    ("subscriptions", 0, {"items": [None]}, "subscriptions[0].items[0]", "'items[0]' must not be empty."),
    ("subscriptions", 0, {"price": {"markup": "ten"}}, "subscriptions[0].price.markup", "must be a number"),
    ("assets", 0, {"agreement": DROP}, "assets[0].agreement", "'agreement' is required."),
    # authorizations
    ("authorizations", 0, {"vendor": VENDOR2}, "authorizations[0].vendor", "is not the vendor of product"),
    (
        "authorizations",
        0,
        {"product": PRD2},
        "authorizations[0].vendor",
        f"is not the vendor of product '{PRD2}'",
    ),
    (
        "authorizations",
        0,
        {"owner": "SEL-0000-0009"},
        "authorizations[0].owner",
        "Seller 'SEL-0000-0009' was not",
    ),
    ("authorizations", 0, {"currency": DROP}, "authorizations[0].currency", "'currency' is required."),
    # pricing policies
    (
        "pricing-policies",
        0,
        {"markup": DROP},
        "pricing-policies[0].markup",
        "At least one of 'markup' and 'margin' is required.",
    ),
    (
        "pricing-policies",
        0,
        {"margin": 100},
        "pricing-policies[0].margin",
        "'margin' must be less than 100 (got 100).",
    ),
    (
        "pricing-policies",
        0,
        {"client": VENDOR},
        "pricing-policies[0].client",
        "is a Vendor account; expected Client.",
    ),
    (
        "pricing-policies",
        0,
        {"products": ["PRD-0009"]},
        "pricing-policies[0].products[0]",
        "Product 'PRD-0009' was",
    ),
]


class TestImportRules:
    @pytest.mark.parametrize(
        ("entity", "index", "changes", "key", "fragment"), VIOLATIONS, ids=[row[3] for row in VIOLATIONS]
    )
    def test_violation_is_reported_at_its_path(
        self, entity: str, index: int, changes: dict[str, Any], key: str, fragment: str
    ) -> None:
        assert_error(import_errors(changed(entity, index, changes)), key, fragment)

    def test_split_targets_may_not_have_a_split_themselves(self) -> None:
        document = base_document()
        document["agreements"][0]["split"] = split((AGR, 50), (AGR2, 50))
        document["agreements"][1]["split"] = split((AGR2, 100))
        errors = import_errors(document)
        assert_error(errors, "agreements[0].split[1].agreement", f"Agreement '{AGR2}' has a split of its own")
        assert set(errors) == {"agreements[0].split[1].agreement"}

    def test_split_may_list_the_agreement_itself(self) -> None:
        document = base_document()
        document["agreements"][0]["split"] = split((AGR, "60"), (AGR2, 40))
        agreement = validate_import(document, {}, "replace").created["agreements"][0]
        assert agreement["split"] == [
            {"agreement": AGR, "percentage": Decimal(60)},
            {"agreement": AGR2, "percentage": Decimal(40)},
        ]

    def test_every_problem_is_collected_in_one_call(self) -> None:
        document = base_document()
        document["accounts"][1]["type"] = "Partner"
        document["agreements"][0]["vendor"] = VENDOR2
        document["agreements"][0]["defaultMarkup"] = "abc"
        document["pricing-policies"][0]["margin"] = 150
        errors = import_errors(document)
        assert {
            "accounts[1].type",
            "agreements[0].vendor",
            "agreements[0].defaultMarkup",
            "pricing-policies[0].margin",
        } <= set(errors)

    def test_a_single_violation_reports_nothing_else(self) -> None:
        errors = import_errors(changed("agreements", 0, {"vendor": VENDOR2}))
        assert errors == {
            "agreements[0].vendor": [f"Vendor '{VENDOR2}' is not the vendor of product '{PRD}' ('{VENDOR}')."]
        }


class TestImportFileShape:
    def test_file_must_be_a_mapping(self) -> None:
        assert_error(import_errors([{"id": OPS}]), "file", "must be an object keyed by entity")

    def test_unknown_entity_is_keyed_by_its_name(self) -> None:
        document = base_document() | {"widgets": []}
        assert_error(import_errors(document), "widgets", "Unknown entity 'widgets'")

    def test_entity_must_hold_a_list(self) -> None:
        document = base_document() | {"accounts": {"id": OPS}}
        assert_error(import_errors(document), "accounts", "'accounts' must be a list.")

    def test_entries_must_be_objects(self) -> None:
        document = base_document()
        document["users"].append("USR-0000-0002")
        assert_error(import_errors(document), "users[1]", "Each entry must be an object.")

    def test_entity_keys_match_case_insensitively_and_null_is_empty(self) -> None:
        document = base_document()
        document["ACCOUNTS"] = document.pop("accounts")
        document["Users"] = None
        plan = validate_import(document, {}, "replace")
        assert len(plan.created["accounts"]) == 6 and plan.created["users"] == []


class TestBinding:
    def test_defaults_and_canonical_values(self) -> None:
        document = base_document()
        document["accounts"][1]["type"] = "operations"
        document["accounts"][1]["id"] = " acc-0000-0002 "
        plan = validate_import(document, {}, "replace")
        spare = plan.created["accounts"][1]
        assert spare == {
            "id": OPS_SPARE,
            "type": "Operations",
            "name": "Spare",
            "status": "Active",
            "icon": "",
        }
        assert plan.created["products"][0]["status"] == "Published"
        agreement = plan.created["agreements"][1]
        assert agreement["licensee"] is None and agreement["defaultMarkup"] is None and agreement["split"] == []
        assert agreement["externalIds"] == {"vendor": None, "operations": None}

    def test_property_names_bind_case_insensitively_last_occurrence_wins(self) -> None:
        document = base_document()
        document["buyers"][0] = {
            "ID": BUY,
            "name": "first",
            "NAME": "Contoso Ltd",
            "Client": {"Id": CLIENT.lower(), "name": "ignored"},
            "colour": "unknown properties are ignored",
            "ERPCUSTOMERS": [{"SELLER": {"ID": SEL_US}, "customerno": "US-SCU-1", "ContactNo": "C-1"}],
        }
        buyer = validate_import(document, {}, "replace").created["buyers"][0]
        assert buyer["name"] == "Contoso Ltd"
        assert buyer["client"] == CLIENT
        assert buyer["erpCustomers"] == [{"seller": SEL_US, "customerNo": "US-SCU-1", "contactNo": "C-1"}]
        assert "colour" not in buyer and "ID" not in buyer

    @pytest.mark.parametrize(
        ("raw", "stored"),
        [
            (12, Decimal("12")),
            ("12.3456785", Decimal("12.345679")),
            (" 10 ", Decimal("10")),
            ("1e3", Decimal("1000")),
            (12.5, Decimal("12.5")),
            ("-0.0000005", Decimal("-0.000001")),
            (None, None),
        ],
    )
    def test_decimals_are_rounded_to_six_places(self, raw: Any, stored: Decimal | None) -> None:
        document = changed("agreements", 0, {"defaultMarkup": raw})
        markup = validate_import(document, {}, "replace").created["agreements"][0]["defaultMarkup"]
        assert markup == stored
        if stored is not None:
            assert markup.as_tuple().exponent == -6

    def test_secret_is_hashed_and_never_kept(self) -> None:
        token = validate_import(base_document(), {}, "replace").created["api-tokens"][0]
        assert token["secretSha256"] == hashlib.sha256(b"s3cret").hexdigest()
        assert "secret" not in token

    def test_given_digest_is_lower_cased(self) -> None:
        digest = hashlib.sha256(b"other").hexdigest()
        document = changed("api-tokens", 0, {"secret": DROP, "secretSha256": digest.upper()})
        assert validate_import(document, {}, "replace").created["api-tokens"][0]["secretSha256"] == digest

    def test_currencies_are_upper_cased(self) -> None:
        document = changed("sellers", 0, {"currencies": ["usd", " eur "]})
        assert validate_import(document, {}, "replace").created["sellers"][0]["currencies"] == ["USD", "EUR"]

    def test_ids_of_any_group_count_where_the_format_is_open(self) -> None:
        document = changed("users", 0, {"id": "USR-0000-0001-0002-0003"})
        assert validate_import(document, {}, "replace").created["users"][0]["id"] == "USR-0000-0001-0002-0003"


class TestImportModes:
    def test_merge_accepts_references_to_stored_objects(self) -> None:
        existing = world_of(base_document())
        new = {
            "agreements": [
                {
                    "id": "AGR-0000-0004",
                    "name": "More",
                    "client": CLIENT2,
                    "buyer": BUY2,
                    "seller": SEL_DE,
                    "product": PRD2,
                    "vendor": VENDOR2,
                }
            ]
        }
        plan = validate_import(new, existing, "merge")
        assert plan.counts() == {"created": {"agreements": 1}, "updated": {}, "removed": {}}
        assert_error(import_errors(new, existing, "replace"), "agreements[0].client", f"Account '{CLIENT2}' was not")

    def test_merge_upsert_replaces_the_whole_document(self) -> None:
        existing = world_of(base_document())
        row = {k: v for k, v in base_document()["agreements"][0].items() if k != "defaultMarkup"}
        unchanged = base_document()["agreements"][1]
        plan = validate_import({"agreements": [row, unchanged]}, existing, "merge")
        assert plan.counts() == {"created": {}, "updated": {"agreements": 1}, "removed": {}}
        assert plan.updated["agreements"][0]["defaultMarkup"] is None

    def test_merge_reports_stored_objects_broken_by_the_file(self) -> None:
        existing = world_of(base_document())
        product = base_document()["products"][0] | {"vendor": VENDOR2}
        errors = import_errors({"products": [product]}, existing, "merge")
        assert_error(errors, f"agreements[{AGR}].vendor", f"is not the vendor of product '{PRD}'")
        assert_error(errors, "authorizations[AUT-0000-0001].vendor", "is not the vendor of product")

    def test_replace_removes_what_the_file_does_not_list(self) -> None:
        existing = world_of(base_document())
        document = base_document()
        del document["pricing-policies"]
        document["assets"] = []
        document["accounts"] = [row for row in document["accounts"] if row["id"] != OPS_SPARE]
        plan = validate_import(document, existing, "replace")
        assert plan.removed["accounts"] == [OPS_SPARE]
        assert plan.counts() == {
            "created": {},
            "updated": {},
            "removed": {"accounts": 1, "assets": 1, "pricing-policies": 1},
        }

    def test_merge_removes_nothing(self) -> None:
        existing = world_of(base_document())
        plan = validate_import({"accounts": []}, existing, "merge")
        assert plan.counts() == {"created": {}, "updated": {}, "removed": {}}


class TestExport:
    def test_export_then_replace_import_reproduces_the_world(self) -> None:
        world = world_of(build_demo_dataset())
        exported = export_document(world)
        assert list(exported) == list(ENTITIES)
        assert all([doc["id"] for doc in docs] == sorted(doc["id"] for doc in docs) for docs in exported.values())
        assert world_of(exported) == world

    def test_export_keeps_the_digest_never_the_secret_and_copies(self) -> None:
        world = world_of(base_document())
        exported = export_document(world)
        token = exported["api-tokens"][0]
        assert "secret" not in token and token["secretSha256"] == hashlib.sha256(b"s3cret").hexdigest()
        exported["agreements"][0]["name"] = "changed"
        assert world["agreements"][AGR]["name"] == "Contoso Cloud"
        assert isinstance(exported["agreements"][0]["defaultMarkup"], Decimal)


class TestValidateEntity:
    def test_create_returns_the_canonical_document(self) -> None:
        existing = world_of(base_document())
        doc = validate_entity(
            "users", {"Id": "usr-0000-0002", "name": "Ann", "account": {"id": OPS}}, existing, current=None
        )
        assert doc == {"id": "USR-0000-0002", "name": "Ann", "account": OPS, "icon": "", "status": "Active"}

    def test_create_needs_a_new_id(self) -> None:
        existing = world_of(base_document())
        errors = entity_errors("users", {"id": "USR-0000-0001", "name": "Ann", "account": OPS}, existing)
        assert errors == {"id": ["User 'USR-0000-0001' already exists."]}
        assert_error(entity_errors("users", {"name": "Ann", "account": OPS}, existing), "id", "'id' is required.")

    def test_create_errors_are_keyed_by_field_path(self) -> None:
        existing = world_of(base_document())
        payload = base_document()["buyers"][0] | {"id": "BUY-0000-0003", "client": VENDOR}
        payload["erpCustomers"] = [{"seller": SEL_US}]
        errors = entity_errors("buyers", payload, existing)
        assert set(errors) == {"client", "erpCustomers[0].customerNo"}
        assert_error(errors, "client", "is a Vendor account; expected Client.")

    def test_body_must_be_an_object(self) -> None:
        assert entity_errors("users", ["x"], {}) == {"body": ["The body must be a JSON object."]}

    def test_update_merges_objects_replaces_arrays_and_null_clears(self) -> None:
        existing = world_of(base_document())
        current = existing["agreements"][AGR]
        payload = {
            "ExternalIds": {"operations": "CON-1"},
            "split": split((AGR, 50), (AGR2, 50)),
            "defaultMarkup": None,
            "licensee": None,
        }
        doc = validate_entity("agreements", payload, existing, current=current)
        assert doc["externalIds"] == {"vendor": None, "operations": "CON-1"}
        assert [allocation["agreement"] for allocation in doc["split"]] == [AGR, AGR2]
        assert doc["defaultMarkup"] is None and doc["licensee"] is None
        assert doc["name"] == current["name"] and current["defaultMarkup"] == Decimal(12)

        merged = validate_entity(
            "sellers", {"address": {"city": "Austin"}}, existing, current=existing["sellers"][SEL_US]
        )
        assert merged["address"]["city"] == "Austin" and merged["address"]["country"] == "US"
        replaced = validate_entity(
            "buyers",
            {"erpCustomers": [{"seller": SEL_DE, "customerNo": "DE-9"}]},
            existing,
            current=existing["buyers"][BUY],
        )
        assert replaced["erpCustomers"] == [{"seller": SEL_DE, "customerNo": "DE-9", "contactNo": None}]

    def test_update_null_on_a_required_field_is_an_error(self) -> None:
        existing = world_of(base_document())
        errors = entity_errors("agreements", {"name": None}, existing, existing["agreements"][AGR])
        assert errors == {"name": ["'name' is required."]}

    def test_id_is_immutable(self) -> None:
        existing = world_of(base_document())
        current = existing["users"]["USR-0000-0001"]
        errors = entity_errors("users", {"id": "USR-0000-0002"}, existing, current)
        assert errors == {"id": ["'id' cannot be changed."]}
        assert validate_entity("users", {"id": "usr-0000-0001"}, existing, current=current)["id"] == "USR-0000-0001"

    def test_update_rechecks_objects_that_reference_it(self) -> None:
        existing = world_of(base_document())
        errors = entity_errors("products", {"vendor": VENDOR2}, existing, existing["products"][PRD])
        assert_error(errors, f"agreements[{AGR}].vendor", f"is not the vendor of product '{PRD}'")
        assert_error(errors, "authorizations[AUT-0000-0001].vendor", "is not the vendor of product")

    def test_new_secret_replaces_the_digest(self) -> None:
        existing = world_of(base_document())
        doc = validate_entity(
            "api-tokens", {"secret": "rotated"}, existing, current=existing["api-tokens"]["TKN-0000-0001"]
        )
        assert doc["secretSha256"] == hashlib.sha256(b"rotated").hexdigest() and "secret" not in doc


class TestEntitySpecs:
    @pytest.mark.parametrize("key", list(ENTITIES))
    def test_columns_cover_id_name_status_and_single_references(self, key: str) -> None:
        spec = ENTITIES[key]
        single = {f"{ref.path}.id" for ref in spec.refs if "[]" not in ref.path}
        assert {"id", "name", "status"} | single <= set(spec.columns)
        assert "secretSha256" not in spec.columns and "secretSha256" not in spec.fields

    def test_references_name_concrete_paths(self) -> None:
        buyer = world_of(base_document())["buyers"][BUY]
        assert ENTITIES["buyers"].references(buyer) == [
            ("client", "accounts", CLIENT),
            ("erpCustomers[0].seller", "sellers", SEL_US),
            ("erpCustomers[1].seller", "sellers", SEL_DE),
        ]
