"""Custom ledgers through the API (billing-api.md §5.3, §6.6, §7.3, §8.7): CRUD, upload and validation,
accept → Manual statements, queue, completion when the statements end, attachments."""

from __future__ import annotations

import io
import json
from datetime import date
from decimal import Decimal
from typing import Any

import openpyxl
import pytest

from billing.db.models import ErpOutbox, Statement
from billing.rating.pricing import rate_given_prices

SELLER, VENDOR, OTHER_VENDOR = "SEL-9929-6679", "ACC-3102-8586", "ACC-3102-8590"
AGREEMENT = "AGR-6768-2156-9696"  # client ACC-8119-0187, product PRD-5929-5173
AGREEMENT_2 = "AGR-6723-1961-2202"  # client ACC-8119-0203, product PRD-1986-0860
OTHER_SELLER_AGREEMENT = "AGR-7788-1500-6245"
OTHER_VENDOR_AGREEMENT = "AGR-6698-2138-4081"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
HEADER = [
    "Document No.",
    "Document Type",
    "Type",
    "No.",
    "Description",
    "Quantity",
    "Unit Price",
    "Purchase Price",
    "Sales Currency Code",
    "Purchase Currency Code",
    "Startdate",
    "Enddate",
    "Contract No.",
]


def sales_row(document: str = AGREEMENT, kind: str = "Order", **changes: Any) -> dict[str, Any]:
    return {
        "Document No.": document,
        "Document Type": kind,
        "Type": "Item",
        "No.": "BP02.00001.MP",
        "Description": "Consulting",
        "Quantity": 3,
        "Unit Price": 12.5,
        "Purchase Price": 10,
        "Sales Currency Code": "USD",
        "Purchase Currency Code": "USD",
        "Startdate": date(2025, 6, 1),
        "Enddate": date(2025, 6, 30),
        "Contract No.": "C-1",
        **changes,
    }


def workbook(rows: list[dict[str, Any]], header: list[str] = HEADER, preamble: bool = True) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    if preamble:
        sheet.append(["Sales document import"])
        sheet.append([])
    sheet.append(header)
    for row in rows:
        sheet.append([row.get(name) for name in header])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def create(api, ops, **changes: Any) -> dict[str, Any]:
    body = {
        "name": "Manual June",
        "seller": {"id": SELLER},
        "vendor": {"id": VENDOR},
        "billingStartDate": "2025-06-01",
        "billingEndDate": "2025-06-30",
        **changes,
    }
    response = api.post("/custom-ledgers", json=body, headers=ops)
    assert response.status_code == 201, response.text
    return response.json()


def upload(api, ops, ledger_id: str, content: bytes, content_type: str = XLSX):
    return api.post(
        f"/custom-ledgers/{ledger_id}/upload", files={"file": ("sales.xlsx", content, content_type)}, headers=ops
    )


