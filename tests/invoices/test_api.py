"""The invoice API (billing-api.md §5.5, §6.8, §6.9): scoping, field visibility, RQL, PUT merge, POST, the §6.8
representation's exact key paths, attachments."""

from __future__ import annotations

import re
from typing import Any

import pytest

from invoices.factory import CLIENT2_AGREEMENT, US_SELLER, make_statement, posted, upsert

PROBLEM = "application/problem+json"
STATEMENT = "SOM-1111-2222-5010-9701-4062"
STATEMENT2 = "SOM-1111-2222-6723-1961-2202"


@pytest.fixture
def invoices(db, demo_world) -> dict[str, str]:
    """The demo client's linked invoice, the second client's, and an unlinked one (Operations only)."""
    make_statement(db, STATEMENT)
    make_statement(db, STATEMENT2, parties=CLIENT2_AGREEMENT)
    return {
        "own": upsert(db, posted(external=STATEMENT)).document_id,
        "other": upsert(db, posted(document_no="US-SIN-2001", external=STATEMENT2, balance="0")).document_id,
        "unlinked": upsert(db, posted(document_no="US-SIN-3001"), import_unlinked=True).document_id,
    }


def _problem(response: Any, status: int, suffix: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body = response.json()
    assert body["type"] == f"urn:billing:problem:{suffix}"
    return body


def _paths(value: Any, prefix: str = "") -> set[str]:
    """Every key path of a JSON value; list elements are ``[]``."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, member in value.items():
            path = f"{prefix}.{key}" if prefix else key
            paths.add(path)
            paths |= _paths(member, path)
    elif isinstance(value, list):
        for element in value:
            paths |= _paths(element, f"{prefix}[]")
    return paths


class TestScopingAndVisibility:
    def test_client_lists_only_its_own_invoices(self, api, client, invoices):
        listed = api.get("/invoices", headers=client)
        assert listed.status_code == 200, listed.text
        assert [item["id"] for item in listed.json()["data"]] == [invoices["own"]]
        assert listed.json()["$meta"]["pagination"]["total"] == 1

    def test_operations_list_every_invoice_with_lines(self, api, ops, invoices):
        body = api.get("/invoices", headers=ops).json()
        assert {item["id"] for item in body["data"]} == set(invoices.values())
        assert all(len(item["lines"]) == 2 and "audit" in item for item in body["data"])
        assert body["$meta"]["omitted"] == []

    def test_client_gets_404_for_another_clients_or_an_unlinked_invoice(self, api, client, invoices):
        for key in ("other", "unlinked"):
            _problem(api.get(f"/invoices/{invoices[key]}", headers=client), 404, "not-found")
            _problem(api.get(f"/invoices/{invoices[key]}/lines", headers=client), 404, "not-found")

    def test_vendor_is_forbidden(self, api, vendor, invoices):
        for path in ("/invoices", f"/invoices/{invoices['own']}", f"/invoices/{invoices['own']}/lines"):
            _problem(api.get(path, headers=vendor), 403, "forbidden")
        _problem(api.post("/invoices", headers=vendor, json={}), 403, "forbidden")

    def test_client_never_sees_purchase_prices(self, api, client, invoices):
        item = api.get(f"/invoices/{invoices['own']}", headers=client).json()
        assert set(item["price"]) == {"currency", "currencyFactor", "currencyFactor2", "totalSP", "totalST", "totalGT"}
        for line in item["lines"]:
            assert not [name for name in line["price"] if name.startswith("purchase") or name.startswith("sales")]
            assert line["price"]["amount"] == 50
        line_id = item["lines"][0]["id"]
        one = api.get(f"/invoices/{invoices['own']}/lines/{line_id}", headers=client).json()
        assert "purchasePrice" not in one["price"] and one["invoice"] == {"id": invoices["own"]}
        _problem(api.get("/invoices?gt(price.totalPP,0)", headers=client), 400, "invalid-query")
        _problem(
            api.get(f"/invoices/{invoices['own']}/lines?gt(price.purchasePrice,0)", headers=client),
            400,
            "invalid-query",
        )

    def test_operations_see_purchase_prices(self, api, ops, invoices):
        item = api.get(f"/invoices/{invoices['own']}", headers=ops).json()
        assert (item["price"]["totalPP"], item["price"]["markup"], item["price"]["margin"]) == (80, 25, 20)
        assert item["lines"][0]["price"]["purchasePrice"] == 40 and item["lines"][0]["price"]["salesMargin"] == 20

    def test_linked_invoice_carries_the_statement_parties(self, api, ops, invoices):
        item = api.get(f"/invoices/{invoices['own']}", headers=ops).json()
        assert item["statement"] == {"id": STATEMENT} and item["billingType"] == "Automated"
        assert item["client"]["id"] == "ACC-8119-0187" and item["client"]["type"] == "Client"
        assert item["seller"]["erpLink"]["id"] == "ERP-US" and item["seller"]["externalId"] == "US"
        statement = api.get(f"/statements/{STATEMENT}", headers=ops).json()
        assert statement["invoice"] == {"id": invoices["own"]} and statement["status"] == "Issued"
        assert (statement["price"]["totalST"], statement["price"]["totalGT"]) == (10, 110)


#: billing-api.md §6.8, the invoice example ("List Invoices" shape), with its "…" placeholders written out: every
#: address has the 16 members of billTo, and a line has the members of §6.9.
ADDRESS = dict.fromkeys(
    [
        "name",
        "name2",
        "email",
        "customerNo",
        "addressLine1",
        "addressLine2",
        "addressLine3",
        "city",
        "postCode",
        "county",
        "country",
        "contactName",
        "contactNo",
        "contactEmail",
        "contactPhone",
        "code",
    ],
    "",
)
EVENT = {"at": "", "by": {"id": "", "name": "", "icon": ""}}
EXAMPLE_LINE = {
    "id": "",
    "description": "",
    "description2": "",
    "documentNo": "",
    "itemNo": "",
    "lineNo": 1,
    "period": {"start": "", "end": ""},
    "erpData": {
        **dict.fromkeys(
            [
                "contractNo",
                "countryOfUsage",
                "dataOrigin",
                "externalPositionNo",
                "navisionCountryCode",
                "parentItemNo",
                "rowVersion",
                "responsibilityCenterCode",
                "swoPurchaseOrderNo",
                "type",
                "unitOfMeasure",
                "varAgreementNo",
                "varPartnerNo",
                "msrp",
                "timestamp",
                "sellToContactNo",
                "externalDocumentNo",
                "externalDocumentNo2",
                "yourReference",
            ]
        ),
        "primary": {"identifier": "", "value": "", "version": ""},
        "secondary": {"identifier": "", "value": "", "version": ""},
    },
    "price": dict.fromkeys(
        [
            "amount",
            "amountIncludingVat",
            "discountAmount",
            "lineAmount",
            "quantity",
            "unitPrice",
            "vatBaseAmount",
            "vatCalculationType",
            "vatPercent",
            "purchaseCurrencyCode",
            "purchaseCurrencyFactor",
            "purchasePrice",
            "purchasePriceLcy",
            "purchasePriceTotal",
            "purchasePriceTotalLcy",
            "salesMarkup",
            "salesMargin",
        ]
    ),
}
EXAMPLE = {
    "$meta": {"omitted": []},
    "audit": {"created": EVENT, "updated": EVENT, "issued": EVENT, "paid": EVENT, "overdue": EVENT},
    "id": "",
    "buyer": {"id": "", "icon": "", "name": ""},
    "seller": {"id": "", "icon": "", "externalId": "", "name": "", "erpLink": {"id": "", "name": "", "status": ""}},
    "status": "",
    "statement": {"id": ""},
    "agreement": {"id": "", "icon": "", "status": "", "name": ""},
    "billingType": "",
    "client": {"id": "", "icon": "", "type": "", "status": "", "name": ""},
    "licensee": {"id": "", "icon": "", "name": "", "externalId": ""},
    "product": {"id": "", "name": "", "externalIds": {"operations": ""}, "icon": "", "status": ""},
    "vendor": {"id": "", "icon": "", "type": "", "status": "", "name": ""},
    "erpData": {
        **dict.fromkeys(
            [
                "erpId",
                "documentNo",
                "documentDate",
                "dueDate",
                "balanceDue",
                "invoiceTotal",
                "postingDate",
                "rowVersion",
                "yourReference",
            ]
        ),
        "addresses": {"billTo": ADDRESS, "licenseTo": ADDRESS, "sellTo": ADDRESS, "shipTo": ADDRESS},
        "referenceNumber": {"eInvoiceNo": "", "orderNo": "", "ppqNo": "", "quoteNo": ""},
        "payment": {"methodCode": "", "termsCode": ""},
    },
    "price": dict.fromkeys(
        [
            "currency",
            "currencyFactor",
            "currencyFactor2",
            "markup",
            "margin",
            "totalPP",
            "totalSP",
            "totalST",
            "totalGT",
        ]
    ),
    "lines": [EXAMPLE_LINE],
}


class TestRepresentation:
    def test_invoice_has_every_key_path_of_the_spec_example(self, api, ops, db, invoices):
        """Paid then Overdue again: every audit event of the example exists too."""
        from datetime import datetime
        from decimal import Decimal

        from billing.kit.timeutil import utcnow
        from billing.posted_documents.lifecycle import apply_balance

        upsert(db, posted(document_no="US-SIN-4001", due=datetime(2020, 1, 1), balance="0"), import_unlinked=True)
        with db.session_scope() as session:
            apply_balance(session, "invoice", "US-SIN-4001", Decimal(3), utcnow())
        make_statement(db, "SOM-1111-4444-5010-9701-4062")
        linked = upsert(
            db, posted(document_no="US-SIN-4002", external="SOM-1111-4444-5010-9701-4062", due=datetime(2020, 1, 1))
        )
        with db.session_scope() as session:
            apply_balance(session, "invoice", "US-SIN-4002", Decimal(0), utcnow())
            apply_balance(session, "invoice", "US-SIN-4002", Decimal(3), utcnow())
        item = api.get(f"/invoices/{linked.document_id}", headers=ops).json()
        missing = sorted(_paths(EXAMPLE) - _paths(item))
        assert not missing, missing
        extra = sorted(_paths(item) - _paths(EXAMPLE))
        assert not extra, extra
        listed = api.get(f"/invoices?eq(id,{linked.document_id})", headers=ops).json()["data"][0]
        assert not sorted(_paths(EXAMPLE) - _paths(listed))

    def test_numbers_and_dates_follow_the_conventions(self, api, ops, invoices):
        item = api.get(f"/invoices/{invoices['own']}", headers=ops).json()
        assert item["erpData"]["documentDate"] == "2025-05-01T00:00:00.000Z"
        assert item["erpData"]["rowVersion"] == 1 and isinstance(item["erpData"]["rowVersion"], int)
        assert item["erpData"]["balanceDue"] == 100 and item["erpData"]["invoiceTotal"] == 110
        assert item["lines"][0]["erpData"]["type"] == 2 and item["lines"][0]["lineNo"] == 1
        assert re.match(r"^INL-\d{4}(-\d{4}){4}$", item["lines"][0]["id"])


class TestQueries:
    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ("eq(erpData.documentNo,US-SIN-2001)", {"other"}),
            ("eq(status,Paid)", {"other"}),
            ("gt(erpData.balanceDue,0)", {"own", "unlinked"}),
            ("gt(erpData.dueDate,2098-12-31)", {"own", "other", "unlinked"}),
            ("eq(agreement.id,AGR-5010-9701-4062)", {"own"}),
            ("eq(buyer.id,BUY-4855-0596)", {"other"}),
            ("eq(statement.id,null())", {"unlinked"}),
            ("eq(billingType,Manual)", {"unlinked"}),
            ("any(lines,eq(lineNo,2))", {"own", "other", "unlinked"}),
            ("eq(erpData.yourReference,SOM-1111-2222-5010-9701-4062)", {"own"}),
        ],
    )
    def test_filters(self, api, ops, invoices, query, expected):
        response = api.get(f"/invoices?{query}", headers=ops)
        assert response.status_code == 200, response.text
        assert {item["id"] for item in response.json()["data"]} == {invoices[key] for key in expected}

    def test_bad_queries_are_400(self, api, ops, invoices):
        for query in ("eq(status,Nope)", "gt(erpData.balanceDue,abc)", "eq(nothing,1)", "eq(status"):
            _problem(api.get(f"/invoices?{query}", headers=ops), 400, "invalid-query")

    def test_lines_collection(self, api, ops, invoices):
        path = f"/invoices/{invoices['own']}/lines"
        body = api.get(path, headers=ops).json()
        assert [line["lineNo"] for line in body["data"]] == [1, 2]
        assert body["data"][0]["invoice"] == {"id": invoices["own"]}
        assert [line["lineNo"] for line in api.get(f"{path}?eq(lineNo,2)", headers=ops).json()["data"]] == [2]
        assert [line["lineNo"] for line in api.get(f"{path}?order=-lineNo", headers=ops).json()["data"]] == [2, 1]
        assert (
            api.get(f"{path}?eq(erpData.contractNo,CON-000001)", headers=ops).json()["$meta"]["pagination"]["total"]
            == 2
        )

    def test_line_under_the_wrong_invoice_is_404(self, api, ops, invoices):
        own = api.get(f"/invoices/{invoices['own']}", headers=ops).json()["lines"][0]["id"]
        _problem(api.get(f"/invoices/{invoices['other']}/lines/{own}", headers=ops), 404, "not-found")
        assert api.get(f"/invoices/{invoices['own']}/lines/{own.lower()}", headers=ops).status_code == 200


class TestUpdate:
    def test_operations_merge_erp_data_and_price_and_replace_lines(self, api, ops, invoices):
        path = f"/invoices/{invoices['own']}"
        before = api.get(path, headers=ops).json()
        body = {
            "ErpData": {"payment": {"methodcode": "CARD"}, "balanceDue": "0"},
            "price": {"totalST": 12},
            "lines": [
                {"lineNo": 2, "description": "Changed", "price": {"amount": 70}},
                {"lineNo": 5, "description": "New"},
            ],
        }
        response = api.put(path, headers=ops, json=body)
        assert response.status_code == 200, response.text
        after = response.json()
        assert after["erpData"]["payment"] == {"methodCode": "CARD", "termsCode": "30DAYS"}
        assert after["erpData"]["addresses"] == before["erpData"]["addresses"]
        assert after["price"]["totalST"] == 12 and after["price"]["currencyFactor"] == 1
        assert after["status"] == "Paid" and "paid" in after["audit"]
        assert after["audit"]["updated"]["by"]["id"] == "TKN-0000-0001"
        ids = {line["lineNo"]: line["id"] for line in before["lines"]}
        assert [(line["lineNo"], line["id"][-4:]) for line in after["lines"]] == [(2, ids[2][-4:]), (5, "0003")]
        assert after["lines"][0]["description"] == "Changed" and after["lines"][0]["price"]["amount"] == 70

    def test_reversed_balance_by_put(self, api, ops, invoices):
        path = f"/invoices/{invoices['other']}"
        assert api.get(path, headers=ops).json()["status"] == "Paid"
        after = api.put(path, headers=ops, json={"erpData": {"balanceDue": 5, "dueDate": "2020-01-01"}}).json()
        assert after["status"] == "Overdue"

    def test_client_put_returns_the_unchanged_invoice(self, api, client, invoices):
        path = f"/invoices/{invoices['own']}"
        before = api.get(path, headers=client).json()
        response = api.put(path, headers=client, json={"erpData": {"balanceDue": 0}, "lines": []})
        assert response.status_code == 200, response.text
        assert response.json() == before

    @pytest.mark.parametrize(
        "body",
        [
            {"erpData": {"balanceDue": "abc"}},
            {"erpData": {"dueDate": "yesterday"}},
            {"erpData": []},
            {"lines": [{"description": "no number"}]},
            {"lines": [{"lineNo": 1}, {"lineNo": 1}]},
            {"lines": {"lineNo": 1}},
            {"price": {"currency": "EURO"}},
            {"erpData": {"rowVersion": 1.5}},
            [1, 2],
        ],
    )
    def test_bad_input_is_400(self, api, ops, invoices, body):
        _problem(api.put(f"/invoices/{invoices['own']}", headers=ops, json=body), 400, "validation")

    def test_changing_the_number_to_an_existing_one_is_409(self, api, ops, invoices):
        body = {"erpData": {"documentNo": "US-SIN-2001"}}
        _problem(api.put(f"/invoices/{invoices['own']}", headers=ops, json=body), 409, "conflict")


def _new_invoice(**erp: Any) -> dict[str, Any]:
    return {
        "seller": {"id": US_SELLER},
        "erpData": {"documentNo": "US-SIN-9001", "dueDate": "2099-01-31", "balanceDue": 115, **erp},
        "price": {"currency": "USD", "totalSP": 100, "totalST": 15, "totalGT": 115, "totalPP": 80},
        "lines": [{"lineNo": 10000, "itemNo": "X", "price": {"quantity": 1, "unitPrice": 100, "amount": 100}}],
    }


class TestCreate:
    def test_post_creates_an_unlinked_manual_invoice(self, api, ops, client, demo_world):
        response = api.post("/invoices", headers=ops, json=_new_invoice())
        assert response.status_code == 201, response.text
        item = response.json()
        assert response.headers["location"].endswith(f"/invoices/{item['id']}")
        assert re.match(r"^INV-\d{4}-\d{4}-\d{4}-\d{4}$", item["id"])
        assert (item["status"], item["billingType"], item["client"], item["statement"]) == (
            "Issued",
            "Manual",
            None,
            None,
        )
        assert item["seller"]["id"] == US_SELLER and item["erpData"]["invoiceTotal"] == 115
        assert item["lines"][0]["id"] == f"INL-{item['id'][4:]}-0001" and item["lines"][0]["lineNo"] == 10000
        assert item["audit"]["created"]["by"]["id"] == "TKN-0000-0001"
        assert api.get("/invoices", headers=client).json()["data"] == []

    def test_post_links_to_the_statement_it_names(self, api, ops, client, db, demo_world):
        make_statement(db, STATEMENT)
        body = _new_invoice(yourReference=STATEMENT)
        item = api.post("/invoices", headers=ops, json=body).json()
        assert item["statement"] == {"id": STATEMENT} and item["client"]["id"] == "ACC-8119-0187"
        assert [i["id"] for i in api.get("/invoices", headers=client).json()["data"]] == [item["id"]]
        assert api.get(f"/statements/{STATEMENT}", headers=ops).json()["status"] == "Issued"

    def test_existing_document_number_is_409(self, api, ops, demo_world):
        assert api.post("/invoices", headers=ops, json=_new_invoice()).status_code == 201
        _problem(api.post("/invoices", headers=ops, json=_new_invoice()), 409, "conflict")

    @pytest.mark.parametrize(
        ("change", "path"),
        [
            ({"seller": None}, "seller.id"),
            ({"seller": {"id": "SEL-0000-0404"}}, "seller.id"),
            ({"erpData": {"dueDate": "2099-01-31"}}, "erpData.documentNo"),
            ({"erpData": {"documentNo": "X" * 40}}, "erpData.documentNo"),
            ({"price": {"totalSP": "NaN"}}, "price.totalSP"),
            ({"price": {"totalSP": 1e20}}, "price.totalSP"),
        ],
    )
    def test_bad_body_is_400(self, api, ops, demo_world, change, path):
        body = {**_new_invoice(), **change}
        errors = _problem(api.post("/invoices", headers=ops, json=body), 400, "validation")["errors"]
        assert path in errors, errors

    def test_non_json_body_is_415_and_malformed_is_400(self, api, ops, demo_world):
        response = api.post("/invoices", headers={**ops, "Content-Type": "text/plain"}, content=b"x")
        _problem(response, 415, "unsupported-media-type")
        response = api.post("/invoices", headers={**ops, "Content-Type": "application/json"}, content=b"{")
        _problem(response, 400, "validation")


class TestAttachments:
    def test_operations_attach_and_clients_read_their_own(self, api, ops, client, invoices):
        files = {"file": ("invoice.pdf", b"%PDF-1.4", "application/pdf")}
        created = api.post(f"/invoices/{invoices['own']}/attachments", headers=ops, files=files)
        assert created.status_code == 201, created.text
        body = created.json()
        assert re.match(r"^INA-\d{4}-\d{4}-\d{4}$", body["id"])
        assert body["invoice"] == {"id": invoices["own"]} and body["isExternal"] is False
        listed = api.get(f"/invoices/{invoices['own']}/attachments", headers=client).json()
        assert [item["id"] for item in listed["data"]] == [body["id"]]
        _problem(api.post(f"/invoices/{invoices['own']}/attachments", headers=client, files=files), 403, "forbidden")
        _problem(api.get(f"/invoices/{invoices['other']}/attachments", headers=client), 404, "not-found")
