"""Charge-line validation (billing-api.md §8.2, §8.4–8.6, §8.8): rules V01–V27, outcome, split, charge rows.

Most tests use a small hand-made world of canonical reference documents (`WORLD`); the §13.1 example runs on
the §11.2 minimal import file and a few tests run on the demo world.
"""

from __future__ import annotations

import copy
import random
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from billing.db.models.charge import Charge
from billing.journals.files import RawLine
from billing.journals.resolution import JournalContext, ReferenceIndex
from billing.journals.validation import ChargeValidator
from billing.kit.money import round6
from billing.reference.demo import DEMO_ACCOUNTS, build_demo_dataset
from billing.reference.validation import validate_import

World = dict[str, dict[str, dict[str, Any]]]

NOW = datetime(2025, 6, 10, 17, 4, 53, 802000)
JOURNAL = "BJO-2589-1434"
VENDOR = "ACC-3102-8586"
PRODUCT = "PRD-1111-1111"
OTHER_PRODUCT = "PRD-2222-2222"
AUTHORIZATION = "AUT-5305-9928"
CLIENT, CLIENT2, CLIENT3 = "ACC-8119-0187", "ACC-8119-0203", "ACC-8119-0300"
SELLER = "SEL-7032-1456"
BUYER, BUYER2, BUYER3 = "BUY-3731-7971", "BUY-3731-7972", "BUY-3731-7973"
LICENSEE = "LCE-0001-0001"

AGR = "AGR-1000-0000-0001"  # client 1, USD
AGR2 = "AGR-1000-0000-0002"  # client 2, no billing currency
AGR_EUR = "AGR-1000-0000-0003"  # client 1, EUR
AGR3 = "AGR-1000-0000-0004"  # client 3, USD
AGR_SPLIT = "AGR-1000-0000-0010"  # 60 % itself, 40 % AGR2
AGR_SPLIT3 = "AGR-1000-0000-0011"  # 33.333333 / 33.333333 / 33.333334 over AGR, AGR2, AGR3
AGR_BAD_SPLIT = "AGR-1000-0000-0012"  # 50 + 40
AGR_OTHER = "AGR-2000-0000-0001"  # other product
SUB = "SUB-1000-0000-0001"  # AGR, items [ITM1]
SUB_ANY = "SUB-1000-0000-0002"  # AGR2, no items list
SUB_EUR = "SUB-1000-0000-0013"
SUB_SPLIT, SUB_SPLIT3, SUB_BAD_SPLIT = "SUB-1000-0000-0010", "SUB-1000-0000-0011", "SUB-1000-0000-0012"
SUB_OTHER = "SUB-2000-0000-0001"
AST = "AST-1000-0000-0001"  # AGR, items [ITM2]
ITM1, ITM2 = "ITM-1111-1111-0001", "ITM-1111-1111-0002"
ITM_OTHER = "ITM-2222-2222-0001"


def _agreement(agreement_id: str, client: str, buyer: str, **extra: Any) -> dict[str, Any]:
    doc = {
        "id": agreement_id,
        "name": agreement_id,
        "client": client,
        "buyer": buyer,
        "seller": SELLER,
        "product": PRODUCT,
        "vendor": VENDOR,
        "licensee": None,
        "currency": "USD",
        "defaultMarkup": None,
        "externalIds": {"vendor": None, "operations": f"CON-{agreement_id[-4:]}"},
        "split": [],
        "status": "Active",
    }
    doc.update(extra)
    return doc


def _sold(object_id: str, agreement: str, items: list[str], vendor: str | None = None) -> dict[str, Any]:
    return {
        "id": object_id,
        "name": object_id,
        "agreement": agreement,
        "items": items,
        "price": {"markup": None},
        "externalIds": {"vendor": vendor},
        "status": "Active",
    }


def _item(item_id: str, product: str, vendor: str | None, operations: str | None = None) -> dict[str, Any]:
    return {
        "id": item_id,
        "name": item_id,
        "product": product,
        "externalIds": {"vendor": vendor, "operations": operations},
        "status": "Active",
    }


def _split(*allocations: tuple[str, str]) -> list[dict[str, Any]]:
    return [{"agreement": agreement, "percentage": Decimal(percentage)} for agreement, percentage in allocations]