def validated(api, ops, drain, rows: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    ledger = create(api, ops, **changes)
    response = upload(api, ops, ledger["id"], workbook(rows))
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Validating"
    drain()
    return exact(api.get(f"/custom-ledgers/{ledger['id']}", headers=ops))


def exact(response) -> Any:
    """The JSON body with numbers as exact decimals."""
    return json.loads(response.text, parse_float=Decimal)


def charges_of(api, ops, ledger_id: str) -> list[dict[str, Any]]:
    return exact(api.get(f"/custom-ledgers/{ledger_id}/charges?order=upload.line&limit=100", headers=ops))["data"]


class TestCrud:
    def test_create_get_list(self, api, ops):
        ledger = create(api, ops, notes="n", price={"currency": {"purchase": "usd", "sale": "USD"}})
        assert ledger["id"].startswith("CLE-") and len(ledger["id"]) == 13
        assert ledger["status"] == "Draft"
        assert ledger["seller"]["id"] == SELLER and ledger["vendor"]["id"] == VENDOR
        assert ledger["price"]["currency"] == {"purchase": "USD", "sale": "USD", "rate": 1}
        assert {"created", "draft"} <= set(
            api.get(f"/custom-ledgers/{ledger['id']}?select=audit", headers=ops).json()["audit"]
        )
        listed = api.get(f"/custom-ledgers?eq(seller.id,{SELLER})", headers=ops).json()
        assert [item["id"] for item in listed["data"]] == [ledger["id"]]

    @pytest.mark.parametrize(
        ("changes", "path"),
        [
            ({"seller": {"id": "SEL-0000-0001"}}, "seller.id"),
            ({"vendor": {"id": "ACC-0000-0001"}}, "vendor.id"),  # an Operations account, not a Vendor
            ({"billingEndDate": "2025-05-01"}, "billingEndDate"),
            ({"name": None}, "name"),
        ],
    )
    def test_create_refuses_bad_input(self, api, ops, changes, path):
        body = {
            "name": "x",
            "seller": {"id": SELLER},
            "vendor": {"id": VENDOR},
            "billingStartDate": "2025-06-01",
            "billingEndDate": "2025-06-30",
            **changes,
        }
        response = api.post("/custom-ledgers", json=body, headers=ops)
        assert response.status_code == 400, response.text
        assert path in response.json()["errors"]
        assert api.get("/custom-ledgers", headers=ops).json()["$meta"]["pagination"]["total"] == 0

    def test_only_operations(self, api, vendor, client):
        for headers in (vendor, client):
            assert api.get("/custom-ledgers", headers=headers).status_code == 403

    def test_update_and_status_limited_fields(self, api, ops, drain):
        ledger = create(api, ops)
        lid = ledger["id"]
        response = api.put(
            f"/custom-ledgers/{lid}", json={"name": "Renamed", "externalIds": {"operations": "OP-1"}}, headers=ops
        )
        assert response.status_code == 200 and response.json()["name"] == "Renamed"
        assert response.json()["externalIds"]["operations"] == "OP-1"
        # currencies are writable in Draft only; dates in Draft/Validated/Error
        assert (
            api.put(f"/custom-ledgers/{lid}", json={"price": {"currency": {"sale": "EUR"}}}, headers=ops).status_code
            == 200
        )
        upload(api, ops, lid, workbook([sales_row(**{"Sales Currency Code": "EUR"})]))
        drain()
        assert api.get(f"/custom-ledgers/{lid}", headers=ops).json()["status"] == "Validated"
        refused = api.put(f"/custom-ledgers/{lid}", json={"price": {"currency": {"sale": "USD"}}}, headers=ops)
        assert refused.status_code == 409
        assert api.put(f"/custom-ledgers/{lid}", json={"billingEndDate": "2025-07-31"}, headers=ops).status_code == 200
        bad = api.put(f"/custom-ledgers/{lid}", json={"billingEndDate": "2025-01-01"}, headers=ops)
        assert bad.status_code == 400 and "billingEndDate" in bad.json()["errors"]

    def test_delete_keeps_it_readable_and_frozen(self, api, ops):
        lid = create(api, ops)["id"]
        assert api.delete(f"/custom-ledgers/{lid}", headers=ops).status_code == 204
        ledger = api.get(f"/custom-ledgers/{lid}", headers=ops).json()
        assert ledger["status"] == "Deleted"
        assert api.put(f"/custom-ledgers/{lid}", json={"name": "x"}, headers=ops).status_code == 409
        assert api.delete(f"/custom-ledgers/{lid}", headers=ops).status_code == 409
        assert upload(api, ops, lid, workbook([sales_row()])).status_code == 409
        attach = api.post(
            f"/custom-ledgers/{lid}/attachments", files={"file": ("a.txt", b"x", "text/plain")}, headers=ops
        )
        assert attach.status_code == 409


class TestUpload:
    def test_valid_rows_become_manual_charges_with_given_prices(self, api, ops, drain):
        rows = [
            sales_row(),
            {"Document No.": AGREEMENT, "Type": "Title", "Description": "A text row"},
            sales_row(
                AGREEMENT_2, "Credit Memo", **{"No.": "ITM-1986-0860-0002", "Quantity": 2, "Unit Price": "7.333333"}
            ),
        ]
        ledger = validated(api, ops, drain, rows)
        assert ledger["status"] == "Validated" and ledger["error"] is None
        assert ledger["upload"] == {"total": 2, "ready": 2, "split": 0, "skipped": 0, "error": 0}
        assert ledger["processing"] == {"total": 2, "ready": 2, "split": 0, "skipped": 0, "error": 0}
        assert ledger["price"]["currency"] == {"purchase": "USD", "sale": "USD", "rate": 1}  # from the first valid row
        first, credit = charges_of(api, ops, ledger["id"])
        assert first["id"] == f"CHG-{ledger['id'][4:]}-0000-0000-0400"  # worksheet row 4 (after 2 preamble + header)
        assert first["billingType"] == "Manual"
        assert first["upload"]["status"] == "Ready" and first["processing"]["status"] == "Ready"
        assert first["agreement"]["id"] == AGREEMENT and first["item"]["id"] == "ITM-5929-5173-0001"
        assert first["customLedger"] == {"id": ledger["id"], "name": "Manual June"}
        assert first["attributes"] == {"documentType": "Order", "contractNo": "C-1"}
        assert first["externalIds"] == {"vendor": None, "invoice": None, "reference": None}
        assert Decimal(first["price"]["PPx1"]) == Decimal(30) and Decimal(first["price"]["SPx1"]) == Decimal("37.5")
        assert Decimal(first["price"]["markup"]) == Decimal(25) and Decimal(first["price"]["margin"]) == Decimal(20)
        # a credit memo row inverts the quantity's sign; prices are given, markup/margin derived (§9.3)
        expected = rate_given_prices(Decimal(10), Decimal("7.333333"), Decimal(-2))
        assert Decimal(credit["quantity"]) == -2
        assert Decimal(credit["price"]["PPx1"]) == Decimal(-20)
        assert Decimal(credit["price"]["SPx1"]) == expected.spx1 == Decimal("-14.666666")
        assert Decimal(credit["price"]["markup"]) == expected.markup
        assert Decimal(credit["price"]["margin"]) == expected.margin
        assert Decimal(ledger["price"]["totalPP"]) == Decimal(10)
        assert Decimal(ledger["price"]["totalSP"]) == Decimal("22.833334")

    def test_not_xlsx_is_415_and_changes_nothing(self, api, ops):
        lid = create(api, ops)["id"]
        response = upload(api, ops, lid, b'{"a": 1}\n', "application/jsonl")
        assert response.status_code == 415
        assert api.get(f"/custom-ledgers/{lid}", headers=ops).json()["status"] == "Draft"

    @pytest.mark.parametrize(
        ("row", "message"),
        [
            (sales_row("AGR-0000-0000-0001"), "Agreement 'AGR-0000-0000-0001' was not found."),
            (
                sales_row(OTHER_SELLER_AGREEMENT),
                f"Agreement '{OTHER_SELLER_AGREEMENT}' belongs to seller 'SEL-3461-1295', not to the ledger's seller '{SELLER}'.",
            ),
            (
                sales_row(OTHER_VENDOR_AGREEMENT, **{"No.": "SM03.00001.MP"}),
                f"Agreement '{OTHER_VENDOR_AGREEMENT}' belongs to vendor '{OTHER_VENDOR}', not to the ledger's vendor '{VENDOR}'.",
            ),
            (sales_row(**{"No.": "NOPE"}), "Item 'NOPE' was not found in product 'PRD-5929-5173'."),
            (sales_row(kind="Invoice"), "Unsupported 'Document Type' 'Invoice'; expected Order or Credit Memo."),
            (sales_row(Quantity="many"), "'Quantity' must be a number: 'many'."),
            (sales_row(**{"Unit Price": None}), "'Unit Price' is required."),
            (sales_row(Startdate="01/06/2025"), "'Startdate' is not a valid ISO 8601 date or date-time: '01/06/2025'."),
            (
                sales_row(Startdate="2025-07-01", Enddate="2025-06-30"),
                "Period end 2025-06-30T00:00:00Z is before period start 2025-07-01T00:00:00Z.",
            ),
        ],
    )
    def test_row_errors(self, api, ops, drain, row, message):
        ledger = validated(api, ops, drain, [sales_row(), row])
        assert ledger["status"] == "Error"
        assert ledger["error"] == {"id": "CLE:0001", "message": "1 of 2 rows failed validation."}
        assert ledger["upload"]["error"] == 1 and ledger["upload"]["ready"] == 1
        charges = charges_of(api, ops, ledger["id"])
        assert charges[1]["upload"]["status"] == "Error"
        assert charges[1]["upload"]["errors"] == [f"Line 5: {message}"]
        assert api.post(f"/custom-ledgers/{ledger['id']}/accept", headers=ops).status_code == 409

    def test_mixed_currencies(self, api, ops, drain):
        rows = [sales_row(), sales_row(**{"Sales Currency Code": "EUR", "Purchase Currency Code": "EUR"})]
        ledger = validated(api, ops, drain, rows)
        errors = charges_of(api, ops, ledger["id"])[1]["upload"]["errors"]
        assert errors == [
            "Line 5: Currency 'EUR' does not match the ledger's sales currency 'USD'.",
            "Line 5: Currency 'EUR' does not match the ledger's purchase currency 'USD'.",
        ]

    def test_currency_set_on_create_is_enforced(self, api, ops, drain):
        ledger = validated(api, ops, drain, [sales_row()], price={"currency": {"purchase": "EUR", "sale": "EUR"}})
        assert ledger["status"] == "Error"
        assert ledger["price"]["currency"]["purchase"] == "EUR"

    @pytest.mark.parametrize(
        ("content", "reason"),
        [
            (
                workbook([sales_row()], header=[h for h in HEADER if h != "Unit Price"]),
                "missing required column(s) Unit Price",
            ),
            (
                workbook([], header=["Something", "Else"]),
                "no header row with 'Document No.', 'No.' and 'Quantity' was found",
            ),
            (workbook([]), "it has no data rows"),
        ],
    )
    def test_unreadable_files(self, api, ops, drain, content, reason):
        lid = create(api, ops)["id"]
        assert upload(api, ops, lid, content).status_code == 200
        drain()
        ledger = api.get(f"/custom-ledgers/{lid}", headers=ops).json()
        assert ledger["status"] == "Error"
        assert ledger["error"] == {"id": "CLE:0002", "message": f"The file could not be read: {reason}."}
        assert ledger["upload"]["total"] == 0 and charges_of(api, ops, lid) == []

    def test_reupload_replaces_the_charges(self, api, ops, drain):
        ledger = validated(api, ops, drain, [sales_row(), sales_row(Quantity="x")])
        assert ledger["status"] == "Error"
        assert upload(api, ops, ledger["id"], workbook([sales_row(Quantity=7)])).json()["status"] == "Validating"
        drain()
        again = api.get(f"/custom-ledgers/{ledger['id']}", headers=ops).json()
        assert again["status"] == "Validated" and again["upload"]["total"] == 1
        assert [Decimal(c["quantity"]) for c in charges_of(api, ops, ledger["id"])] == [7]
        inputs = api.get(f"/custom-ledgers/{ledger['id']}/attachments?eq(type,Input)", headers=ops).json()
        assert inputs["$meta"]["pagination"]["total"] == 2


def generated(api, ops, drain) -> dict[str, Any]:
    rows = [
        sales_row(),
        sales_row(Quantity=1),
        sales_row(AGREEMENT_2, "Credit Memo", **{"No.": "CS01.00002.MP"}),
    ]
    ledger = validated(api, ops, drain, rows)
    accepted = api.post(f"/custom-ledgers/{ledger['id']}/submit", headers=ops)  # the alias of accept
    assert accepted.status_code == 200 and accepted.json()["status"] == "Generating"
    drain()
    return exact(api.get(f"/custom-ledgers/{ledger['id']}", headers=ops))


class TestStatements:
    def test_accept_generates_manual_statements_per_agreement(self, api, ops, drain, client):
        ledger = generated(api, ops, drain)
        assert ledger["status"] == "Generated"
        statements = api.get(f"/statements?eq(customLedger.id,{ledger['id']})&order=agreement.id", headers=ops).json()[
            "data"
        ]
        assert [(s["agreement"]["id"], s["type"], s["billingType"], s["status"]) for s in statements] == [
            (AGREEMENT_2, "Credit", "Manual", "Generated"),
            (AGREEMENT, "Debit", "Manual", "Generated"),
        ]
        debit = statements[1]
        assert debit["id"] == f"SOM-{ledger['id'][4:]}-{AGREEMENT[4:]}"
        assert Decimal(debit["price"]["totalPP"]) == 40 and Decimal(debit["price"]["totalSP"]) == 50
        charges = api.get(f"/statements/{debit['id']}/charges", headers=ops).json()["data"]
        assert len(charges) == 2 and {c["statement"]["id"] for c in charges} == {debit["id"]}
        # the client of the agreement sees its statement, sale prices only
        seen = api.get(f"/statements/{debit['id']}", headers=client).json()
        assert "totalPP" not in seen["price"]

    def test_queue_then_issue_completes_the_custom_ledger(self, api, ops, drain, db):
        ledger = generated(api, ops, drain)
        lid = ledger["id"]
        queued = api.post(f"/custom-ledgers/{lid}/queue", headers=ops)
        assert queued.status_code == 200 and queued.json()["status"] == "Queued"
        statements = api.get(f"/statements?eq(customLedger.id,{lid})", headers=ops).json()["data"]
        assert {s["status"] for s in statements} == {"Queued"}
        with db.read_scope() as session:
            rows = session.query(ErpOutbox).filter(ErpOutbox.statement_id.in_([s["id"] for s in statements])).all()
            assert sorted(r.doc_type for r in rows) == ["credit_memo", "invoice"]
        first, second = statements
        issued = api.post(
            f"/statements/{first['id']}/issue?verify=false", json={"externalIds": {"erpId": "SI-1"}}, headers=ops
        )
        assert issued.status_code == 200, issued.text
        assert api.get(f"/custom-ledgers/{lid}", headers=ops).json()["status"] == "Queued"
        assert api.post(f"/statements/{second['id']}/cancel", headers=ops).status_code == 200
        done = api.get(f"/custom-ledgers/{lid}?select=audit", headers=ops).json()
        assert done["status"] == "Completed" and "completed" in done["audit"]

    def test_refused_transitions(self, api, ops, drain):
        lid = create(api, ops)["id"]
        assert api.post(f"/custom-ledgers/{lid}/accept", headers=ops).status_code == 409
        assert api.post(f"/custom-ledgers/{lid}/queue", headers=ops).status_code == 409
        ledger = generated(api, ops, drain)
        for path, method in (("upload", "post"), ("accept", "post"), ("", "delete")):
            url = f"/custom-ledgers/{ledger['id']}" + (f"/{path}" if path else "")
            if path == "upload":
                response = upload(api, ops, ledger["id"], workbook([sales_row()]))
            else:
                response = getattr(api, method)(url, headers=ops)
            assert response.status_code == 409, (path, response.text)
            assert "Generated" in response.json()["detail"]

    def test_generation_is_idempotent(self, api, ops, drain, db, settings):
        from billing.custom_ledgers.jobs import generate_custom_statements
        from billing.jobs.repository import Claim

        ledger = generated(api, ops, drain)
        with db.session_scope() as session:
            before = session.query(Statement).filter(Statement.custom_ledger_id == ledger["id"]).count()
        claim = Claim(id=0, kind="custom_ledger.generate", object_id=ledger["id"], payload={}, attempts=1, token="t")
        generate_custom_statements(db, settings, claim)  # a re-delivered item finds the ledger Generated
        with db.session_scope() as session:
            assert session.query(Statement).filter(Statement.custom_ledger_id == ledger["id"]).count() == before == 2


class TestAttachments:
    def test_statement_attachments_follow_client_scope(self, api, ops, drain, client, demo_world):
        from conftest import bearer

        ledger = generated(api, ops, drain)
        statements = api.get(f"/statements?eq(customLedger.id,{ledger['id']})&order=agreement.id", headers=ops).json()[
            "data"
        ]
        own, other = statements[1], statements[0]  # AGREEMENT belongs to the demo client, AGREEMENT_2 does not
        created = api.post(
            f"/statements/{own['id']}/attachments", files={"file": ("note.txt", b"hello", "text/plain")}, headers=ops
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["id"].startswith("SOA-") and len(body["id"]) == 18
        assert body["statement"] == {"id": own["id"], "name": own["name"]}
        assert (
            api.get(f"/statements/{own['id']}/attachments", headers=client).json()["$meta"]["pagination"]["total"] == 1
        )
        download = api.get(
            f"/statements/{own['id']}/attachments/{body['id']}", headers={**client, "Accept": "text/plain"}
        )
        assert download.status_code == 200 and download.content == b"hello"
        assert api.get(f"/statements/{other['id']}/attachments", headers=client).status_code == 404
        assert (
            api.post(
                f"/statements/{own['id']}/attachments", files={"file": ("x.txt", b"x", "text/plain")}, headers=client
            ).status_code
            == 403
        )
        assert api.get(f"/statements/{own['id']}/attachments", headers=bearer(demo_world["client2"])).status_code == 404

    def test_custom_ledger_attachments(self, api, ops):
        lid = create(api, ops)["id"]
        created = api.post(
            f"/custom-ledgers/{lid}/attachments", files={"file": ("a.pdf", b"%PDF-1.4", "application/pdf")}, headers=ops
        )
        assert created.status_code == 201
        assert created.json()["id"].startswith("CLA-") and created.json()["customLedger"] == {
            "id": lid,
            "name": "Manual June",
        }
