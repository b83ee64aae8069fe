"""Attachments of ledgers (§5.11, §12.1 ``LEA-``): Operations only, the LedgerRef, 404 for an unknown ledger."""

from __future__ import annotations

from conftest import make_ledger


def test_ledger_attachments(api, db, ops, vendor, client):
    ledger_id = make_ledger(db)
    files = {"file": ("notes.txt", b"reviewed", "text/plain")}
    created = api.post(f"/ledgers/{ledger_id}/attachments", files=files, headers=ops)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"].startswith("LEA-") and len(body["id"]) == 13
    assert body["ledger"] == {"id": ledger_id, "name": "June / Operator"}
    assert body["type"] == "Attachment"
    listed = api.get(f"/ledgers/{ledger_id}/attachments", headers=ops).json()
    assert [item["id"] for item in listed["data"]] == [body["id"]]
    download = api.get(f"/ledgers/{ledger_id}/attachments/{body['id']}", headers={**ops, "Accept": "text/plain"})
    assert download.content == b"reviewed"
    for headers in (vendor, client):
        assert api.get(f"/ledgers/{ledger_id}/attachments", headers=headers).status_code == 403
    assert api.get("/ledgers/BLE-0000-0000-0000-0001/attachments", headers=ops).status_code == 404
    assert api.delete(f"/ledgers/{ledger_id}/attachments/{body['id']}", headers=ops).status_code == 204
    assert api.get(f"/ledgers/{ledger_id}/attachments", headers=ops).json()["$meta"]["pagination"]["total"] == 0