def _by_id(*docs: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {doc["id"]: doc for doc in docs}


WORLD: World = {
    "sellers": _by_id({"id": SELLER, "name": "Operator Inc.", "erp": {"company": "CRONUS US", "countryCode": "US"}}),
    "buyers": _by_id(
        *(
            {
                "id": buyer,
                "client": client,
                "erpCustomers": [
                    {"seller": "SEL-0000-0009", "customerNo": "XX-SCU-1", "contactNo": None},
                    {"seller": SELLER, "customerNo": f"US-SCU-{buyer[-4:]}", "contactNo": None},
                ],
            }
            for buyer, client in ((BUYER, CLIENT), (BUYER2, CLIENT2), (BUYER3, CLIENT3))
        )
    ),
    "agreements": _by_id(
        _agreement(AGR, CLIENT, BUYER, licensee=LICENSEE, externalIds={"vendor": "VA-1", "operations": "CON-1"}),
        _agreement(AGR2, CLIENT2, BUYER2, currency=None, externalIds={"vendor": "VA-DUP", "operations": None}),
        _agreement(AGR_EUR, CLIENT, BUYER, currency="EUR", externalIds={"vendor": "VA-DUP", "operations": None}),
        _agreement(AGR3, CLIENT3, BUYER3),
        _agreement(AGR_SPLIT, CLIENT, BUYER, split=_split((AGR_SPLIT, "60"), (AGR2, "40"))),
        _agreement(
            AGR_SPLIT3, CLIENT, BUYER, split=_split((AGR, "33.333333"), (AGR2, "33.333333"), (AGR3, "33.333334"))
        ),
        _agreement(AGR_BAD_SPLIT, CLIENT, BUYER, split=_split((AGR, "50"), (AGR2, "40"))),
        _agreement(AGR_OTHER, CLIENT, BUYER, product=OTHER_PRODUCT, externalIds={"vendor": "VA-OTHER"}),
    ),
    "subscriptions": _by_id(
        _sold(SUB, AGR, [ITM1], "tenant-1"),
        _sold(SUB_ANY, AGR2, []),
        _sold("SUB-1000-0000-0003", AGR, [], "tenant-dup"),
        _sold("SUB-1000-0000-0004", AGR3, [], "tenant-dup"),
        _sold(SUB_EUR, AGR_EUR, []),
        _sold(SUB_SPLIT, AGR_SPLIT, []),
        _sold(SUB_SPLIT3, AGR_SPLIT3, []),
        _sold(SUB_BAD_SPLIT, AGR_BAD_SPLIT, []),
        _sold(SUB_OTHER, AGR_OTHER, [], "tenant-other"),
    ),
    "assets": _by_id(_sold(AST, AGR, [ITM2], "appliance-1")),
    "items": _by_id(
        _item(ITM1, PRODUCT, "SKU-STD-01", "CS01.00001.MP"),
        _item(ITM2, PRODUCT, "SKU-PRM-02", "CS01.00002.MP"),
        _item("ITM-1111-1111-0003", PRODUCT, "SKU-DUP"),
        _item("ITM-1111-1111-0004", PRODUCT, "SKU-DUP"),
        _item(ITM_OTHER, OTHER_PRODUCT, "SKU-OTHER-01"),
    ),
}


def context(**overrides: Any) -> JournalContext:
    values: dict[str, Any] = {
        "journal_id": JOURNAL,
        "vendor_id": VENDOR,
        "product_id": PRODUCT,
        "authorization_id": AUTHORIZATION,
        "currency": "USD",
        "manual_pairs": frozenset(),
        "now": NOW,
    }
    values.update(overrides)
    return JournalContext(**values)


def validator(world: World = WORLD, **overrides: Any) -> ChargeValidator:
    ctx = context(**overrides)
    return ChargeValidator(ctx, ReferenceIndex.build(world, ctx.product_id))


def charge(**overrides: Any) -> dict[str, Any]:
    """A valid line of the hand-made world; ``overrides`` replace top-level members (None removes one)."""
    line: dict[str, Any] = {
        "externalIds": {"vendor": "ext-0001", "invoice": "INV12345", "reference": "REF-1"},
        "search": {
            "source": {"type": "Subscription", "criteria": "id", "value": SUB},
            "order": {"criteria": "order.id", "value": "ORD-2413-8980-9419"},
            "item": {"criteria": "item.externalIds.vendor", "value": "SKU-STD-01"},
        },
        "period": {"start": "2025-06-01", "end": "2025-06-30T23:59:59Z"},
        "quantity": 10,
        "price": {"unitPP": 10, "PPx1": 100, "currency": "USD"},
        "segment": "COM",
        "description": {"value1": "Standard seat", "value2": "June"},
        "attributes": {"agreementVendorId": "TENANT-77"},
    }
    for name, value in overrides.items():
        if value is None:
            line.pop(name, None)
        else:
            line[name] = value
    return line


def rows_of(data: dict[str, Any], line: int = 1, **overrides: Any) -> list[dict[str, Any]]:
    return validator(**overrides).validate(RawLine(line, data, None))


def only(data: dict[str, Any], line: int = 1, **overrides: Any) -> dict[str, Any]:
    rows = rows_of(data, line, **overrides)
    assert len(rows) == 1
    return rows[0]


def errors_of(data: dict[str, Any], line: int = 1, **overrides: Any) -> list[str]:
    row = only(data, line, **overrides)
    assert row["upload_status"] == ("Error" if row["upload_errors"] else row["upload_status"])
    return row["upload_errors"]


def search(source: dict[str, Any] | None = None, item: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    value: dict[str, Any] = {
        "source": source or {"type": "Subscription", "criteria": "id", "value": SUB},
        "item": item or {"criteria": "item.id", "value": ITM1},
    }
    value.update(extra)
    return value


def world_of(document: dict[str, Any]) -> World:
    plan = validate_import(document, {}, "replace")
    return {entity: {doc["id"]: doc for doc in docs} for entity, docs in plan.created.items()}


# --- rows ------------------------------------------------------------------------------------------------------


class TestRow:
    def test_every_charge_column_and_nothing_else(self) -> None:
        row = only(charge())
        assert set(row) == set(Charge.__table__.columns.keys())

    def test_valid_line_is_ready_with_resolved_references(self) -> None:
        row = only(charge(), line=2)
        assert row == {
            "id": "CHG-2589-1434-0000-0000-0200",
            "journal_id": JOURNAL,
            "custom_ledger_id": None,
            "ledger_id": None,
            "statement_id": None,
            "line": 2,
            "child": 0,
            "seq": 200,
            "parent_id": None,
            "parent_external_vendor": None,
            "split_percentage": None,
            "external_vendor": "ext-0001",
            "external_invoice": "INV12345",
            "external_reference": "REF-1",
            "search": {
                "source": {"type": "Subscription", "criteria": "id", "value": SUB},
                "order": {"criteria": "order.id", "value": "ORD-2413-8980-9419"},
                "item": {"criteria": "item.externalIds.vendor", "value": "SKU-STD-01"},
            },
            "period_start": datetime(2025, 6, 1),
            "period_end": datetime(2025, 6, 30, 23, 59, 59),
            "quantity": Decimal(10),
            "unit_pp": Decimal(10),
            "ppx1": Decimal(100),
            "unit_sp": None,
            "spx1": None,
            "markup": None,
            "margin": None,
            "currency_purchase": "USD",
            "currency_sale": None,
            "segment": "COM",
            "description1": "Standard seat",
            "description2": "June",
            "attributes": {"agreementVendorId": "TENANT-77"},
            "billing_type": "Automated",
            "upload_status": "Ready",
            "upload_errors": [],
            "processing_status": None,
            "processing_errors": None,
            "client_id": CLIENT,
            "buyer_id": BUYER,
            "licensee_id": LICENSEE,
            "seller_id": SELLER,
            "vendor_id": VENDOR,
            "product_id": PRODUCT,
            "agreement_id": AGR,
            "subscription_id": SUB,
            "asset_id": None,
            "order_id": "ORD-2413-8980-9419",
            "item_id": ITM1,
            "authorization_id": AUTHORIZATION,
            "erp_country_code": "US",
            "erp_item_id": "CS01.00001.MP",
            "cco": "CON-1",
            "scu": f"US-SCU-{BUYER[-4:]}",
            "created_at": NOW,
            "updated_at": NOW,
        }

    def test_decimals_are_stored_with_6_places_half_away_from_zero(self) -> None:
        row = only(charge(quantity="2.0000005", price={"unitPP": "-1.2345675", "PPx1": "-2.469136"}))
        assert row["upload_errors"] == []
        assert (row["quantity"], row["unit_pp"], row["ppx1"]) == (
            Decimal("2.000001"),
            Decimal("-1.234568"),
            Decimal("-2.469136"),
        )
        assert str(row["quantity"]) == "2.000001"

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            (1, "CHG-2589-1434-0000-0000-0100"),
            (2, "CHG-2589-1434-0000-0000-0200"),
            (12345, "CHG-2589-1434-0000-0123-4500"),
            (1_000_000, "CHG-2589-1434-0001-0000-0000"),
        ],
    )
    def test_charge_ids_derive_from_the_line(self, line: int, expected: str) -> None:
        row = only(charge(), line=line)
        assert (row["id"], row["seq"], row["child"]) == (expected, line * 100, 0)

    def test_ppx1_defaults_to_unit_price_times_quantity(self) -> None:
        row = only(charge(quantity="3", price={"unitPP": "0.333333"}))
        assert row["upload_status"] == "Ready"
        assert row["ppx1"] == Decimal("0.999999")

    def test_ppx1_default_is_rounded_once(self) -> None:
        row = only(charge(quantity="0.5", price={"unitPP": "0.000001"}))
        assert row["ppx1"] == Decimal("0.000001")  # 0.0000005 half away from zero

    def test_optional_members_absent(self) -> None:
        row = only(charge(segment=None, description=None, attributes=None, price={"unitPP": 10}))
        assert row["upload_status"] == "Ready"
        assert (row["segment"], row["description1"], row["description2"], row["attributes"]) == (None, None, None, {})
        assert row["search"]["order"] == {"criteria": "order.id", "value": "ORD-2413-8980-9419"}

    def test_asset_source(self) -> None:
        line = charge(
            search=search({"type": "asset", "criteria": "asset.id", "value": AST}, {"criteria": "id", "value": ITM2})
        )
        row = only(line)
        assert row["upload_status"] == "Ready"
        assert (row["asset_id"], row["subscription_id"], row["agreement_id"], row["item_id"]) == (AST, None, AGR, ITM2)
        assert row["search"]["source"] == {"type": "asset", "criteria": "asset.id", "value": AST}

    def test_agreement_source_by_vendor_id(self) -> None:
        line = charge(search=search({"type": "Agreement", "criteria": "agreement.externalIds.vendor", "value": "VA-1"}))
        row = only(line)
        assert row["upload_status"] == "Ready"
        assert (row["agreement_id"], row["subscription_id"], row["asset_id"]) == (AGR, None, None)

    def test_subscription_by_vendor_id_and_item_by_bare_criteria(self) -> None:
        line = charge(
            search=search(
                {"type": "Subscription", "criteria": "externalIds.vendor", "value": "tenant-1"},
                {"criteria": "externalIds.vendor", "value": "SKU-STD-01"},
            )
        )
        row = only(line)
        assert (row["upload_status"], row["subscription_id"], row["item_id"]) == ("Ready", SUB, ITM1)

    def test_ids_match_case_insensitively(self) -> None:
        line = charge(search=search({"type": "Subscription", "criteria": "id", "value": SUB.lower()}))
        assert only(line)["subscription_id"] == SUB

    def test_search_is_recorded_with_canonical_names_and_values_as_given(self) -> None:
        line = charge(
            search={
                "SOURCE": {"Type": "subscription", "CRITERIA": "Subscription.ID", "value": SUB, "extra": 1},
                "Item": {"criteria": "ITEM.ID", "Value": ITM1},
                "order": {"criteria": "order.id", "value": "ORD-1"},
            }
        )
        row = only(line)
        assert row["upload_status"] == "Ready"
        assert row["search"] == {
            "source": {"type": "subscription", "criteria": "Subscription.ID", "value": SUB},
            "order": {"criteria": "order.id", "value": "ORD-1"},
            "item": {"criteria": "ITEM.ID", "value": ITM1},
        }

    def test_attributes_keep_given_members_only(self) -> None:
        row = only(charge(attributes={"AgreementVendorId": "T-1", "SEGMENT": "edu", "other": "x", "segment": None}))
        assert row["attributes"] == {"agreementVendorId": "T-1"}
        row = only(charge(attributes={"segment": "edu"}))
        assert row["attributes"] == {"segment": "edu"}

    def test_segment_is_stored_upper_case(self) -> None:
        assert only(charge(segment=" gov "))["segment"] == "GOV"

    def test_period_offsets_are_converted_to_utc(self) -> None:
        row = only(charge(period={"start": "2025-06-01T02:00:00+02:00", "end": "2025-06-30T23:59:59.1234567"}))
        assert row["period_start"] == datetime(2025, 6, 1)
        assert row["period_end"] == datetime(2025, 6, 30, 23, 59, 59, 123456)


