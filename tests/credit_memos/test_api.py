"""The credit memo API (billing-api.md §5.6, §6.10, §6.11): like invoices, PUT and writes Operations only."""

from __future__ import annotations

import re
from typing import Any

import pytest

from invoices.factory import US_SELLER, make_statement, posted, upsert

STATEMENT = "SOM-1111-2222-5010-9701-4062"
ADDRESS_MEMBERS = 16


@pytest.fixture
def credit_memo(db, demo_world) -> str:
    make_statement(db, STATEMENT, type="Credit")
    data = posted("credit_memo", "US-SCM-1", external=STATEMENT, balance="-110", applies_to="US-SIN-1")
    return upsert(db, data).document_id


def _status(response: Any, status: int, suffix: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["type"] == f"urn:billing:problem:{suffix}"


def test_representation(api, ops, credit_memo):
    item = api.get(f"/credit-memos/{credit_memo}", headers=ops).json()
    assert re.match(r"^CRD-\d{4}-\d{4}-\d{4}-\d{4}$", item["id"]) and item["status"] == "Issued"
    assert item["statement"] == {"id": STATEMENT}
    erp = item["erpData"]
    assert set(erp) == {
        "addresses", "appliesToDocNo", "balanceDue", "creditMemoTotal", "currencyCode", "documentDate", "documentNo",
        "erpId", "externalDocumentNo", "externalDocumentNo2", "insideSalesCode", "navisionCountryCode",
        "postingDate", "responsibilityCenterCode", "rowVersion", "salesPersonCode", "shipmentMethodCode",
        "vatRegistrationNo", "yourReference",
    }  # fmt: skip
    assert all(len(address) == ADDRESS_MEMBERS for address in erp["addresses"].values())
    assert (erp["appliesToDocNo"], erp["balanceDue"], erp["creditMemoTotal"]) == ("US-SIN-1", -110, 110)
    line = item["lines"][0]
    assert line["id"] == f"CRL-{credit_memo[4:]}-0001" and "invoiceDiscountAmount" in line["price"]
    assert "msrp" not in line["erpData"] and "yourReference" not in line["erpData"]
    assert set(item["audit"]) >= {"created", "updated", "issued"}
    statement = api.get(f"/statements/{STATEMENT}", headers=ops).json()
    assert statement["creditMemo"] == {"id": credit_memo} and statement["invoice"] is None


def test_client_reads_its_own_without_purchase_prices(api, client, client2, credit_memo):
    listed = api.get("/credit-memos", headers=client).json()
    assert [item["id"] for item in listed["data"]] == [credit_memo]
    item = listed["data"][0]
    assert "totalPP" not in item["price"] and "markup" not in item["price"]
    assert "purchasePrice" not in item["lines"][0]["price"]
    lines = api.get(f"/credit-memos/{credit_memo}/lines", headers=client).json()["data"]
    assert [line["creditMemo"] for line in lines] == [{"id": credit_memo}] * 2
    assert api.get("/credit-memos", headers=client2).json()["data"] == []
    _status(api.get(f"/credit-memos/{credit_memo}", headers=client2), 404, "not-found")


@pytest.fixture
def client2(demo_world) -> dict[str, str]:
    return {"Authorization": f"Bearer {demo_world['client2']}"}


def test_writes_are_operations_only(api, client, vendor, credit_memo):
    _status(api.put(f"/credit-memos/{credit_memo}", headers=client, json={}), 403, "forbidden")
    _status(api.post("/credit-memos", headers=client, json={}), 403, "forbidden")
    _status(api.get("/credit-memos", headers=vendor), 403, "forbidden")


def test_put_balance_zero_releases(api, ops, credit_memo):
    response = api.put(f"/credit-memos/{credit_memo}", headers=ops, json={"erpData": {"balanceDue": 0}})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Released" and "released" in response.json()["audit"]
    assert api.get("/credit-memos?eq(status,Released)", headers=ops).json()["$meta"]["pagination"]["total"] == 1
    assert api.get("/credit-memos?eq(erpData.appliesToDocNo,US-SIN-1)", headers=ops).json()["data"]


def test_post_and_conflict(api, ops, demo_world):
    body = {
        "seller": {"id": US_SELLER},
        "erpData": {"documentNo": "US-SCM-9", "balanceDue": -5, "externalDocumentNo": "NOT-A-STATEMENT"},
        "price": {"totalSP": -5, "totalGT": -5},
    }
    created = api.post("/credit-memos", headers=ops, json=body)
    assert created.status_code == 201, created.text
    item = created.json()
    assert item["price"]["currency"] == "USD"  # the seller's currency when none is given
    assert item["erpData"]["externalDocumentNo"] == "NOT-A-STATEMENT" and item["statement"] is None
    _status(api.post("/credit-memos", headers=ops, json=body), 409, "conflict")


def test_attachments(api, ops, client, credit_memo):
    files = {"file": ("memo.pdf", b"%PDF-1.4", "application/pdf")}
    created = api.post(f"/credit-memos/{credit_memo}/attachments", headers=ops, files=files)
    assert created.status_code == 201, created.text
    assert re.match(r"^CMA-\d{4}-\d{4}-\d{4}$", created.json()["id"])
    assert created.json()["creditMemo"] == {"id": credit_memo}
    assert (
        api.get(f"/credit-memos/{credit_memo}/attachments", headers=client).json()["$meta"]["pagination"]["total"] == 1
    )
