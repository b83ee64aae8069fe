"""Reference data through the API and the CLI loader (billing-api.md §11.1)."""

from __future__ import annotations

import yaml

from billing.reference.demo import DEMO_ACCOUNTS
from conftest import bearer

MINIMAL = """
accounts:
  - {id: ACC-0000-0001, type: Operations, name: Operator}
  - {id: ACC-3102-8586, type: Vendor, name: Vendor Co}
  - {id: ACC-8119-0187, type: Client, name: Contoso}
api-tokens:
  - {id: TKN-0000-0001, name: ops-bootstrap, account: ACC-0000-0001, secret: "change-me"}
sellers:
  - id: SEL-7032-1456
    name: Operator Inc.
    externalId: US
    address: {country: US}
    currencies: [USD]
    erpLink: {id: ERP-US, name: Operator Inc. (NAV US), status: Active}
    erp: {company: CRONUS US, countryCode: US}
buyers:
  - {id: BUY-3731-7971, name: Contoso Ltd, client: ACC-8119-0187,
     erpCustomers: [{seller: SEL-7032-1456, customerNo: US-SCU-100064}]}
products:
  - {id: PRD-2426-7318, name: Cloud Suite, vendor: ACC-3102-8586}
items:
  - {id: ITM-2426-7318-0001, name: Standard seat, product: PRD-2426-7318,
     externalIds: {vendor: SKU-STD-01, operations: CS01.00001.MP}}
authorizations:
  - {id: AUT-5305-9928, name: Cloud Suite US, vendor: ACC-3102-8586, product: PRD-2426-7318,
     owner: SEL-7032-1456, currency: USD}
agreements:
  - {id: AGR-3617-1129-0665, name: Contoso Cloud Suite, client: ACC-8119-0187, buyer: BUY-3731-7971,
     seller: SEL-7032-1456, product: PRD-2426-7318, vendor: ACC-3102-8586, defaultMarkup: 12}
subscriptions:
  - {id: SUB-0356-5642-8669, name: Seats, agreement: AGR-3617-1129-0665, items: [ITM-2426-7318-0001],
     price: {markup: 15}, externalIds: {vendor: tenant-77-seats}}
pricing-policies:
  - {id: PRP-0001-0001, name: Contoso default, client: ACC-8119-0187, products: [], markup: 10}
"""


def total(api, headers, entity):
    return api.get(f"/reference/{entity}?limit=0", headers=headers).json()["$meta"]["pagination"]["total"]


class TestImport:
    def test_yaml_import_of_the_spec_example_replaces_the_world(self, api, ops):
        response = api.post(
            "/reference/import?mode=replace",
            headers={**ops, "Content-Type": "application/yaml"},
            content=MINIMAL,
        )
        assert response.status_code == 200, response.text
        counts = response.json()
        assert counts["updated"]["accounts"] >= 1 and "api-tokens" in counts["removed"]
        # the demo tokens went away with the replace; the file's token works now
        fresh = bearer("change-me")
        assert api.get("/reference/accounts", headers=ops).status_code == 401
        assert total(api, fresh, "agreements") == 1
        assert total(api, fresh, "subscriptions") == 1

    def test_merge_import_is_an_upsert(self, api, ops):
        before = total(api, ops, "accounts")
        doc = {"accounts": [{"id": "ACC-7777-0001", "type": "Client", "name": "New client"}]}
        response = api.post("/reference/import", headers=ops, json=doc)
        assert response.json() == {"created": {"accounts": 1}, "updated": {}, "removed": {}}
        assert total(api, ops, "accounts") == before + 1
        unchanged = api.post("/reference/import", headers=ops, json=doc)
        assert unchanged.json() == {"created": {}, "updated": {}, "removed": {}}  # identical docs are no-ops
        doc["accounts"][0]["name"] = "Renamed"
        assert api.post("/reference/import", headers=ops, json=doc).json()["updated"] == {"accounts": 1}

    def test_invalid_import_reports_every_problem_by_path_and_changes_nothing(self, api, ops):
        export_before = api.get("/reference/export", headers=ops).json()
        doc = {
            "accounts": [
                {"id": "ACC-7777-0001", "type": "Client", "name": "ok"},
                {"id": "bad", "type": "Nope"},
            ],
            "agreements": [{"id": "AGR-1111", "name": "x", "client": "ACC-9999-9999"}],
        }
        response = api.post("/reference/import", headers=ops, json=doc)
        assert response.status_code == 400
        errors = response.json()["errors"]
        assert {"accounts[1].id", "accounts[1].type", "accounts[1].name"} <= set(errors)
        assert any(key.startswith("agreements[0].") for key in errors)
        assert api.get("/reference/export", headers=ops).json() == export_before

    def test_replace_refuses_to_remove_what_billing_objects_use(self, api, ops):
        body = {"client": {"id": DEMO_ACCOUNTS["client"]}, "vendor": {"id": DEMO_ACCOUNTS["vendor"]}}
        assert api.post("/manual-overrides", headers=ops, json=body).status_code == 201
        exported = api.get("/reference/export", headers=ops).json()
        kept = [a for a in exported["accounts"] if a["id"] != DEMO_ACCOUNTS["client"]]
        response = api.post("/reference/import?mode=replace", headers=ops, json={**exported, "accounts": kept})
        assert response.status_code in (400, 409)
        assert total(api, ops, "accounts") == len(api.get("/reference/export", headers=ops).json()["accounts"])

    def test_import_content_types(self, api, ops):
        assert (
            api.post("/reference/import", headers={**ops, "Content-Type": "text/csv"}, content=b"a,b").status_code
            == 415
        )
        bad_yaml = api.post("/reference/import", headers={**ops, "Content-Type": "text/yaml"}, content=b"a: [1, 2")
        assert bad_yaml.status_code == 400
        bad_mode = api.post("/reference/import?mode=wipe", headers=ops, json={})
        assert bad_mode.status_code == 400

    def test_export_round_trips_and_hides_secrets(self, api, ops):
        exported = api.get("/reference/export", headers=ops).json()
        assert all("secret" not in token for token in exported["api-tokens"])
        response = api.post("/reference/import?mode=replace", headers=ops, json=exported)
        assert response.status_code == 200, response.text
        assert response.json()["created"] == {} and response.json()["removed"] == {}
        assert api.get("/reference/export", headers=ops).json() == exported