class TestV01:
    def test_parser_message(self) -> None:
        [row] = validator().validate(RawLine(7, None, "unexpected character: line 1 column 3 (char 2)"))
        assert row["upload_errors"] == ["Line 7: Invalid JSON: unexpected character: line 1 column 3 (char 2)."]
        assert row["upload_status"] == "Error"
        assert (row["id"], row["line"], row["seq"], row["child"]) == ("CHG-2589-1434-0000-0000-0700", 7, 700, 0)
        journal_facts = {
            "id",
            "line",
            "seq",
            "child",
            "journal_id",
            "vendor_id",
            "authorization_id",
            "currency_purchase",
            "billing_type",
            "upload_status",
            "upload_errors",
            "attributes",
            "created_at",
            "updated_at",
        }
        assert all(value is None for name, value in row.items() if name not in journal_facts)
        assert (row["vendor_id"], row["billing_type"], row["attributes"], row["created_at"]) == (
            VENDOR,
            "Automated",
            {},
            NOW,
        )

    def test_v01_stops_the_line_and_does_not_count_for_duplicates(self) -> None:
        checker = validator()
        checker.validate(RawLine(1, None, "not a JSON object"))
        assert checker.validate(RawLine(2, charge(), None))[0]["upload_status"] == "Ready"


# --- V02–V27 ---------------------------------------------------------------------------------------------------


