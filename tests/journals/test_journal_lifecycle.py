"""Journal CRUD, scoping, editability and the §7.1 transitions that need no charge file."""

from __future__ import annotations

import pytest

from billing.db.models import Journal, WorkItem
from billing.reference.demo import DEMO_ACCOUNTS, build_demo_dataset
from conftest import bearer

DATASET = build_demo_dataset()
VENDOR_AUTH = next(a for a in DATASET["authorizations"] if a["vendor"] == DEMO_ACCOUNTS["vendor"])
OTHER_AUTH = next(a for a in DATASET["authorizations"] if a["vendor"] == DEMO_ACCOUNTS["vendor2"])
OPS_USER = next(u for u in DATASET["users"] if u["account"] == DEMO_ACCOUNTS["operations"])


def create_journal(api, vendor, **extra):
    body = {"name": "June 2025 Charges", "authorization": {"id": VENDOR_AUTH["id"]}, **extra}
    response = api.post("/journals", headers=vendor, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def set_status(db, journal_id, status, **fields):
    with db.session_scope() as session:
        journal = session.get(Journal, journal_id)
        journal.status = status
        for name, value in fields.items():
            setattr(journal, name, value)


class TestCreate:
    def test_created_in_draft_with_derived_references(self, api, vendor):
        body = create_journal(api, vendor, externalIds={"vendor": "202506"}, dueDate="2025-07-01", notes="n")
        assert body["id"].startswith("BJO-") and body["status"] == "Draft"
        assert body["vendor"]["id"] == DEMO_ACCOUNTS["vendor"] and body["vendor"]["type"] == "Vendor"
        assert body["owner"]["id"] == VENDOR_AUTH["owner"]
        assert body["product"]["id"] == VENDOR_AUTH["product"]
        assert body["authorization"] == {
            "id": VENDOR_AUTH["id"],
            "name": VENDOR_AUTH["name"],
            "currency": VENDOR_AUTH["currency"],
        }
        assert body["price"] == {"currency": VENDOR_AUTH["currency"], "totalPP": 0}  # vendor view (§2.6)
        assert body["upload"] == {"total": 0, "ready": 0, "split": 0, "skipped": 0, "error": 0}
        assert body["dueDate"] == "2025-07-01T00:00:00.000Z"
        assert body["externalIds"] == {"vendor": "202506", "operations": None}
        assert "processing" not in body and set(body["audit"]) == {"created", "updated", "draft"}

    def test_due_date_defaults_to_the_first_of_next_month(self, api, vendor):
        due = create_journal(api, vendor)["dueDate"]
        assert due.endswith("-01T00:00:00.000Z")

    def test_authorization_of_another_vendor_is_not_found(self, api, vendor):
        response = api.post("/journals", headers=vendor, json={"name": "x", "authorization": {"id": OTHER_AUTH["id"]}})
        assert response.status_code == 400
        assert response.json()["errors"] == {"authorization.id": [f"Authorization '{OTHER_AUTH['id']}' was not found."]}

    @pytest.mark.parametrize(
        "body", [{}, {"name": "x"}, {"authorization": {"id": "AUT-1"}}, {"name": "", "authorization": {"id": "AUT-1"}}]
    )
    def test_required_fields(self, api, vendor, body):
        assert api.post("/journals", headers=vendor, json=body).status_code == 400

    def test_only_vendors_create(self, api, ops, client):
        body = {"name": "x", "authorization": {"id": VENDOR_AUTH["id"]}}
        assert api.post("/journals", headers=ops, json=body).status_code == 403
        assert api.post("/journals", headers=client, json=body).status_code == 403


class TestScopingAndViews:
    def test_vendor_sees_only_its_journals_ops_see_all(self, api, vendor, ops, demo_world):
        mine = create_journal(api, vendor)
        other = bearer(demo_world["vendor2"])
        assert api.get(f"/journals/{mine['id']}", headers=other).status_code == 404
        assert api.get("/journals", headers=other).json()["$meta"]["pagination"]["total"] == 0
        assert api.get(f"/journals/{mine['id']}/charges", headers=other).status_code == 404
        listing = api.get("/journals", headers=ops).json()
        assert [j["id"] for j in listing["data"]] == [mine["id"]]
        assert listing["$meta"]["omitted"] == ["processing", "audit"]
        assert "totalSP" in api.get(f"/journals/{mine['id']}", headers=ops).json()["price"]

    def test_rql_on_journals(self, api, vendor):
        first = create_journal(api, vendor, externalIds={"vendor": "A"})
        create_journal(api, vendor, externalIds={"vendor": "B"})
        query = f"and(eq(authorization.id,'{VENDOR_AUTH['id']}'),eq(externalIds.vendor,A),ne(status,Deleted))"
        found = api.get(f"/journals?{query}", headers=vendor).json()["data"]
        assert [j["id"] for j in found] == [first["id"]]
        assert api.get("/journals?eq(price.totalSP,1)", headers=vendor).status_code == 400  # hidden from vendors


class TestUpdate:
    def test_fields_writable_by_role(self, api, vendor, ops):
        journal = create_journal(api, vendor)
        by_vendor = api.put(
            f"/journals/{journal['id']}",
            headers=vendor,
            json={
                "name": "renamed",
                "externalIds": {"vendor": "V", "operations": "ignored"},
                "dueDate": "2025-09-01",
                "status": "Completed",
            },
        ).json()
        assert (by_vendor["name"], by_vendor["externalIds"], by_vendor["status"]) == (
            "renamed",
            {"vendor": "V", "operations": None},
            "Draft",
        )
        by_ops = api.put(
            f"/journals/{journal['id']}",
            headers=ops,
            json={
                "externalIds": {"operations": "O", "vendor": "ignored"},
                "assignee": {"id": OPS_USER["id"]},
                "dueDate": "2030-01-01",
            },
        ).json()
        assert by_ops["externalIds"] == {"vendor": "V", "operations": "O"}
        assert by_ops["assignee"] == {"id": OPS_USER["id"], "name": OPS_USER["name"], "icon": ""}
        assert by_ops["dueDate"] == "2025-09-01T00:00:00.000Z"

    def test_assignee_must_be_an_operations_user(self, api, vendor, ops):
        journal = create_journal(api, vendor)
        response = api.put(f"/journals/{journal['id']}", headers=ops, json={"assignee": {"id": "USR-0000-9999"}})
        assert response.status_code == 400 and "assignee.id" in response.json()["errors"]

    def test_vendor_cannot_edit_in_review(self, api, vendor, ops, db):
        journal = create_journal(api, vendor)
        set_status(db, journal["id"], "Review")
        response = api.put(f"/journals/{journal['id']}", headers=vendor, json={"name": "late"})
        assert response.status_code == 409
        assert response.json()["type"] == "urn:billing:problem:invalid-status"
        assert api.put(f"/journals/{journal['id']}", headers=ops, json={"name": "ops may"}).json()["name"] == "ops may"


class TestTransitions:
    def test_delete_keeps_the_journal_readable(self, api, vendor):
        journal = create_journal(api, vendor)
        assert api.delete(f"/journals/{journal['id']}", headers=vendor).status_code == 204
        deleted = api.get(f"/journals/{journal['id']}", headers=vendor).json()
        assert deleted["status"] == "Deleted" and "deleted" in deleted["audit"]
        again = api.delete(f"/journals/{journal['id']}", headers=vendor)
        assert again.status_code == 409
        assert again.json()["detail"] == (
            f"Journal {journal['id']} is in status Deleted; 'delete' requires Draft, Validated or Error."
        )

    def test_submit_needs_validated(self, api, vendor, db):
        journal = create_journal(api, vendor)
        refused = api.post(f"/journals/{journal['id']}/submit", headers=vendor)
        assert refused.status_code == 409 and "'submit' requires Validated" in refused.json()["detail"]
        set_status(db, journal["id"], "Validated", upload_total=2, upload_ready=2)
        submitted = api.post(f"/journals/{journal['id']}/submit", headers=vendor).json()
        assert submitted["status"] == "Review" and "review" in submitted["audit"]

    def test_enquiry_with_notes_and_its_alias(self, api, vendor, ops, db):
        journal = create_journal(api, vendor)
        set_status(db, journal["id"], "Review", upload_total=1, upload_ready=1)
        asked = api.post(f"/journals/{journal['id']}/inquire", headers=ops, json={"notes": "Why so high?"}).json()
        assert (asked["status"], asked["notes"]) == ("Enquiring", "Why so high?")
        assert api.post(f"/journals/{journal['id']}/enquiry", headers=ops).status_code == 409

    def test_accept_hands_the_journal_to_rating_through_a_work_item(self, api, vendor, ops, db):
        journal = create_journal(api, vendor)
        set_status(db, journal["id"], "Review", upload_total=3, upload_ready=3)
        accepted = api.post(f"/journals/{journal['id']}/accept", headers=ops).json()
        assert accepted["status"] == "Generating" and "generating" in accepted["audit"]
        with db.read_scope() as session:
            items = session.query(WorkItem).filter_by(kind="journal.rate", object_id=journal["id"]).all()
        assert [(item.state, item.attempts) for item in items] == [("pending", 0)]

    def test_accept_refused_with_charge_errors(self, api, vendor, ops, db):
        journal = create_journal(api, vendor)
        set_status(db, journal["id"], "Review", upload_total=3, upload_ready=2, upload_error=1)
        response = api.post(f"/journals/{journal['id']}/accept", headers=ops)
        assert response.status_code == 409
        assert api.get(f"/journals/{journal['id']}", headers=ops).json()["status"] == "Review"

    def test_complete_from_generated_or_accepted(self, api, vendor, ops, db):
        journal = create_journal(api, vendor)
        assert api.post(f"/journals/{journal['id']}/complete", headers=ops).status_code == 409
        set_status(db, journal["id"], "Accepted")
        assert api.post(f"/journals/{journal['id']}/complete", headers=ops).json()["status"] == "Completed"

    def test_regenerate_needs_an_uploaded_file(self, api, vendor, ops, db):
        journal = create_journal(api, vendor)
        set_status(db, journal["id"], "Review")
        response = api.post(f"/journals/{journal['id']}/regenerate", headers=ops)
        assert response.status_code == 400 and "file" in response.json()["errors"]

    @pytest.mark.parametrize(("action", "role"), [("submit", "ops"), ("accept", "vendor"), ("regenerate", "vendor")])
    def test_wrong_role_is_403(self, api, vendor, ops, action, role):
        journal = create_journal(api, vendor)
        headers = {"ops": ops, "vendor": vendor}[role]
        assert api.post(f"/journals/{journal['id']}/{action}", headers=headers).status_code == 403
