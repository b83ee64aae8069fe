"""Upload → validate (background job) → charges, sellers, CSV, regenerate (billing-api.md §5.1, §8, §3.12)."""

from __future__ import annotations

import csv
import io

import orjson
import pytest
from journal_kit import AGREEMENTS, ITEM, SUBSCRIPTION, VENDOR, jsonl, line, new_journal, upload

from conftest import bearer


class TestUpload:
    def test_valid_file_validates_in_the_background(self, api, vendor, ops, drain):
        journal_id = new_journal(api, vendor)
        response = upload(api, vendor, journal_id, jsonl(line("e-1"), line("e-2", quantity="5", price={"UnitPP": "2"})))
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "Validating"
        assert api.get(f"/journals/{journal_id}/charges", headers=vendor).json()["data"] == []
        assert drain() == 1
        journal = api.get(f"/journals/{journal_id}", headers=vendor).json()
        assert journal["status"] == "Validated", journal
        assert journal["upload"] == {"total": 2, "ready": 2, "split": 0, "skipped": 0, "error": 0}
        assert journal["price"]["totalPP"] == 110
        charges = api.get(f"/journals/{journal_id}/charges", headers=vendor).json()
        assert [c["id"] for c in charges["data"]] == [
            f"CHG-{journal_id[4:]}-0000-0000-0100",
            f"CHG-{journal_id[4:]}-0000-0000-0200",
        ]
        first = charges["data"][0]
        assert first["upload"] == {"status": "Ready", "errors": [], "line": 1}
        assert first["subscription"]["id"] == SUBSCRIPTION["id"] and first["item"]["id"] == ITEM
        assert first["price"] == {"currency": {"purchase": "USD"}, "unitPP": 10, "PPx1": 100}
        attachments = api.get(f"/journals/{journal_id}/attachments", headers=vendor).json()["data"]
        assert [a["type"] for a in attachments] == ["Input"]
        sellers = api.get(f"/journals/{journal_id}/sellers", headers=ops).json()["data"]
        assert [s["id"] for s in sellers] == [AGREEMENTS[SUBSCRIPTION["agreement"]]["seller"]]
        assert (
            sellers[0]["ledger"] is None
            and "ledger" not in api.get(f"/journals/{journal_id}/sellers", headers=vendor).json()["data"][0]
        )
        submitted = api.post(f"/journals/{journal_id}/submit", headers=vendor).json()
        assert submitted["status"] == "Review"

    def test_the_spec_example_errors(self, api, vendor, drain):
        journal_id = new_journal(api, vendor)
        bad = line(
            "e-2",
            search={
                "source": {"type": "Subscription", "criteria": "id", "value": "SUB-0000-0000-0001"},
                "item": {"criteria": "item.id", "value": ITEM},
            },
            period={"start": "2025-06-30", "end": "2025-06-01"},
            quantity="ten",
            price={"UnitPP": "5"},
        )
        upload(api, vendor, journal_id, jsonl(line("e-1"), bad))
        drain()
        journal = api.get(f"/journals/{journal_id}", headers=vendor).json()
        assert journal["status"] == "Error"
        assert journal["error"] == {"id": "BJO:0001", "message": "1 of 2 charges failed validation."}
        charge = api.get(f"/journals/{journal_id}/charges/CHG-{journal_id[4:]}-0000-0000-0200", headers=vendor).json()
        assert charge["upload"] == {
            "status": "Error",
            "line": 2,
            "errors": [
                "Line 2: Subscription 'SUB-0000-0000-0001' was not found.",
                "Line 2: Period end 2025-06-01T00:00:00.000Z is before period start 2025-06-30T00:00:00.000Z.",
                "Line 2: 'quantity' must be a number: 'ten'.",
            ],
        }
        errors = api.get(f"/journals/{journal_id}/charges?eq(upload.status,Error)", headers=vendor).json()
        assert errors["$meta"]["pagination"]["total"] == 1
        # a corrected re-upload replaces every charge
        upload(api, vendor, journal_id, jsonl(line("e-1"), line("e-2")))
        drain()
        assert api.get(f"/journals/{journal_id}", headers=vendor).json()["status"] == "Validated"

    @pytest.mark.parametrize(
        ("content", "name", "media", "status", "key"),
        [
            (b"", "c.jsonl", "application/jsonl", 400, "file"),
            (b"\n  \n", "c.jsonl", "application/jsonl", 400, "file"),
            (b"a,b\n", "c.csv", "text/csv", 415, None),
        ],
    )
    def test_synchronous_refusals(self, api, vendor, content, name, media, status, key):
        journal_id = new_journal(api, vendor)
        response = upload(api, vendor, journal_id, content, name, media)
        assert response.status_code == status, response.text
        if key:
            assert response.json()["errors"][key] == ["The file contains no charges."]
        assert api.get(f"/journals/{journal_id}", headers=vendor).json()["status"] == "Draft"

    def test_missing_file_part_and_non_multipart(self, api, vendor):
        journal_id = new_journal(api, vendor)
        missing = api.post(
            f"/journals/{journal_id}/upload", headers=vendor, files={"other": ("x", b"{}", "text/plain")}
        )
        assert missing.status_code == 400 and "file" in missing.json()["errors"]
        raw = api.post(f"/journals/{journal_id}/upload", headers=vendor, json={})
        assert raw.status_code == 415

    def test_file_over_the_limit_is_413(self, settings, db, vendor):
        from fastapi.testclient import TestClient

        from billing.api.app import create_app

        settings.api.max_charge_file_bytes = 1000
        with TestClient(create_app(settings, db), base_url="http://t/public/v1/billing") as small:
            journal_id = new_journal(small, vendor)
            response = upload(small, vendor, journal_id, jsonl(*[line(f"e-{i}") for i in range(20)]))
        assert response.status_code == 413

    def test_upload_in_review_is_409_and_changes_nothing(self, api, vendor, drain):
        journal_id = new_journal(api, vendor)
        upload(api, vendor, journal_id, jsonl(line("e-1")))
        drain()
        api.post(f"/journals/{journal_id}/submit", headers=vendor)
        response = upload(api, vendor, journal_id, jsonl(line("e-9")))
        assert response.status_code == 409
        assert "'upload' requires Draft, Validated, Error or Enquiring" in response.json()["detail"]
        charges = api.get(f"/journals/{journal_id}/charges", headers=vendor).json()["data"]
        assert [c["externalIds"]["vendor"] for c in charges] == ["e-1"]

    def test_official_client_shape_octet_stream_with_extra_parts(self, api, vendor, drain):
        journal_id = new_journal(api, vendor)
        response = api.post(
            f"/journals/{journal_id}/upload",
            headers=vendor,
            files={
                "file": ("journal.jsonl", jsonl(line("e-1")), "application/octet-stream"),
                "_attachment_data": (None, "{}"),
            },
            data={"id": journal_id},
        )
        assert response.status_code == 200, response.text
        drain()
        assert api.get(f"/journals/{journal_id}", headers=vendor).json()["status"] == "Validated"