class TestRules:
    def test_v02_vendor_id_missing(self) -> None:
        assert errors_of(charge(externalIds={"invoice": "INV1"})) == ["Line 1: 'externalIds.vendor' is required."]

    @pytest.mark.parametrize("external_ids", [None, {"vendor": "  "}, {"vendor": None}, "x"])
    def test_v02_vendor_id_blank_or_unreadable(self, external_ids: Any) -> None:
        line = charge(externalIds=external_ids)
        assert errors_of(line) == ["Line 1: 'externalIds.vendor' is required."]

    def test_external_ids_longer_than_their_columns(self) -> None:
        """§3.14 caps external ids at 255 characters (the width of their columns); such a line fails."""
        row = only(charge(externalIds={"vendor": "v" * 256, "invoice": "i" * 255, "reference": "r" * 300}))
        assert row["upload_errors"] == [
            "Line 1: 'externalIds.vendor' is longer than 255 characters.",
            "Line 1: 'externalIds.reference' is longer than 255 characters.",
        ]
        assert (row["external_vendor"], row["external_invoice"], row["external_reference"]) == (None, "i" * 255, None)

    def test_v03_duplicate_vendor_id_on_an_earlier_line(self) -> None:
        checker = validator()
        assert checker.validate(RawLine(2, charge(), None))[0]["upload_status"] == "Ready"
        assert checker.validate(RawLine(3, charge(externalIds={"vendor": "EXT-0001"}), None))[0]["upload_errors"] == []
        second = checker.validate(RawLine(5, charge(), None))[0]
        third = checker.validate(RawLine(9, charge(), None))[0]
        assert second["upload_errors"] == ["Line 5: Duplicate 'externalIds.vendor' 'ext-0001'; already used on line 2."]
        assert third["upload_errors"] == ["Line 9: Duplicate 'externalIds.vendor' 'ext-0001'; already used on line 2."]
        assert (second["external_vendor"], second["upload_status"], second["agreement_id"]) == (
            "ext-0001",
            "Error",
            AGR,
        )

    def test_v03_counts_lines_that_failed_other_rules(self) -> None:
        checker = validator()
        checker.validate(RawLine(1, charge(quantity="x"), None))
        assert checker.validate(RawLine(2, charge(), None))[0]["upload_errors"] == [
            "Line 2: Duplicate 'externalIds.vendor' 'ext-0001'; already used on line 1."
        ]

    def test_v04_source_missing(self) -> None:
        line = charge(search={"item": {"criteria": "item.id", "value": ITM1}})
        assert errors_of(line) == ["Line 1: 'search.source' is required."]

    def test_v04_search_missing(self) -> None:
        assert errors_of(charge(search=None)) == [
            "Line 1: 'search.source' is required.",
            "Line 1: 'search.item' is required.",
        ]

    def test_v05_source_type(self) -> None:
        line = charge(search=search({"type": "Order", "criteria": "id", "value": SUB}))
        assert errors_of(line) == [
            "Line 1: Unsupported 'search.source.type' 'Order'; expected Subscription, Agreement or Asset."
        ]

    def test_v05_source_type_missing(self) -> None:
        line = charge(search=search({"criteria": "id", "value": SUB}))
        assert errors_of(line) == [
            "Line 1: Unsupported 'search.source.type' ''; expected Subscription, Agreement or Asset."
        ]

    def test_v06_source_criteria(self) -> None:
        line = charge(search=search({"type": "agreement", "criteria": "name", "value": AGR}))
        assert errors_of(line) == [
            "Line 1: Unsupported search criteria 'name' for Agreement; expected 'id' or 'externalIds.vendor'."
        ]

    def test_v06_prefix_of_another_type(self) -> None:
        line = charge(search=search({"type": "Subscription", "criteria": "agreement.id", "value": SUB}))
        assert errors_of(line) == [
            "Line 1: Unsupported search criteria 'agreement.id' for Subscription; "
            "expected 'id' or 'externalIds.vendor'."
        ]

    @pytest.mark.parametrize("source", [{"type": "Subscription", "criteria": "id"}, {"criteria": "id", "value": " "}])
    def test_v07_source_value(self, source: dict[str, Any]) -> None:
        source = {"type": "Subscription", **source}
        assert errors_of(charge(search=search(source))) == ["Line 1: 'search.source.value' is required."]

    def test_v08_not_found_by_id(self) -> None:
        line = charge(search=search({"type": "Subscription", "criteria": "id", "value": "SUB-0000-0000-0001"}))
        assert errors_of(line) == ["Line 1: Subscription 'SUB-0000-0000-0001' was not found."]

    def test_v08_not_found_by_vendor_id(self) -> None:
        line = charge(search=search({"type": "Asset", "criteria": "externalIds.vendor", "value": "appliance-9"}))
        assert errors_of(line) == ["Line 1: Asset with externalIds.vendor 'appliance-9' was not found."]

    def test_v08_vendor_id_lookup_is_restricted_to_the_product(self) -> None:
        line = charge(
            search=search({"type": "Subscription", "criteria": "externalIds.vendor", "value": "tenant-other"})
        )
        assert errors_of(line) == ["Line 1: Subscription with externalIds.vendor 'tenant-other' was not found."]

    def test_v08_vendor_id_is_case_sensitive(self) -> None:
        line = charge(search=search({"type": "Subscription", "criteria": "externalIds.vendor", "value": "TENANT-1"}))
        assert errors_of(line) == ["Line 1: Subscription with externalIds.vendor 'TENANT-1' was not found."]

    def test_v09_ambiguous(self) -> None:
        line = charge(search=search({"type": "Subscription", "criteria": "externalIds.vendor", "value": "tenant-dup"}))
        assert errors_of(line) == [
            "Line 1: Subscription with externalIds.vendor 'tenant-dup' is ambiguous (2 matches)."
        ]

    def test_v10_other_product(self) -> None:
        line = charge(search=search({"type": "Subscription", "criteria": "id", "value": SUB_OTHER}))
        assert errors_of(line) == [
            f"Line 1: Subscription '{SUB_OTHER}' does not belong to product '{PRODUCT}' "
            f"of authorization '{AUTHORIZATION}'."
        ]

    def test_v10_other_product_agreement(self) -> None:
        line = charge(search=search({"type": "Agreement", "criteria": "id", "value": AGR_OTHER.lower()}))
        assert errors_of(line) == [
            f"Line 1: Agreement '{AGR_OTHER}' does not belong to product '{PRODUCT}' "
            f"of authorization '{AUTHORIZATION}'."
        ]

    def test_v11_item_missing(self) -> None:
        line = charge(search={"source": {"type": "Subscription", "criteria": "id", "value": SUB}})
        assert errors_of(line) == ["Line 1: 'search.item' is required."]

    def test_v12_item_criteria(self) -> None:
        line = charge(search=search(item={"criteria": "item.name", "value": "Standard seat"}))
        assert errors_of(line) == [
            "Line 1: Unsupported search criteria 'item.name' for item; expected 'item.id' or 'item.externalIds.vendor'."
        ]

    def test_v13_item_not_found(self) -> None:
        line = charge(search=search(item={"criteria": "item.externalIds.vendor", "value": "SKU-NONE"}))
        assert errors_of(line) == [f"Line 1: Item 'SKU-NONE' was not found in product '{PRODUCT}'."]

    def test_v13_item_of_another_product(self) -> None:
        line = charge(search=search(item={"criteria": "item.id", "value": ITM_OTHER}))
        assert errors_of(line) == [f"Line 1: Item '{ITM_OTHER}' was not found in product '{PRODUCT}'."]

    def test_v14_item_ambiguous(self) -> None:
        line = charge(
            search=search(
                {"type": "Subscription", "criteria": "id", "value": SUB_ANY},
                {"criteria": "externalIds.vendor", "value": "SKU-DUP"},
            )
        )
        assert errors_of(line) == ["Line 1: Item with externalIds.vendor 'SKU-DUP' is ambiguous (2 matches)."]

    def test_v15_item_not_in_subscription(self) -> None:
        line = charge(search=search(item={"criteria": "item.id", "value": ITM2}))
        assert errors_of(line) == [f"Line 1: Item '{ITM2}' is not part of subscription '{SUB}'."]

    def test_v15_item_not_in_asset(self) -> None:
        line = charge(search=search({"type": "Asset", "criteria": "id", "value": AST}))
        assert errors_of(line) == [f"Line 1: Item '{ITM1}' is not part of asset '{AST}'."]

    def test_v15_not_checked_without_items_list_or_for_agreements(self) -> None:
        for source in (
            {"type": "Subscription", "criteria": "id", "value": SUB_ANY},
            {"type": "Agreement", "criteria": "id", "value": AGR},
        ):
            assert errors_of(charge(search=search(source, {"criteria": "item.id", "value": ITM2}))) == []

    def test_v16_order_criteria(self) -> None:
        line = charge(search=search(order={"criteria": "order.number", "value": "42"}))
        row = only(line)
        assert row["upload_errors"] == [
            "Line 1: Unsupported search criteria 'order.number' for order; expected 'order.id'."
        ]
        assert row["order_id"] is None

    def test_v17_period_missing(self) -> None:
        assert errors_of(charge(period=None)) == [
            "Line 1: 'period.start' is required.",
            "Line 1: 'period.end' is required.",
        ]
        assert errors_of(charge(period={"start": "2025-06-01", "end": ""})) == ["Line 1: 'period.end' is required."]

    def test_v18_period_invalid(self) -> None:
        line = charge(period={"start": "2025-02-30", "end": "June 30"})
        assert errors_of(line) == [
            "Line 1: 'period.start' is not a valid ISO 8601 date or date-time: '2025-02-30'.",
            "Line 1: 'period.end' is not a valid ISO 8601 date or date-time: 'June 30'.",
        ]

    def test_v19_end_before_start(self) -> None:
        line = charge(period={"start": "2025-06-30", "end": "2025-06-01T10:00:00.5Z"})
        assert errors_of(line) == [
            "Line 1: Period end 2025-06-01T10:00:00.500Z is before period start 2025-06-30T00:00:00.000Z."
        ]

    def test_v19_equal_instants_pass(self) -> None:
        assert errors_of(charge(period={"start": "2025-06-01", "end": "2025-06-01T00:00:00Z"})) == []

    def test_v20_quantity(self) -> None:
        price = {"unitPP": 10}
        assert errors_of(charge(quantity=None, price=price)) == ["Line 1: 'quantity' is required."]
        assert errors_of(charge(quantity="ten", price=price)) == ["Line 1: 'quantity' must be a number: 'ten'."]
        assert errors_of(charge(quantity="1e15", price=price)) == ["Line 1: 'quantity' is out of range."]

    def test_v21_unit_price(self) -> None:
        assert errors_of(charge(price={"PPx1": 100})) == ["Line 1: 'price.unitPP' is required."]
        assert errors_of(charge(price={"unitPP": ""})) == ["Line 1: 'price.unitPP' must be a number: ''."]
        assert errors_of(charge(price={"unitPP": -(10**15)})) == ["Line 1: 'price.unitPP' is out of range."]

    def test_v22_total(self) -> None:
        assert errors_of(charge(price={"unitPP": 10, "PPx1": "NaN"})) == [
            "Line 1: 'price.PPx1' must be a number: 'NaN'."
        ]
        assert errors_of(charge(price={"unitPP": 10, "PPx1": "999999999999999.9999995"})) == [
            "Line 1: 'price.PPx1' is out of range."
        ]

    def test_v22_defaulted_total_out_of_range(self) -> None:
        line = charge(quantity=10**8, price={"unitPP": 10**8})
        assert errors_of(line) == ["Line 1: 'price.PPx1' is out of range."]

    def test_v23_total_mismatch(self) -> None:
        line = charge(price={"unitPP": 10, "PPx1": "100.02"})
        assert errors_of(line) == [
            "Line 1: 'price.PPx1' 100.02 does not match 'price.unitPP' × 'quantity' = 100 (tolerance 0.01)."
        ]

    def test_v24_currency(self) -> None:
        line = charge(price={"unitPP": 10, "currency": "EUR"})
        assert errors_of(line) == ["Line 1: Currency 'EUR' does not match authorization currency 'USD'."]

    def test_v24_currency_code_case_is_ignored(self) -> None:
        assert errors_of(charge(price={"unitPP": 10, "currency": "usd"})) == []

    def test_v25_agreement_currency(self) -> None:
        line = charge(search=search({"type": "Subscription", "criteria": "id", "value": SUB_EUR}))
        assert errors_of(line) == [
            f"Line 1: Agreement '{AGR_EUR}' is billed in 'EUR', but authorization '{AUTHORIZATION}' uses 'USD'."
        ]

    def test_v25_agreement_without_billing_currency_passes(self) -> None:
        line = charge(search=search({"type": "Subscription", "criteria": "id", "value": SUB_ANY}))
        assert errors_of(line) == []

    def test_v26_segment(self) -> None:
        row = only(charge(segment="Corporate"))
        assert row["upload_errors"] == ["Line 1: Unsupported 'segment' 'Corporate'; expected COM, GOV or EDU."]
        assert row["segment"] is None

    def test_v27_split_configuration(self) -> None:
        line = charge(search=search({"type": "Subscription", "criteria": "id", "value": SUB_BAD_SPLIT}))
        rows = rows_of(line)
        assert len(rows) == 1
        assert rows[0]["upload_errors"] == [
            f"Line 1: Split billing of agreement '{AGR_BAD_SPLIT}' is invalid: percentages must sum to 100 (got 90)."
        ]

    @pytest.mark.parametrize(
        ("split", "reason"),
        [
            ([(AGR, "100"), (AGR2, "0")], "the percentage of allocation 2 must be greater than 0 (got 0)"),
            (
                [(AGR, "100"), ("AGR-9999-9999-9999", "0.5")],
                "agreement 'AGR-9999-9999-9999' of allocation 2 was not found",
            ),
            ([(AGR_OTHER, "100")], f"agreement '{AGR_OTHER}' is for product '{OTHER_PRODUCT}', not '{PRODUCT}'"),
            ([(AGR_SPLIT, "100")], f"agreement '{AGR_SPLIT}' has a split of its own; splits cannot be nested"),
            ([(AGR, "1")] * 100, "at most 99 allocations are allowed (got 100)"),
        ],
    )
    def test_v27_reasons(self, split: list[tuple[str, str]], reason: str) -> None:
        world = copy.deepcopy(WORLD)
        world["agreements"][AGR3]["split"] = _split(*split)
        line = charge(search=search({"type": "Agreement", "criteria": "id", "value": AGR3}))
        assert errors_of(line, world=world) == [f"Line 1: Split billing of agreement '{AGR3}' is invalid: {reason}."]