class TestEntityEndpoints:
    def test_crud_cycle(self, api, ops):
        body = {"id": "acc-5555-0001", "type": "Client", "name": "Fresh"}
        created = api.post("/reference/accounts", headers=ops, json=body)
        assert created.status_code == 201, created.text
        assert created.json()["id"] == "ACC-5555-0001"
        assert created.headers["location"].endswith("/reference/accounts/ACC-5555-0001")
        assert api.post("/reference/accounts", headers=ops, json=body).status_code == 400  # duplicate id
        updated = api.put("/reference/accounts/acc-5555-0001", headers=ops, json={"NAME": "Renamed"})
        assert (updated.json()["name"], updated.json()["type"]) == ("Renamed", "Client")
        assert set(updated.json()["audit"]) == {"created", "updated"}
        assert api.delete("/reference/accounts/ACC-5555-0001", headers=ops).status_code == 204
        assert api.get("/reference/accounts/ACC-5555-0001", headers=ops).status_code == 404

    def test_delete_of_referenced_object_is_409(self, api, ops):
        response = api.delete(f"/reference/accounts/{DEMO_ACCOUNTS['vendor']}", headers=ops)
        assert response.status_code == 409
        assert "disable it instead" in response.json()["detail"]

    def test_unknown_entity_is_404(self, api, ops):
        assert api.get("/reference/widgets", headers=ops).status_code == 404

    def test_rql_on_reference_lists(self, api, ops):
        clients = api.get("/reference/accounts?eq(type,client)&limit=100", headers=ops).json()["data"]
        assert clients and all(account["type"] == "Client" for account in clients)
        agreements = api.get(f"/reference/agreements?eq(client.id,{DEMO_ACCOUNTS['client']})", headers=ops).json()
        assert agreements["$meta"]["pagination"]["total"] > 0
        assert all(a["client"] == DEMO_ACCOUNTS["client"] for a in agreements["data"])

    def test_tokens_are_never_returned_and_new_tokens_authenticate(self, api, ops):
        created = api.post(
            "/reference/api-tokens",
            headers=ops,
            json={
                "id": "TKN-5555-0001",
                "name": "new",
                "account": DEMO_ACCOUNTS["client"],
                "secret": "s3cret",
            },
        )
        assert created.status_code == 201, created.text
        assert "secret" not in created.json() and "secretSha256" not in created.json()
        assert api.get("/manual-overrides", headers=bearer("s3cret")).status_code == 403  # authenticated as Client
        api.put("/reference/api-tokens/TKN-5555-0001", headers=ops, json={"status": "Disabled"})
        assert api.get("/manual-overrides", headers=bearer("s3cret")).status_code == 401


class TestLoader:
    def test_yaml_file_import_through_the_loader(self, db, tmp_path):
        from billing.reference.loader import import_file

        path = tmp_path / "ref.yaml"
        path.write_text(MINIMAL)
        counts = import_file(db, path, "merge")
        assert counts["created"]["agreements"] == 1
        assert yaml.safe_load(MINIMAL)["accounts"][0]["id"] == "ACC-0000-0001"