class TestRegenerateAndOverrides:
    def test_regenerate_revalidates_and_returns_to_review(self, api, vendor, ops, drain):
        journal_id = new_journal(api, vendor)
        upload(api, vendor, journal_id, jsonl(line("e-1")))
        drain()
        api.post(f"/journals/{journal_id}/submit", headers=vendor)
        # the client becomes manually billed: re-validation marks the charge Skipped
        client_id = AGREEMENTS[SUBSCRIPTION["agreement"]]["client"]
        api.post("/manual-overrides", headers=ops, json={"client": {"id": client_id}, "vendor": {"id": VENDOR}})
        regenerating = api.post(f"/journals/{journal_id}/regenerate", headers=ops).json()
        assert regenerating["status"] == "Validating"
        drain()
        journal = api.get(f"/journals/{journal_id}", headers=ops).json()
        assert journal["status"] == "Review"
        assert journal["upload"]["skipped"] == 1
        charge = api.get(f"/journals/{journal_id}/charges", headers=ops).json()["data"][0]
        assert (charge["billingType"], charge["upload"]["status"]) == ("Manual", "Skipped")


class TestChargeExports:
    def test_csv_columns_by_role_and_formula_neutralising(self, api, vendor, ops, drain):
        journal_id = new_journal(api, vendor)
        upload(
            api,
            vendor,
            journal_id,
            jsonl(line("=cmd|calc", description={"value1": "+SUM(A1)", "value2": "plain"}), line("e-2")),
        )
        drain()
        response = api.get(f"/journals/{journal_id}/charges", headers={**vendor, "Accept": "text/csv"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/csv")
        assert response.headers["content-disposition"] == f'attachment; filename="{journal_id}-charges.csv"'
        assert b"\r\n" in response.content and not response.content.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(response.text)))
        header = rows[0]
        assert header[:3] == ["Charge ID", "Line", "Entry ID"]
        assert "Markup" not in header and "Sale Price" not in header and "Statement ID" not in header
        first = dict(zip(header, rows[1], strict=True))
        assert first["Entry ID"] == "'=cmd|calc" and first["Description1"] == "'+SUM(A1)"
        assert first["Quantity"] == "10" and first["Usage Start Time"] == "2025-06-01T00:00:00.000Z"
        ops_header = next(
            csv.reader(
                io.StringIO(api.get(f"/journals/{journal_id}/charges", headers={**ops, "Accept": "text/csv"}).text)
            )
        )
        assert {"Markup", "Processing Status", "Ledger ID"} <= set(ops_header)

    def test_jsonl_export_of_charges(self, api, vendor, drain):
        journal_id = new_journal(api, vendor)
        upload(api, vendor, journal_id, jsonl(line("e-1"), line("e-2"), line("e-3")))
        drain()
        response = api.get(
            f"/journals/{journal_id}/charges?select=-*,externalIds", headers={**vendor, "Accept": "application/jsonl"}
        )
        assert response.headers["mpt-item-count"] == "3"
        records = [orjson.loads(x) for x in response.text.splitlines()]
        assert [r["externalIds"]["vendor"] for r in records] == ["e-1", "e-2", "e-3"]

    def test_other_vendor_cannot_read_charges(self, api, vendor, demo_world, drain):
        journal_id = new_journal(api, vendor)
        upload(api, vendor, journal_id, jsonl(line("e-1")))
        drain()
        other = bearer(demo_world["vendor2"])
        assert api.get(f"/journals/{journal_id}/charges", headers=other).status_code == 404
        assert api.get(f"/journals/{journal_id}/charges", headers=bearer(demo_world["client"])).status_code == 403