# --- combined rules --------------------------------------------------------------------------------------------


MINIMAL_IMPORT = {
    "accounts": [
        {"id": "ACC-0000-0001", "type": "Operations", "name": "Operator"},
        {"id": "ACC-3102-8586", "type": "Vendor", "name": "Vendor Co"},
        {"id": "ACC-8119-0187", "type": "Client", "name": "Contoso"},
    ],
    "sellers": [
        {
            "id": "SEL-7032-1456",
            "name": "Operator Inc.",
            "externalId": "US",
            "address": {"country": "US"},
            "currencies": ["USD"],
            "erpLink": {"id": "ERP-US", "name": "Operator Inc. (NAV US)", "status": "Active"},
            "erp": {"company": "CRONUS US", "countryCode": "US"},
        }
    ],
    "buyers": [
        {
            "id": "BUY-3731-7971",
            "name": "Contoso Ltd",
            "client": "ACC-8119-0187",
            "erpCustomers": [{"seller": "SEL-7032-1456", "customerNo": "US-SCU-100064"}],
        }
    ],
    "products": [{"id": "PRD-2426-7318", "name": "Cloud Suite", "vendor": "ACC-3102-8586"}],
    "items": [
        {
            "id": "ITM-2426-7318-0001",
            "name": "Standard seat",
            "product": "PRD-2426-7318",
            "externalIds": {"vendor": "SKU-STD-01", "operations": "CS01.00001.MP"},
        }
    ],
    "authorizations": [
        {
            "id": "AUT-5305-9928",
            "name": "Cloud Suite US",
            "vendor": "ACC-3102-8586",
            "product": "PRD-2426-7318",
            "owner": "SEL-7032-1456",
            "currency": "USD",
        }
    ],
    "agreements": [
        {
            "id": "AGR-3617-1129-0665",
            "name": "Contoso Cloud Suite",
            "client": "ACC-8119-0187",
            "buyer": "BUY-3731-7971",
            "seller": "SEL-7032-1456",
            "product": "PRD-2426-7318",
            "vendor": "ACC-3102-8586",
            "defaultMarkup": 12,
        }
    ],
    "subscriptions": [
        {
            "id": "SUB-0356-5642-8669",
            "name": "Seats",
            "agreement": "AGR-3617-1129-0665",
            "items": ["ITM-2426-7318-0001"],
            "price": {"markup": 15},
            "externalIds": {"vendor": "tenant-77-seats"},
        }
    ],
}


class TestExample:
    def test_section_13_1_upload(self) -> None:
        """The two lines of the §13.1 example: line 1 Ready, line 2 with three messages in table order."""
        world = world_of(MINIMAL_IMPORT)
        ctx = context(journal_id="BJO-9000-4019", product_id="PRD-2426-7318")
        checker = ChargeValidator(ctx, ReferenceIndex.build(world, ctx.product_id))
        first = {
            "externalIds": {"vendor": "e-1", "invoice": "INV1"},
            "search": {
                "source": {"type": "Subscription", "criteria": "id", "value": "SUB-0356-5642-8669"},
                "item": {"criteria": "item.externalIds.vendor", "value": "SKU-STD-01"},
            },
            "period": {"start": "2025-06-01", "end": "2025-06-30"},
            "quantity": 10,
            "price": {"unitPP": 10, "PPx1": 100},
        }
        second = {
            "externalIds": {"vendor": "e-2"},
            "search": {
                "source": {"type": "Subscription", "criteria": "id", "value": "SUB-0000-0000-0001"},
                "item": {"criteria": "item.id", "value": "ITM-2426-7318-0001"},
            },
            "period": {"start": "2025-06-30", "end": "2025-06-01"},
            "quantity": "ten",
            "price": {"UnitPP": "5"},
        }
        [ready] = checker.validate(RawLine(1, first, None))
        [failed] = checker.validate(RawLine(2, second, None))
        assert (ready["upload_status"], ready["agreement_id"], ready["scu"], ready["erp_item_id"]) == (
            "Ready",
            "AGR-3617-1129-0665",
            "US-SCU-100064",
            "CS01.00001.MP",
        )
        assert failed["id"] == "CHG-9000-4019-0000-0000-0200"
        assert failed["upload_status"] == "Error"
        assert failed["upload_errors"] == [
            "Line 2: Subscription 'SUB-0000-0000-0001' was not found.",
            "Line 2: Period end 2025-06-01T00:00:00.000Z is before period start 2025-06-30T00:00:00.000Z.",
            "Line 2: 'quantity' must be a number: 'ten'.",
        ]
        # readable fields are stored, the rest is null
        assert (failed["external_vendor"], failed["unit_pp"], failed["quantity"], failed["ppx1"]) == (
            "e-2",
            Decimal(5),
            None,
            None,
        )
        assert (failed["item_id"], failed["agreement_id"], failed["client_id"], failed["product_id"]) == (
            "ITM-2426-7318-0001",
            None,
            None,
            None,
        )
        assert failed["period_start"] == datetime(2025, 6, 30)

    def test_all_failures_in_table_order(self) -> None:
        line = {
            "externalIds": {},
            "search": {"source": {"type": "Thing", "criteria": "id"}, "item": {"criteria": "sku", "value": "x"}},
            "period": {"start": "yesterday"},
            "quantity": "1e16",
            "price": {"unitPP": "abc", "PPx1": "?", "currency": "EUR"},
            "segment": "SMB",
        }
        assert errors_of(line, line=4) == [
            "Line 4: 'externalIds.vendor' is required.",
            "Line 4: Unsupported 'search.source.type' 'Thing'; expected Subscription, Agreement or Asset.",
            "Line 4: 'search.source.value' is required.",
            "Line 4: Unsupported search criteria 'sku' for item; expected 'item.id' or 'item.externalIds.vendor'.",
            "Line 4: 'period.end' is required.",
            "Line 4: 'period.start' is not a valid ISO 8601 date or date-time: 'yesterday'.",
            "Line 4: 'quantity' is out of range.",
            "Line 4: 'price.unitPP' must be a number: 'abc'.",
            "Line 4: 'price.PPx1' must be a number: '?'.",
            "Line 4: Currency 'EUR' does not match authorization currency 'USD'.",
            "Line 4: Unsupported 'segment' 'SMB'; expected COM, GOV or EDU.",
        ]

    def test_empty_object(self) -> None:
        row = only({})
        assert row["upload_errors"] == [
            "Line 1: 'externalIds.vendor' is required.",
            "Line 1: 'search.source' is required.",
            "Line 1: 'search.item' is required.",
            "Line 1: 'period.start' is required.",
            "Line 1: 'period.end' is required.",
            "Line 1: 'quantity' is required.",
            "Line 1: 'price.unitPP' is required.",
        ]
        assert (row["search"], row["attributes"], row["upload_status"]) == (None, {}, "Error")


