"""Field visibility by role (billing-api.md §2.6, with the "Vis." columns of §6): `hidden_paths`, `prune`, and
the RQL allow-list a `ResourceView` hands to the query compiler."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from billing.api.views import ResourceView
from billing.api.views import shown as present
from billing.auth.principal import Principal, Role
from billing.auth.visibility import RESTRICTED, hidden_paths, is_hidden, prune, visible_registry
from billing.db.query import ListSpec, filtered
from billing.errors import InvalidQuery
from billing.kit.rql import Collection, Field, FieldType, parse_query_string
from billing.kit.select import Projection

C, V, O = Role.CLIENT, Role.VENDOR, Role.OPERATIONS

REF = {"id": "ACC-8119-0187", "name": "Contoso", "icon": ""}
AUDIT = {"created": {"at": "2025-06-01T00:00:00.000Z", "by": {"id": "USR-0000-0000", "name": "System", "icon": ""}}}

#: A charge (§6.3) with every member set.
CHARGE: dict[str, Any] = {
    "id": "CHG-9000-4019-0000-0000-0100",
    "externalIds": {"vendor": "e-1", "invoice": "INV1", "reference": None},
    "search": {"source": {"type": "Subscription", "criteria": "id", "value": "SUB-1"}},
    "period": {"start": "2025-06-01T00:00:00.000Z", "end": "2025-06-30T00:00:00.000Z"},
    "quantity": 10,
    "price": {
        "currency": {"purchase": "USD", "sale": "USD", "rate": 1},
        "unitPP": 10,
        "PPx1": 100,
        "unitSP": 11.5,
        "SPx1": 115,
        "markup": 15,
        "margin": 13.043478,
    },
    "segment": None,
    "description": {"value1": None, "value2": None},
    "attributes": {},
    "billingType": "Automated",
    "statementType": "Debit",
    "journal": {"id": "BJO-9000-4019", "name": "June"},
    "ledger": {"id": "BLE-9000-4019-7310-3075", "name": "June / US"},
    "customLedger": None,
    "statement": {"id": "SOM-9000-4019-3617-1129-0665", "type": "Debit"},
    "parent": None,
    "split": None,
    "upload": {"status": "Ready", "errors": [], "line": 1},
    "processing": {"status": "Ready", "errors": []},
    "client": REF,
    "buyer": {"id": "BUY-3731-7971", "name": "Contoso Ltd", "icon": ""},
    "licensee": None,
    "seller": {"id": "SEL-7032-1456", "name": "Operator Inc.", "icon": "", "externalId": "US"},
    "vendor": {"id": "ACC-3102-8586", "name": "Vendor Co", "icon": ""},
    "product": {"id": "PRD-2426-7318", "name": "Cloud Suite", "icon": ""},
    "agreement": {"id": "AGR-3617-1129-0665", "name": "Contoso Cloud Suite", "icon": ""},
    "subscription": {"id": "SUB-0356-5642-8669", "name": "Seats"},
    "asset": None,
    "order": None,
    "item": {"id": "ITM-2426-7318-0001", "name": "Standard seat"},
    "authorization": {"id": "AUT-5305-9928", "name": "Cloud Suite US", "currency": "USD"},
    "erpData": {"erpCountryCode": "US", "erpItemId": "CS01.00001.MP", "cco": "CON-000001", "scu": "US-SCU-1"},
    "audit": AUDIT,
}

#: §13.3 "Client view of a statement charge" (plus `audit`, included by a single GET).
CLIENT_CHARGE_KEYS = {
    "id", "externalIds", "period", "quantity", "price", "segment", "description", "attributes", "billingType",
    "statementType", "statement", "parent", "split", "client", "buyer", "licensee", "seller", "vendor", "product",
    "agreement", "subscription", "asset", "order", "item", "audit",
}  # fmt: skip

STATEMENT: dict[str, Any] = {
    "id": "SOM-2589-1434-3617-1129-0665",
    "name": "Contoso Cloud Suite / June",
    "notes": "internal",
    "externalIds": {"erpId": "US-SIN-1", "operations": None},
    "type": "Debit",
    "billingType": "Automated",
    "status": "Issued",
    "journal": {"id": "BJO-2589-1434"},
    "ledger": {"id": "BLE-2589-1434-7310-3075"},
    "customLedger": None,
    "client": REF,
    "vendor": REF,
    "buyer": REF,
    "seller": REF,
    "licensee": None,
    "product": REF,
    "agreement": REF,
    "price": {
        "currency": {"purchase": "USD", "sale": "USD", "rate": 1},
        "totalPP": 100,
        "totalSP": 115,
        "totalST": 0,
        "totalGT": 115,
        "markup": 15,
        "margin": 13.043478,
    },
    "processing": {"total": 1, "ready": 1, "split": 0, "skipped": 0, "error": 0},
    "error": None,
    "statusNotes": None,
    "invoice": {"id": "INV-4521-7730-1864-2093"},
    "creditMemo": None,
    "audit": AUDIT,
}


def _line(ordinal: int) -> dict[str, Any]:
    return {
        "id": f"INL-4521-7730-1864-2093-{ordinal:04d}",
        "lineNo": ordinal * 10000,
        "description": "Standard seat",
        "erpData": {"contractNo": "CON-000001", "msrp": 12},
        "price": {
            "amount": 115,
            "amountIncludingVat": 115,
            "discountAmount": 0,
            "lineAmount": 115,
            "quantity": 10,
            "unitPrice": 11.5,
            "vatBaseAmount": 115,
            "vatCalculationType": 0,
            "vatPercent": 0,
            "purchaseCurrencyCode": "USD",
            "purchaseCurrencyFactor": 1,
            "purchasePrice": 10,
            "purchasePriceLcy": 10,
            "purchasePriceTotal": 100,
            "purchasePriceTotalLcy": 100,
            "salesMarkup": 15,
            "salesMargin": 13.043478,
        },
    }


LINE_PURCHASE = {
    "purchaseCurrencyCode",
    "purchaseCurrencyFactor",
    "purchasePrice",
    "purchasePriceLcy",
    "purchasePriceTotal",
    "purchasePriceTotalLcy",
    "salesMarkup",
    "salesMargin",
}

INVOICE: dict[str, Any] = {
    "id": "INV-4521-7730-1864-2093",
    "status": "Paid",
    "statement": {"id": "SOM-2589-1434-3617-1129-0665"},
    "client": REF,
    "erpData": {"erpId": "US-SIN-104522", "invoiceTotal": 114.95},
    "price": {
        "currency": "USD",
        "currencyFactor": 1,
        "currencyFactor2": 1,
        "markup": 15,
        "margin": 13.043478,
        "totalPP": 100,
        "totalSP": 115,
        "totalST": 0,
        "totalGT": 115,
    },
    "lines": [_line(1), _line(2)],
    "audit": AUDIT,
}

JOURNAL: dict[str, Any] = {
    "id": "BJO-2589-1434",
    "name": "June 2025 Charges",
    "status": "Generated",
    "price": {"currency": "USD", "totalPP": 100, "totalSP": 115, "markup": 15, "margin": 13.043478},
    "upload": {"total": 1, "ready": 1, "split": 0, "skipped": 0, "error": 0},
    "processing": {"total": 1, "ready": 1, "split": 0, "skipped": 0, "error": 0},
    "error": None,
    "audit": AUDIT,
}


def shown(resource: str, item: dict[str, Any], role: Role) -> dict[str, Any]:
    original = copy.deepcopy(item)
    result = prune(copy.deepcopy(item), hidden_paths(resource, role))
    assert item == original  # the sample itself is untouched
    return result


# --- charges ------------------------------------------------------------------------------------------------


class TestCharge:
    def test_client_sees_the_sale_side_only(self):
        charge = shown("charge", CHARGE, C)
        assert set(charge) == CLIENT_CHARGE_KEYS
        assert charge["price"] == {"currency": {"sale": "USD", "rate": 1}, "unitSP": 11.5, "SPx1": 115}
        assert charge["statement"] == CHARGE["statement"]

    def test_vendor_sees_the_purchase_side_and_the_upload(self):
        charge = shown("charge", CHARGE, V)
        assert charge["price"] == {"currency": {"purchase": "USD"}, "unitPP": 10, "PPx1": 100}
        for visible in ("search", "journal", "upload", "authorization", "client", "audit"):
            assert charge[visible] == CHARGE[visible]
        for absent in ("statementType", "statement", "processing", "erpData", "ledger", "customLedger"):
            assert absent not in charge

    def test_operations_see_everything(self):
        assert shown("charge", CHARGE, O) == CHARGE
        assert hidden_paths("charge", O) == frozenset()

    @pytest.mark.parametrize("role", [C, V])
    def test_markup_and_margin_are_operations_only(self, role):
        price = shown("charge", CHARGE, role)["price"]
        assert "markup" not in price and "margin" not in price

    def test_hidden_fields_are_absent_not_null(self):
        charge = {**copy.deepcopy(CHARGE), "processing": None, "erpData": None, "ledger": None}
        pruned = shown("charge", charge, C)
        assert "processing" not in pruned and "erpData" not in pruned and "ledger" not in pruned
        assert pruned["licensee"] is None  # visible nulls stay

    def test_price_left_empty_disappears(self):
        charge = {"id": "CHG-1", "price": {"currency": {"purchase": "USD"}, "unitPP": 1, "PPx1": 1, "markup": 1}}
        assert shown("charge", charge, C) == {"id": "CHG-1"}
        charge = {"id": "CHG-1", "price": {"currency": {"sale": "USD", "rate": 1}, "unitSP": 1, "margin": 2}}
        assert shown("charge", charge, V) == {"id": "CHG-1"}

    def test_currency_left_empty_disappears_but_price_stays(self):
        charge = {"id": "CHG-1", "price": {"currency": {"purchase": "USD"}, "unitSP": 1}}
        assert shown("charge", charge, C) == {"id": "CHG-1", "price": {"unitSP": 1}}

    def test_visible_empty_objects_are_kept(self):
        charge = {"id": "CHG-1", "attributes": {}, "price": {"currency": {"sale": "USD"}}}
        assert shown("charge", charge, C) == charge

    def test_a_null_price_is_left_alone(self):
        assert shown("charge", {"id": "CHG-1", "price": None}, C) == {"id": "CHG-1", "price": None}


# --- statements, invoices, credit memos, journals -------------------------------------------------------------


class TestStatement:
    def test_client_view(self):
        statement = shown("statement", STATEMENT, C)
        assert statement["price"] == {
            "currency": {"sale": "USD", "rate": 1},
            "totalSP": 115,
            "totalST": 0,
            "totalGT": 115,
        }
        for absent in ("notes", "journal", "ledger", "customLedger", "processing", "error", "statusNotes"):
            assert absent not in statement
        for visible in ("externalIds", "type", "billingType", "status", "client", "invoice", "creditMemo", "audit"):
            assert visible in statement

    def test_operations_view(self):
        assert shown("statement", STATEMENT, O) == STATEMENT


@pytest.mark.parametrize("resource", ["invoice", "credit_memo"])
class TestDocument:
    def test_client_view_hides_purchase_side_and_markup(self, resource):
        document = shown(resource, INVOICE, C)
        assert document["price"] == {
            "currency": "USD",
            "currencyFactor": 1,
            "currencyFactor2": 1,
            "totalSP": 115,
            "totalST": 0,
            "totalGT": 115,
        }
        assert len(document["lines"]) == 2
        for line, original in zip(document["lines"], INVOICE["lines"], strict=True):
            assert set(line["price"]) == set(original["price"]) - LINE_PURCHASE
            assert line["price"]["amount"] == 115 and line["price"]["unitPrice"] == 11.5
            assert {key: value for key, value in line.items() if key != "price"} == {
                key: value for key, value in original.items() if key != "price"
            }
        assert document["erpData"] == INVOICE["erpData"]

    def test_operations_view(self, resource):
        assert shown(resource, INVOICE, O) == INVOICE

    def test_document_without_lines(self, resource):
        document = {"id": "INV-1", "lines": [], "price": {"totalPP": 1}}
        assert shown(resource, document, C) == {"id": "INV-1", "lines": []}
        assert shown(resource, {"id": "INV-1", "lines": None}, C) == {"id": "INV-1", "lines": None}


def test_document_line_sub_resource():
    line = {**_line(1), "invoice": {"id": "INV-4521-7730-1864-2093"}}
    client_line = shown("document_line", line, C)
    assert set(client_line["price"]) == set(line["price"]) - LINE_PURCHASE
    assert client_line["invoice"] == line["invoice"]
    assert shown("document_line", line, O) == line


def test_document_line_with_only_purchase_members_loses_its_price():
    line = {"id": "INL-1", "price": {member: 1 for member in LINE_PURCHASE}}
    assert shown("document_line", line, C) == {"id": "INL-1"}


class TestJournal:
    def test_vendor_sees_currency_and_total_purchase_only(self):
        journal = shown("journal", JOURNAL, V)
        assert journal["price"] == {"currency": "USD", "totalPP": 100}
        assert "processing" not in journal
        assert journal["upload"] == JOURNAL["upload"]

    def test_operations_view(self):
        assert shown("journal", JOURNAL, O) == JOURNAL

    def test_journal_seller_ledger_is_operations_only(self):
        seller = {"id": "SEL-7310-3075", "journal": {"id": "BJO-1"}, "ledger": {"id": "BLE-1", "status": "Review"}}
        assert shown("journal_seller", seller, V) == {"id": "SEL-7310-3075", "journal": {"id": "BJO-1"}}
        assert shown("journal_seller", seller, O) == seller


# --- the declaration itself -----------------------------------------------------------------------------------


def test_unknown_resource_hides_nothing():
    assert hidden_paths("manual_override", C) == frozenset()


def test_processing_is_operations_only_everywhere():
    """§2.6: `processing` (all resources) is seen by Operations only."""
    for resource in ("charge", "journal", "statement"):
        assert "processing" in hidden_paths(resource, C)
        assert "processing" in hidden_paths(resource, V)
        assert "processing" not in hidden_paths(resource, O)


def test_every_restricted_path_is_visible_to_operations():
    for resource, paths in RESTRICTED.items():
        for path, roles in paths.items():
            assert O in roles, f"{resource}.{path} hidden from Operations"


@pytest.mark.parametrize(
    ("path", "expected"),
    [("price", False), ("price.unitPP", True), ("price.unitPP.x", True), ("price.unitPPx", False), ("x", False)],
)
def test_is_hidden(path, expected):
    assert is_hidden(path, {"price.unitPP"}) is expected


# --- select and $meta.omitted ignore hidden fields ----------------------------------------------------------


HIDDEN_SELECT = "-*,processing,+erpData.scu,price.unitPP,price.MARKUP,price.currency.purchase,quantity"


def _client_projection(select: str, full: bool) -> tuple[dict[str, Any], list[str]]:
    """What `item_response` (full) / `collection_response` do for a client: prune, then project."""
    hidden = CHARGE_VIEW.hidden(_ctx(C))
    fields = CHARGE_VIEW.visible_fields(hidden)
    assert "processing" not in fields and "erpData" not in fields and "price" in fields
    projection = Projection.build(select, fields=fields, non_core=CHARGE_VIEW.non_core, full=full)
    return present(copy.deepcopy(CHARGE), hidden, projection), projection.omitted


@pytest.mark.parametrize("full", [True, False])
def test_select_cannot_bring_back_hidden_fields(full):
    item, omitted = _client_projection(HIDDEN_SELECT, full)
    assert item["quantity"] == 10
    assert "processing" not in item and "erpData" not in item
    price = item.get("price", {})
    assert not {"unitPP", "PPx1", "markup", "margin"} & set(price)
    assert "purchase" not in price.get("currency", {})
    assert not {"processing", "erpData", "upload", "ledger", "search", "journal"} & set(omitted)


@pytest.mark.parametrize("full", [True, False])
def test_hidden_select_tokens_leave_no_empty_parents(full):
    item, _ = _client_projection(HIDDEN_SELECT, full)
    assert item == {"id": CHARGE["id"], "quantity": 10}


# --- filtering and ordering on hidden fields ----------------------------------------------------------------

METADATA = sa.MetaData()
CHARGES = sa.Table(
    "charge",
    METADATA,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("unit_pp", sa.Numeric(18, 6)),
    sa.Column("unit_sp", sa.Numeric(18, 6)),
    sa.Column("markup", sa.Numeric(18, 6)),
    sa.Column("purchase_currency", sa.String(3)),
    sa.Column("sale_currency", sa.String(3)),
    sa.Column("upload_status", sa.String(20)),
    sa.Column("processing_status", sa.String(20)),
    sa.Column("erp_scu", sa.String(40)),
    sa.Column("journal_id", sa.String(20)),
    sa.Column("statement_id", sa.String(40)),
    sa.Column("quantity", sa.Numeric(18, 6)),
)
INVOICES = sa.Table(
    "invoice",
    METADATA,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("total_pp", sa.Numeric(18, 6)),
    sa.Column("total_sp", sa.Numeric(18, 6)),
)
LINES = sa.Table(
    "invoice_line",
    METADATA,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("invoice_id", sa.ForeignKey(INVOICES.c.id)),
    sa.Column("purchase_price", sa.Numeric(18, 6)),
    sa.Column("sales_markup", sa.Numeric(18, 6)),
    sa.Column("amount", sa.Numeric(18, 6)),
)
CHARGE_REGISTRY = {
    "id": Field(CHARGES.c.id, FieldType.ID),
    "quantity": Field(CHARGES.c.quantity, FieldType.NUMBER),
    "price.unitpp": Field(CHARGES.c.unit_pp, FieldType.NUMBER),
    "price.unitsp": Field(CHARGES.c.unit_sp, FieldType.NUMBER),
    "price.markup": Field(CHARGES.c.markup, FieldType.NUMBER),
    "price.currency.purchase": Field(CHARGES.c.purchase_currency, FieldType.STRING),
    "price.currency.sale": Field(CHARGES.c.sale_currency, FieldType.STRING),
    "upload.status": Field(CHARGES.c.upload_status, FieldType.STRING),
    "processing.status": Field(CHARGES.c.processing_status, FieldType.STRING),
    "erpdata.scu": Field(CHARGES.c.erp_scu, FieldType.STRING),
    "journal.id": Field(CHARGES.c.journal_id, FieldType.ID),
    "statement.id": Field(CHARGES.c.statement_id, FieldType.ID),
}


def _lines_exist(predicate: sa.ColumnElement[bool] | None) -> sa.ColumnElement[bool]:
    condition = LINES.c.invoice_id == INVOICES.c.id
    return sa.exists().where(condition if predicate is None else sa.and_(condition, predicate))


INVOICE_REGISTRY = {
    "id": Field(INVOICES.c.id, FieldType.ID),
    "price.totalpp": Field(INVOICES.c.total_pp, FieldType.NUMBER),
    "price.totalsp": Field(INVOICES.c.total_sp, FieldType.NUMBER),
    "lines": Collection(
        fields={
            "id": Field(LINES.c.id, FieldType.ID),
            "price.purchaseprice": Field(LINES.c.purchase_price, FieldType.NUMBER),
            "price.salesmarkup": Field(LINES.c.sales_markup, FieldType.NUMBER),
            "price.amount": Field(LINES.c.amount, FieldType.NUMBER),
        },
        exists=_lines_exist,
    ),
}
CHARGE_VIEW = ResourceView(fields=tuple(CHARGE), non_core=frozenset({"audit"}), visibility="charge")
INVOICE_VIEW = ResourceView(fields=tuple(INVOICE), visibility="invoice")


def _ctx(role: Role) -> Any:
    return SimpleNamespace(principal=Principal(account_id="ACC-0000-0001", role=role))


def run_query(view: ResourceView, role: Role, registry: Any, table: sa.Table, query: str) -> sa.Select[Any]:
    spec = ListSpec(view.registry(_ctx(role), registry), "id", table.c.id)
    return filtered(sa.select(table), spec, parse_query_string(query))


def assert_unknown(view: ResourceView, role: Role, registry: Any, table: sa.Table, query: str) -> None:
    with pytest.raises(InvalidQuery) as raised:
        run_query(view, role, registry, table, query)
    assert "Unknown property" in raised.value.detail
    assert raised.value.status == 400 and raised.value.type_suffix == "invalid-query"


class TestRegistry:
    @pytest.mark.parametrize(
        "query",
        [
            "eq(price.unitPP,1)",
            "gt(price.UNITPP,1)",
            "eq(price.currency.purchase,USD)",
            "eq(price.markup,1)",
            "eq(upload.status,Ready)",
            "eq(processing.status,Ready)",
            "eq(erpData.scu,X)",
            "eq(journal.id,BJO-1111-2222)",
            "order=price.unitPP",
            "order=-price.markup",
        ],
    )
    def test_client_cannot_filter_or_order_on_hidden_charge_fields(self, query):
        assert_unknown(CHARGE_VIEW, C, CHARGE_REGISTRY, CHARGES, query)

    @pytest.mark.parametrize(
        "query",
        [
            "eq(price.unitSP,1)",
            "eq(price.currency.sale,USD)",
            "eq(price.markup,1)",
            "eq(statement.id,SOM-1111-2222-3333-4444-5555)",
            "eq(processing.status,Ready)",
            "order=price.unitSP",
        ],
    )
    def test_vendor_cannot_filter_or_order_on_hidden_charge_fields(self, query):
        assert_unknown(CHARGE_VIEW, V, CHARGE_REGISTRY, CHARGES, query)

    @pytest.mark.parametrize(
        ("role", "query"),
        [
            (C, "eq(price.unitSP,1)&eq(statement.id,SOM-1111-2222-3333-4444-5555)&order=-price.unitSP"),
            (V, "eq(price.unitPP,1)&eq(journal.id,BJO-1111-2222)&eq(upload.status,Ready)&order=price.unitPP"),
            (O, "eq(price.unitPP,1)&eq(price.markup,2)&eq(erpData.scu,X)&order=-processing.status"),
        ],
    )
    def test_visible_fields_still_work(self, role, query):
        sql = str(run_query(CHARGE_VIEW, role, CHARGE_REGISTRY, CHARGES, query))
        assert "WHERE" in sql and "ORDER BY" in sql

    def test_operations_keep_the_whole_registry(self):
        assert CHARGE_VIEW.registry(_ctx(O), CHARGE_REGISTRY) is CHARGE_REGISTRY

    def test_client_cannot_filter_on_invoice_purchase_total(self):
        assert_unknown(INVOICE_VIEW, C, INVOICE_REGISTRY, INVOICES, "gt(price.totalPP,0)")
        run_query(INVOICE_VIEW, C, INVOICE_REGISTRY, INVOICES, "any(lines,gt(price.amount,0))")

    @pytest.mark.parametrize("query", ["any(lines,gt(price.purchasePrice,0))", "all(lines,eq(price.salesMarkup,1))"])
    def test_client_cannot_filter_on_hidden_line_fields(self, query):
        assert_unknown(INVOICE_VIEW, C, INVOICE_REGISTRY, INVOICES, query)


class TestVisibleRegistry:
    """`visible_registry` is the collection-aware replacement proposed for `ResourceView.registry`."""

    def test_drops_hidden_top_level_and_nested_collection_paths(self):
        registry = visible_registry(INVOICE_REGISTRY, hidden_paths("invoice", C))
        assert set(registry) == {"id", "price.totalsp", "lines"}
        lines = registry["lines"]
        assert isinstance(lines, Collection)
        assert set(lines.fields) == {"id", "price.amount"}
        assert lines.exists is _lines_exist
        assert set(INVOICE_REGISTRY["lines"].fields) == {  # the declaration is untouched
            "id",
            "price.purchaseprice",
            "price.salesmarkup",
            "price.amount",
        }

    def test_nothing_hidden_is_the_same_registry(self):
        assert visible_registry(INVOICE_REGISTRY, hidden_paths("invoice", O)) is INVOICE_REGISTRY

    def test_matches_the_view_for_flat_registries(self):
        for role in (C, V, O):
            expected = CHARGE_VIEW.registry(_ctx(role), CHARGE_REGISTRY)
            assert visible_registry(CHARGE_REGISTRY, hidden_paths("charge", role)) == expected

    @pytest.mark.parametrize("query", ["any(lines,gt(price.purchasePrice,0))", "all(lines,eq(price.salesMarkup,1))"])
    def test_hidden_line_fields_are_unknown(self, query):
        spec = ListSpec(visible_registry(INVOICE_REGISTRY, hidden_paths("invoice", C)), "id", INVOICES.c.id)
        with pytest.raises(InvalidQuery, match="Unknown property"):
            filtered(sa.select(INVOICES), spec, parse_query_string(query))
