"""Manual overrides end to end through the API (billing-api.md §5.7, §6.12, §7.7)."""

from __future__ import annotations

import pytest

from billing.reference.demo import DEMO_ACCOUNTS

CLIENT = DEMO_ACCOUNTS["client"]
CLIENT2 = DEMO_ACCOUNTS["client2"]
VENDOR = DEMO_ACCOUNTS["vendor"]
VENDOR2 = DEMO_ACCOUNTS["vendor2"]


def create(api, ops, client=CLIENT, vendor=VENDOR, **extra):
    response = api.post(
        "/manual-overrides", headers=ops, json={"client": {"id": client}, "vendor": {"id": vendor}, **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()


class TestCreate:
    def test_created_active_with_references_and_audit(self, api, ops):
        response = api.post(
            "/manual-overrides",
            headers=ops,
            json={
                "client": {"id": CLIENT},
                "vendor": {"id": VENDOR},
                "name": "Manual",
                "externalId": "X-1",
                "notes": "n",
            },
        )
        assert response.status_code == 201
        body = response.json()
        assert response.headers["location"] == f"/public/v1/billing/manual-overrides/{body['id']}"
        assert body["$meta"] == {"omitted": []}
        assert body["id"].startswith("BOV-") and len(body["id"]) == 13
        assert body["status"] == "Active"
        assert body["client"] == {
            "id": CLIENT,
            "name": body["client"]["name"],
            "icon": "",
            "type": "Client",
            "status": "Active",
        }
        assert body["vendor"]["type"] == "Vendor"
        assert (body["name"], body["externalId"], body["notes"]) == ("Manual", "X-1", "n")
        assert set(body["audit"]) == {"created", "updated", "active"}
        assert body["audit"]["created"]["by"]["id"].startswith("TKN-")
        assert body["audit"]["created"]["at"].endswith("Z")

    def test_property_names_bind_case_insensitively(self, api, ops):
        body = create(api, ops, NAME="upper")  # noqa: F841 — unknown key casing
        response = api.post(
            "/manual-overrides",
            headers=ops,
            json={"CLIENT": {"ID": CLIENT2}, "Vendor": {"iD": VENDOR}, "Name": "mixed", "EXTERNALID": "E"},
        )
        assert response.status_code == 201, response.text
        assert (response.json()["name"], response.json()["externalId"]) == ("mixed", "E")

    def test_second_override_for_the_pair_is_a_conflict_in_any_status(self, api, ops):
        first = create(api, ops)
        assert api.post(f"/manual-overrides/{first['id']}/disable", headers=ops).status_code == 200
        response = api.post("/manual-overrides", headers=ops, json={"client": {"id": CLIENT}, "vendor": {"id": VENDOR}})
        assert response.status_code == 409
        problem = response.json()
        assert problem["type"] == "urn:billing:problem:conflict"
        assert first["id"] in problem["detail"]

    @pytest.mark.parametrize(
        ("body", "path", "fragment"),
        [
            ({"vendor": {"id": VENDOR}}, "client", "required"),
            ({"client": {"id": CLIENT}}, "vendor", "required"),
            ({"client": {"id": VENDOR}, "vendor": {"id": VENDOR}}, "client.id", "expected Client"),
            ({"client": {"id": CLIENT}, "vendor": {"id": CLIENT}}, "vendor.id", "expected Vendor"),
            ({"client": {"id": "ACC-9999-9999"}, "vendor": {"id": VENDOR}}, "client.id", "was not found"),
            ({"client": "ACC-1", "vendor": {"id": VENDOR}}, "client", "JSON object"),
            ({"client": {"id": CLIENT}, "vendor": {"id": VENDOR}, "name": 5}, "name", "string"),
            ({"client": {"id": CLIENT}, "vendor": {"id": VENDOR}, "name": "x" * 256}, "name", "255"),
            ({"client": {"id": CLIENT}, "vendor": {"id": VENDOR}, "notes": "x" * 4001}, "notes", "4000"),
        ],
    )
    def test_invalid_bodies_are_precise_400s(self, api, ops, body, path, fragment):
        response = api.post("/manual-overrides", headers=ops, json=body)
        assert response.status_code == 400, response.text
        problem = response.json()
        assert problem["type"] == "urn:billing:problem:validation"
        assert any(fragment in message for message in problem["errors"][path]), problem

    def test_failed_create_leaves_nothing(self, api, ops):
        api.post("/manual-overrides", headers=ops, json={"client": {"id": CLIENT}, "vendor": {"id": CLIENT}})
        assert api.get("/manual-overrides?limit=0", headers=ops).json()["$meta"]["pagination"]["total"] == 0


class TestReadAndList:
    def test_get_by_id_is_case_insensitive_and_unknown_is_404(self, api, ops):
        created = create(api, ops)
        assert api.get(f"/manual-overrides/{created['id'].lower()}", headers=ops).json()["id"] == created["id"]
        missing = api.get("/manual-overrides/BOV-0000-0001", headers=ops)
        assert missing.status_code == 404
        assert missing.json()["detail"] == "Manual override BOV-0000-0001 was not found."
        assert api.get("/manual-overrides/not-an-id", headers=ops).status_code == 404

    def test_alias_collection_serves_the_same_objects(self, api, ops):
        created = create(api, ops)
        assert (
            api.get(f"/overrides/{created['id']}", headers=ops).json()
            == api.get(f"/manual-overrides/{created['id']}", headers=ops).json()
        )
        assert api.get("/overrides/", headers=ops).json()["data"][0]["id"] == created["id"]

    def test_list_core_fields_filter_order_and_paging(self, api, ops):
        first = create(api, ops, name="b")
        second = create(api, ops, client=CLIENT2, name="a")
        third = create(api, ops, vendor=VENDOR2, name="c")
        api.post(f"/manual-overrides/{third['id']}/disable", headers=ops)

        listing = api.get("/manual-overrides", headers=ops).json()
        assert listing["$meta"]["pagination"] == {"offset": 0, "limit": 10, "total": 3}
        assert listing["$meta"]["omitted"] == ["audit"]
        assert [item["id"] for item in listing["data"]] == [
            third["id"],
            second["id"],
            first["id"],
        ]  # newest first
        assert all("audit" not in item and item["$meta"] == {"omitted": ["audit"]} for item in listing["data"])

        active = api.get("/manual-overrides?eq(status,active)&order=name", headers=ops).json()
        assert [item["name"] for item in active["data"]] == ["a", "b"]
        by_vendor = api.get(f"/manual-overrides?vendor.id={VENDOR2.lower()}", headers=ops).json()
        assert [item["id"] for item in by_vendor["data"]] == [third["id"]]
        page = api.get("/manual-overrides?order=-name&limit=1&offset=1", headers=ops).json()
        assert [item["name"] for item in page["data"]] == ["b"]
        assert page["$meta"]["pagination"] == {"offset": 1, "limit": 1, "total": 3}
        assert api.get("/manual-overrides?limit=5000", headers=ops).json()["$meta"]["pagination"]["limit"] == 1000

    def test_select_adds_and_removes_fields(self, api, ops):
        create(api, ops)
        item = api.get("/manual-overrides?select=-*,id,status,audit.created", headers=ops).json()["data"][0]
        assert set(item) == {"$meta", "id", "status", "audit"}
        assert set(item["audit"]) == {"created"}
        assert item["$meta"]["omitted"] == ["name", "client", "vendor", "externalId", "notes"]

    @pytest.mark.parametrize(
        ("query", "fragment"),
        [
            ("eq(status,Nope)", "not valid for enum property 'status'"),
            ("eq(unknown,1)", "Unknown property 'unknown'"),
            ("eq(status,Active", "position"),
            ("limit=-1", "'limit'"),
            ("offset=abc", "'offset'"),
            ("order=client", "Unknown property 'client'"),
            ("rql=active", "Unknown property 'rql'"),
        ],
    )
    def test_query_errors_are_invalid_query_problems(self, api, ops, query, fragment):
        response = api.get(f"/manual-overrides?{query}", headers=ops)
        assert response.status_code == 400
        problem = response.json()
        assert problem["type"] == "urn:billing:problem:invalid-query"
        assert any(fragment in message for message in problem["errors"]["query"]), problem


class TestUpdateAndActions:
    def test_put_is_a_partial_update_and_null_clears(self, api, ops):
        created = create(api, ops, name="n", notes="keep", externalId="E")
        updated = api.put(
            f"/manual-overrides/{created['id']}",
            headers=ops,
            json={"NAME": "renamed", "externalId": None, "status": "Disabled", "client": {"id": CLIENT2}},
        )
        assert updated.status_code == 200, updated.text
        body = updated.json()
        assert (body["name"], body["notes"], body["externalId"], body["status"]) == (
            "renamed",
            "keep",
            None,
            "Active",
        )
        assert body["client"]["id"] == CLIENT  # create-only and read-only input ignored
        assert body["audit"]["updated"]["at"] >= created["audit"]["updated"]["at"]

    def test_disable_then_enable_records_events(self, api, ops):
        created = create(api, ops)
        disabled = api.post(f"/manual-overrides/{created['id']}/disable", headers=ops).json()
        assert disabled["status"] == "Disabled" and "disabled" in disabled["audit"]
        enabled = api.post(f"/overrides/{created['id']}/enable", headers=ops).json()
        assert enabled["status"] == "Active" and {"active", "disabled"} <= set(enabled["audit"])

    def test_action_from_wrong_status_is_409_naming_the_statuses(self, api, ops):
        created = create(api, ops)
        response = api.post(f"/manual-overrides/{created['id']}/enable", headers=ops)
        assert response.status_code == 409
        problem = response.json()
        expected = f"Manual override {created['id']} is in status Active; 'enable' requires Disabled."
        assert problem["type"] == "urn:billing:problem:invalid-status"
        assert problem["detail"] == expected and problem["errors"] == {"status": [expected]}

    def test_action_body_is_applied_atomically(self, api, ops):
        created = create(api, ops, name="before")
        refused = api.post(f"/manual-overrides/{created['id']}/enable", headers=ops, json={"name": "lost"})
        assert refused.status_code == 409
        assert api.get(f"/manual-overrides/{created['id']}", headers=ops).json()["name"] == "before"
        done = api.post(f"/manual-overrides/{created['id']}/disable", headers=ops, json={"name": "kept"})
        assert (done.json()["name"], done.json()["status"]) == ("kept", "Disabled")

    def test_action_accepts_an_empty_body_with_any_content_type(self, api, ops):
        created = create(api, ops)
        response = api.post(
            f"/manual-overrides/{created['id']}/disable",
            headers={**ops, "Content-Type": "text/plain"},
            content=b"",
        )
        assert response.status_code == 200

    def test_roles_other_than_operations_are_forbidden(self, api, ops, vendor, client):
        created = create(api, ops)
        for headers in (vendor, client):
            assert api.get(f"/manual-overrides/{created['id']}", headers=headers).status_code == 403
            assert api.post(f"/manual-overrides/{created['id']}/disable", headers=headers).status_code == 403