class TestSkipping:
    def test_no_source_lookup_after_v05(self) -> None:
        line = charge(search=search({"type": "Contract", "criteria": "nonsense", "value": "SUB-0000-0000-0001"}))
        assert errors_of(line) == [
            "Line 1: Unsupported 'search.source.type' 'Contract'; expected Subscription, Agreement or Asset."
        ]

    def test_no_lookup_after_v06(self) -> None:
        line = charge(search=search({"type": "Subscription", "criteria": "name", "value": "SUB-0000-0000-0001"}))
        assert errors_of(line) == [
            "Line 1: Unsupported search criteria 'name' for Subscription; expected 'id' or 'externalIds.vendor'."
        ]

    def test_no_v15_v25_v27_without_a_source(self) -> None:
        line = charge(
            search=search(
                {"type": "Subscription", "criteria": "id", "value": "SUB-0000-0000-0009"},
                {"criteria": "item.id", "value": ITM2},
            )
        )
        row = only(line)
        assert row["upload_errors"] == ["Line 1: Subscription 'SUB-0000-0000-0009' was not found."]
        assert (row["agreement_id"], row["item_id"], row["erp_item_id"]) == (None, ITM2, "CS01.00002.MP")

    def test_no_v15_without_an_item(self) -> None:
        line = charge(search=search(item={"criteria": "item.id", "value": "ITM-0000-0000-0000"}))
        assert errors_of(line) == [f"Line 1: Item 'ITM-0000-0000-0000' was not found in product '{PRODUCT}'."]

    def test_no_v18_for_a_missing_period_and_no_v19_for_an_invalid_one(self) -> None:
        assert errors_of(charge(period={"end": "not a date"})) == [
            "Line 1: 'period.start' is required.",
            "Line 1: 'period.end' is not a valid ISO 8601 date or date-time: 'not a date'.",
        ]

    @pytest.mark.parametrize(
        ("quantity", "price", "expected", "stored"),
        [
            ("x", {"unitPP": 1, "PPx1": 5000}, "Line 1: 'quantity' must be a number: 'x'.", Decimal(5000)),
            (10, {"unitPP": None, "PPx1": 5000}, "Line 1: 'price.unitPP' is required.", Decimal(5000)),
            (10, {"unitPP": 10, "PPx1": [1]}, "Line 1: 'price.PPx1' must be a number: '[1]'.", None),
        ],
    )
    def test_no_v23_when_an_operand_failed(
        self, quantity: Any, price: dict[str, Any], expected: str, stored: Decimal | None
    ) -> None:
        row = only(charge(quantity=quantity, price=price))
        assert row["upload_errors"] == [expected]
        assert row["ppx1"] == stored

    def test_v02_skips_v03(self) -> None:
        checker = validator()
        checker.validate(RawLine(1, charge(externalIds={"vendor": " "}), None))
        assert checker.validate(RawLine(2, charge(externalIds={"vendor": " "}), None))[0]["upload_errors"] == [
            "Line 2: 'externalIds.vendor' is required."
        ]


class TestBinding:
    def test_property_names_are_case_insensitive_at_every_level(self) -> None:
        line = {
            "EXTERNALIDS": {"Vendor": "e-1"},
            "Search": {
                "Source": {"TYPE": "SUBSCRIPTION", "Criteria": "ID", "VALUE": SUB},
                "ITEM": {"CRITERIA": "ITEM.EXTERNALIDS.VENDOR", "value": "SKU-STD-01"},
            },
            "PERIOD": {"Start": "2025-06-01", "END": "2025-06-30"},
            "Quantity": 10,
            "Price": {"UnitPP": 10, "ppx1": 100, "CURRENCY": "USD"},
            "Segment": "com",
            "Description": {"VALUE1": "a", "Value2": "b"},
        }
        row = only(line)
        assert row["upload_errors"] == []
        assert (row["external_vendor"], row["subscription_id"], row["item_id"], row["ppx1"]) == ("e-1", SUB, ITM1, 100)
        assert (row["segment"], row["description1"], row["description2"]) == ("COM", "a", "b")
        assert row["search"]["source"] == {"type": "SUBSCRIPTION", "criteria": "ID", "value": SUB}

    def test_last_occurrence_wins(self) -> None:
        row = only(charge(price={"unitPP": 1, "UNITPP": 10, "PPx1": 1, "ppx1": 100}, Quantity=10))
        assert (row["unit_pp"], row["ppx1"], row["upload_errors"]) == (10, 100, [])

    @pytest.mark.parametrize(
        ("quantity", "unit", "expected"),
        [
            (" 10 ", "10", Decimal(100)),
            ("1e1", "1E1", Decimal(100)),
            (Decimal("10.0"), Decimal("10"), Decimal(100)),
            ("-2.5", "4", Decimal(-10)),
        ],
    )
    def test_numeric_strings(self, quantity: Any, unit: Any, expected: Decimal) -> None:
        row = only(charge(quantity=quantity, price={"unitPP": unit}))
        assert (row["upload_errors"], row["ppx1"]) == ([], expected)

    @pytest.mark.parametrize(
        ("raw", "shown"), [("", ""), ("   ", "   "), ("Infinity", "Infinity"), ("nan", "nan"), (True, "true")]
    )
    def test_not_numbers(self, raw: Any, shown: str) -> None:
        assert errors_of(charge(quantity=raw, price={"unitPP": 1})) == [
            f"Line 1: 'quantity' must be a number: '{shown}'."
        ]

    def test_legacy_subscription_search(self) -> None:
        line = charge(
            search={
                "subscription": {"criteria": "subscription.externalIds.vendor", "value": "tenant-1"},
                "item": {"criteria": "item.id", "value": ITM1},
            }
        )
        row = only(line)
        assert (row["upload_status"], row["subscription_id"]) == ("Ready", SUB)
        assert row["search"] == {
            "subscription": {"criteria": "subscription.externalIds.vendor", "value": "tenant-1"},
            "item": {"criteria": "item.id", "value": ITM1},
        }

    def test_legacy_criteria_errors_name_subscription(self) -> None:
        line = charge(
            search={
                "subscription": {"criteria": "asset.id", "value": AST},
                "item": {"criteria": "item.id", "value": ITM1},
            }
        )
        assert errors_of(line) == [
            "Line 1: Unsupported search criteria 'asset.id' for Subscription; expected 'id' or 'externalIds.vendor'."
        ]

    def test_source_wins_over_legacy(self) -> None:
        line = charge(
            search={
                "subscription": {"criteria": "subscription.id", "value": "SUB-0000-0000-0001"},
                "source": {"type": "Agreement", "criteria": "id", "value": AGR},
                "item": {"criteria": "item.id", "value": ITM1},
            }
        )
        row = only(line)
        assert (row["upload_status"], row["agreement_id"], row["subscription_id"]) == ("Ready", AGR, None)
        assert "subscription" not in row["search"]


class TestTolerance:
    """V23: expected = round6(unitPP) × round6(quantity), tolerance = max(0.01, 0.0001 × |expected|)."""

    @pytest.mark.parametrize("total", ["100.01", "99.99", "100.010000", "100.0100004"])
    def test_small_amounts_within_one_cent(self, total: str) -> None:
        row = only(charge(price={"unitPP": 10, "PPx1": total}))
        assert row["upload_errors"] == []
        assert row["ppx1"] == round6(Decimal(total))  # the vendor's value is stored, rounded

    @pytest.mark.parametrize("total", ["100.010001", "99.989999"])
    def test_small_amounts_beyond_one_cent(self, total: str) -> None:
        assert errors_of(charge(price={"unitPP": 10, "PPx1": total})) == [
            f"Line 1: 'price.PPx1' {total} does not match 'price.unitPP' × 'quantity' = 100 (tolerance 0.01)."
        ]

    def test_relative_tolerance_for_large_amounts(self) -> None:
        # expected 1,000,000 → tolerance 100
        inside = charge(quantity=1000, price={"unitPP": 1000, "PPx1": "1000100"})
        outside = charge(quantity=1000, price={"unitPP": 1000, "PPx1": "1000100.000001"})
        assert errors_of(inside) == []
        assert errors_of(outside) == [
            "Line 1: 'price.PPx1' 1000100.000001 does not match 'price.unitPP' × 'quantity' = 1000000 (tolerance 100)."
        ]

    def test_negative_amounts(self) -> None:
        assert errors_of(charge(quantity=-3, price={"unitPP": "33.333333", "PPx1": "-100"})) == []

    def test_expected_uses_the_stored_operands(self) -> None:
        # 1.0000004 is stored as 1 and 3.0000004 as 3: expected 3, not 3.0000016
        assert errors_of(charge(quantity="3.0000004", price={"unitPP": "1.0000004", "PPx1": "3"})) == []

    def test_unit_price_too_small_for_six_places_fails(self) -> None:
        line = charge(quantity=1_000_000, price={"unitPP": "0.0000004", "PPx1": "0.4"})
        assert errors_of(line) == [
            "Line 1: 'price.PPx1' 0.4 does not match 'price.unitPP' × 'quantity' = 0 (tolerance 0.01)."
        ]

    def test_expected_keeps_all_its_places_in_the_message(self) -> None:
        line = charge(quantity="1.5", price={"unitPP": "0.333333", "PPx1": "1"})
        assert errors_of(line) == [
            "Line 1: 'price.PPx1' 1 does not match 'price.unitPP' × 'quantity' = 0.4999995 (tolerance 0.01)."
        ]


class TestOverrides:
    def test_manual_override_skips_the_charge(self) -> None:
        row = only(charge(), manual_pairs=frozenset({(CLIENT, VENDOR)}))
        assert (row["upload_status"], row["billing_type"], row["upload_errors"]) == ("Skipped", "Manual", [])

    def test_override_of_another_vendor_does_not_apply(self) -> None:
        row = only(charge(), manual_pairs=frozenset({(CLIENT, "ACC-0000-9999"), (CLIENT2, VENDOR)}))
        assert (row["upload_status"], row["billing_type"]) == ("Ready", "Automated")

    def test_failed_line_stays_error_but_keeps_its_billing_type(self) -> None:
        row = only(charge(segment="X"), manual_pairs=frozenset({(CLIENT, VENDOR)}))
        assert (row["upload_status"], row["billing_type"]) == ("Error", "Manual")


# --- split -----------------------------------------------------------------------------------------------------


def split_line(subscription: str, quantity: Any = 10, unit: Any = 10, total: Any = 100) -> dict[str, Any]:
    return charge(
        search=search({"type": "Subscription", "criteria": "id", "value": subscription}),
        quantity=quantity,
        price={"unitPP": unit, "PPx1": total},
    )


class TestSplit:
    def test_parent_and_children_60_40(self) -> None:
        parent, first, second = rows_of(split_line(SUB_SPLIT), line=2)
        assert (parent["id"], parent["upload_status"], parent["agreement_id"], parent["child"]) == (
            "CHG-2589-1434-0000-0000-0200",
            "Split",
            AGR_SPLIT,
            0,
        )
        assert (parent["parent_id"], parent["split_percentage"], parent["quantity"], parent["ppx1"]) == (
            None,
            None,
            10,
            100,
        )
        assert [child["id"] for child in (first, second)] == [
            "CHG-2589-1434-0000-0000-0201",
            "CHG-2589-1434-0000-0000-0202",
        ]
        assert [(child["child"], child["seq"]) for child in (first, second)] == [(1, 201), (2, 202)]
        assert [child["agreement_id"] for child in (first, second)] == [AGR_SPLIT, AGR2]
        assert [child["client_id"] for child in (first, second)] == [CLIENT, CLIENT2]
        assert [child["buyer_id"] for child in (first, second)] == [BUYER, BUYER2]
        assert [child["scu"] for child in (first, second)] == [f"US-SCU-{BUYER[-4:]}", f"US-SCU-{BUYER2[-4:]}"]
        assert [child["split_percentage"] for child in (first, second)] == [60, 40]
        assert [(child["quantity"], child["ppx1"], child["unit_pp"]) for child in (first, second)] == [
            (6, 60, 10),
            (4, 40, 10),
        ]
        for child in (first, second):
            assert (child["parent_id"], child["parent_external_vendor"]) == (parent["id"], "ext-0001")
            assert (child["upload_status"], child["upload_errors"], child["billing_type"]) == ("Ready", [], "Automated")
            assert child["subscription_id"] == SUB_SPLIT  # the source is kept
            assert (child["item_id"], child["external_vendor"], child["period_start"]) == (
                parent["item_id"],
                parent["external_vendor"],
                parent["period_start"],
            )
            assert child["search"] == parent["search"]
            assert set(child) == set(parent)

    def test_three_way_remainder_goes_to_the_last_child(self) -> None:
        parent, *children = rows_of(split_line(SUB_SPLIT3, quantity="1", unit="100.000001", total="100.000001"))
        assert parent["upload_status"] == "Split"
        assert [child["agreement_id"] for child in children] == [AGR, AGR2, AGR3]
        assert [child["split_percentage"] for child in children] == [
            Decimal("33.333333"),
            Decimal("33.333333"),
            Decimal("33.333334"),
        ]
        assert [child["quantity"] for child in children] == [
            Decimal("0.333333"),
            Decimal("0.333333"),
            Decimal("0.333334"),
        ]
        assert [child["ppx1"] for child in children] == [
            Decimal("33.333333"),  # 100.000001 × 0.33333333 = 33.3333333333... → 33.333333
            Decimal("33.333333"),
            Decimal("33.333335"),
        ]
        assert sum(child["quantity"] for child in children) == parent["quantity"]
        assert sum(child["ppx1"] for child in children) == parent["ppx1"]

    @pytest.mark.parametrize(("quantity", "total"), [("7", "70"), ("0.000001", "0.000010"), ("-5.5", "-55")])
    def test_children_always_sum_to_the_parent(self, quantity: str, total: str) -> None:
        parent, *children = rows_of(split_line(SUB_SPLIT3, quantity=quantity, total=total))
        assert sum(child["quantity"] for child in children) == parent["quantity"]
        assert sum(child["ppx1"] for child in children) == parent["ppx1"]
        for child in children:
            assert child["quantity"] == round6(child["quantity"]) and child["ppx1"] == round6(child["ppx1"])

    def test_child_with_a_manual_override_is_skipped(self) -> None:
        parent, first, second = rows_of(split_line(SUB_SPLIT), manual_pairs=frozenset({(CLIENT2, VENDOR)}))
        assert (parent["upload_status"], parent["billing_type"]) == ("Split", "Automated")
        assert (first["upload_status"], first["billing_type"]) == ("Ready", "Automated")
        assert (second["upload_status"], second["billing_type"]) == ("Skipped", "Manual")

    def test_parent_with_a_manual_override_is_still_split(self) -> None:
        parent, first, second = rows_of(split_line(SUB_SPLIT), manual_pairs=frozenset({(CLIENT, VENDOR)}))
        assert (parent["upload_status"], parent["billing_type"]) == ("Split", "Manual")
        assert [first["upload_status"], second["upload_status"]] == ["Skipped", "Ready"]

    def test_failed_parent_has_no_children(self) -> None:
        rows = rows_of(split_line(SUB_SPLIT, total=101))
        assert len(rows) == 1
        assert rows[0]["upload_status"] == "Error"

    def test_invalid_split_is_v27_without_children(self) -> None:
        rows = rows_of(split_line(SUB_BAD_SPLIT))
        assert [row["upload_status"] for row in rows] == ["Error"]

    def test_allocation_agreement_currency_is_checked(self) -> None:
        world = copy.deepcopy(WORLD)
        world["agreements"][AGR2]["currency"] = "EUR"
        assert errors_of(split_line(SUB_SPLIT), world=world) == [
            f"Line 1: Agreement '{AGR2}' is billed in 'EUR', but authorization '{AUTHORIZATION}' uses 'USD'."
        ]

    def test_children_do_not_share_mutable_members(self) -> None:
        parent, first, second = rows_of(split_line(SUB_SPLIT))
        assert first["upload_errors"] is not second["upload_errors"]
        assert first["attributes"] is not parent["attributes"]


# --- demo world ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> World:
    return world_of(build_demo_dataset())


def _demo_validator(world: World, **overrides: Any) -> tuple[ChargeValidator, str]:
    product = next(doc["id"] for doc in world["products"].values() if doc["vendor"] == DEMO_ACCOUNTS["vendor"])
    ctx = context(product_id=product, **overrides)
    return ChargeValidator(ctx, ReferenceIndex.build(world, product)), product


class TestDemoWorld:
    def test_every_subscription_of_the_product_validates(self, demo: World) -> None:
        checker, product = _demo_validator(demo)
        agreements = demo["agreements"]
        line = 0
        for sub in demo["subscriptions"].values():
            agreement = agreements[sub["agreement"]]
            if agreement["product"] != product:
                continue
            for criteria, value in (("id", sub["id"]), ("externalIds.vendor", sub["externalIds"]["vendor"])):
                line += 1
                item = demo["items"][sub["items"][0]]
                data = charge(
                    externalIds={"vendor": f"e-{line}"},
                    search=search(
                        {"type": "Subscription", "criteria": criteria, "value": value},
                        {"criteria": "item.externalIds.vendor", "value": item["externalIds"]["vendor"]},
                    ),
                )
                rows = checker.validate(RawLine(line, data, None))
                expected_errors = (
                    []
                    if agreement["currency"] == "USD"
                    else [
                        f"Line {line}: Agreement '{agreement['id']}' is billed in '{agreement['currency']}', "
                        f"but authorization '{AUTHORIZATION}' uses 'USD'."
                    ]
                )
                assert rows[0]["upload_errors"] == expected_errors
                if not expected_errors:
                    assert rows[0]["subscription_id"] == sub["id"]
                    assert rows[0]["erp_item_id"] == item["externalIds"]["operations"]
                    assert rows[0]["upload_status"] == ("Split" if agreement["split"] else "Ready")
        assert line > 0

    def test_demo_split_agreement(self, demo: World) -> None:
        checker, _ = _demo_validator(demo)
        payer = next(doc for doc in demo["agreements"].values() if doc["split"])
        sub = next(doc for doc in demo["subscriptions"].values() if doc["agreement"] == payer["id"])
        item = demo["items"][sub["items"][0]]
        data = charge(
            search=search(
                {"type": "Subscription", "criteria": "id", "value": sub["id"]},
                {"criteria": "item.id", "value": item["id"]},
            ),
            quantity="3",
            price={"unitPP": "33.33"},
        )
        parent, first, second = checker.validate(RawLine(5, data, None))
        assert parent["upload_status"] == "Split"
        assert (first["agreement_id"], second["agreement_id"]) == tuple(a["agreement"] for a in payer["split"])
        assert (first["ppx1"], second["ppx1"]) == (Decimal("59.994"), Decimal("39.996"))
        assert first["ppx1"] + second["ppx1"] == parent["ppx1"] == Decimal("99.99")
        assert second["client_id"] == demo["agreements"][payer["split"][1]["agreement"]]["client"]
        assert second["scu"] is not None and second["erp_country_code"] == "US"


# --- fast path -------------------------------------------------------------------------------------------------


def _general_only(checker: ChargeValidator) -> ChargeValidator:
    checker._fast = lambda line, data: None  # type: ignore[method-assign]
    return checker


EQUIVALENCE_LINES: list[dict[str, Any]] = [
    charge(),
    charge(search=search(order={"criteria": "order.id", "value": "O" * 40})),
    charge(search=search({"type": "asset", "criteria": "asset.id", "value": AST}, {"criteria": "id", "value": ITM2})),
    charge(search=search({"type": "Agreement", "criteria": "externalIds.vendor", "value": "VA-1"})),
    charge(search=search({"type": "Subscription", "criteria": "id", "value": SUB_ANY})),
    charge(search={"subscription": {"criteria": "subscription.id", "value": SUB}, "item": search()["item"]}),
    charge(quantity="3", price={"unitPP": " 0.333333 "}, segment="edu", attributes={}),
    charge(quantity=Decimal("2.0000005"), price={"unitPP": "1e1", "PPx1": "20.01", "currency": "usd"}),
    charge(price={"UnitPP": 10, "PPx1": 100}, description={"value1": 7}, attributes={"segment": None}),
    charge(description=None, attributes={"agreementVendorId": "T", "segment": "GOV"}, segment=None),
    charge(externalIds={"vendor": "v", "invoice": None}, period={"start": "2025-06-01", "end": "2025-06-01"}),
    charge(search=search({"type": "Subscription", "criteria": "id", "value": SUB_SPLIT})),
    charge(search=search({"type": "Subscription", "criteria": "id", "value": SUB_EUR})),
    charge(quantity=True, price={"unitPP": 1}),
    charge(segment="SMB", price={"unitPP": 10, "PPx1": 100.5}),
]


class TestFastPath:
    """The fast path must give exactly the rows of the general path, and take the lines in canonical shape."""

    def test_same_rows_as_the_general_path(self) -> None:
        fast, general = validator(), _general_only(validator())
        for number, line in enumerate(EQUIVALENCE_LINES * 2, start=1):  # twice: caches warm, V03 duplicates
            data = copy.deepcopy(line)
            data["externalIds"] = dict(data.get("externalIds") or {}, vendor=f"e-{number % len(EQUIVALENCE_LINES)}")
            expected = general.validate(RawLine(number, copy.deepcopy(data), None))
            assert fast.validate(RawLine(number, data, None)) == expected, number

    def test_same_rows_with_overrides(self) -> None:
        pairs = frozenset({(CLIENT, VENDOR)})
        fast, general = validator(manual_pairs=pairs), _general_only(validator(manual_pairs=pairs))
        for number in range(1, 4):
            data = charge(externalIds={"vendor": f"e-{number}"})
            assert fast.validate(RawLine(number, data, None)) == general.validate(RawLine(number, data, None))

    def test_canonical_lines_take_the_fast_path(self) -> None:
        checker = validator()
        taken: list[int] = []
        fast = checker._fast

        def spy(line: int, data: dict[str, Any]) -> list[dict[str, Any]] | None:
            rows = fast(line, data)
            if rows is not None:
                taken.append(line)
            return rows

        checker._fast = spy  # type: ignore[method-assign]
        for number in range(1, 5):
            checker.validate(RawLine(number, charge(externalIds={"vendor": f"e-{number}"}), None))
        # the first line parses the period texts on the general path; later ones reuse them
        assert taken == [2, 3, 4]

    def test_same_rows_for_mangled_lines(self) -> None:
        """Seeded random damage (name case, deletions, odd values, unknown members): never an exception, and
        the fast path answers exactly as the general path or leaves the line to it."""
        rng = random.Random(20250601)
        odd_values: list[Any] = [None, "", " ", "x", 0, 1, True, 1.5, Decimal("NaN"), Decimal("1e20"), " 10 ", [], {}]
        odd_values += [["criteria"], "2025-06-01", "COM", "usd", "order.id", "id", "item.id", SUB, ITM1]

        def mangle(node: Any) -> None:
            if not isinstance(node, dict) or not node:
                return
            key = rng.choice(list(node))
            draw = rng.random()
            if draw < 0.2:
                node[key.upper()] = node.pop(key)
            elif draw < 0.3:
                node[key.swapcase()] = rng.choice(odd_values)
            elif draw < 0.45:
                del node[key]
            elif draw < 0.7:
                node[key] = rng.choice(odd_values)
            elif draw < 0.75:
                node["unknown"] = 1
            else:
                mangle(node[key])

        for _ in range(100):
            fast, general = validator(), _general_only(validator())
            for number in range(1, 6):
                data = copy.deepcopy(rng.choice([*EQUIVALENCE_LINES, *[charge()] * 5]))
                for _ in range(rng.randint(0, 6)):
                    mangle(data)
                expected = general.validate(RawLine(number, copy.deepcopy(data), None))
                assert fast.validate(RawLine(number, data, None)) == expected
