"""The capability matrix (billing-api.md §2.2–2.3), data scoping (§2.4) and the order of checks (§2.5).

Every route is registered from a row of `CAPABILITIES`; these tests prove the routes and the rows are the same
set, then walk every row (and alias) with every kind of caller.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from billing.api.app import PENDING_ISSUES, create_app
from billing.api.routing import BASE_PATH
from billing.auth.capabilities import CAPABILITIES, PUBLIC_PATHS, Capability
from billing.auth.principal import Role
from billing.reference.demo import DEMO_ACCOUNTS, DEMO_TOKENS

PROBLEM = "application/problem+json"
TRACE = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-00$")
SECOND_OPERATIONS = "ACC-0000-0002"  # "Marketplace Finance" in the demo dataset
SECOND_OPERATIONS_SECRET = "matrix-second-operations-token"

#: Well-formed ids (billing-api.md §12.1) of objects that do not exist, by path parameter.
PARAM_IDS = {
    "journalId": "BJO-1111-2222",
    "ledgerId": "BLE-1111-2222-3333-4444",
    "customLedgerId": "CLE-1111-2222",
    "statementId": "SOM-1111-2222-3333-4444-5555",
    "invoiceId": "INV-1111-2222-3333-4444",
    "creditMemoId": "CRD-1111-2222-3333-4444",
    "overrideId": "BOV-1111-2222",
    "chargeId": "CHG-1111-2222-0000-0000-0100",
    "sellerId": "SEL-1111-2222",
    "entity": "accounts",
}
#: Attachment and line ids depend on the parent collection.
ATTACHMENT_IDS = {
    "journals": "JOA-1111-2222",
    "ledgers": "LEA-1111-2222",
    "custom-ledgers": "CLA-1111-2222",
    "statements": "SOA-1111-2222-3333",
    "invoices": "INA-1111-2222-3333",
    "credit-memos": "CMA-1111-2222-3333",
}
LINE_IDS = {"invoices": "INL-1111-2222-3333-4444-0001", "credit-memos": "CRL-1111-2222-3333-4444-0001"}
EXISTING_ACCOUNT = DEMO_ACCOUNTS["operations"]
MISSING_ACCOUNT = "ACC-9999-9999"

#: Callers: role key → (role, demo token key). "…2" are a second tenant of the same role.
CALLERS: dict[str, Role] = {
    "client": Role.CLIENT,
    "client2": Role.CLIENT,
    "vendor": Role.VENDOR,
    "vendor2": Role.VENDOR,
    "operations": Role.OPERATIONS,
    "operations2": Role.OPERATIONS,
}


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def concrete(path: str, method: str) -> str:
    """The capability path with every parameter replaced by a well-formed id."""
    collection = path.strip("/").split("/")[0]

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "attachmentId":
            return ATTACHMENT_IDS[collection]
        if name == "lineId":
            return LINE_IDS[collection]
        if name == "referenceId":
            # GET reads an object that exists; writes address one that does not (the demo stays intact).
            return EXISTING_ACCOUNT if method == "GET" else MISSING_ACCOUNT
        return PARAM_IDS[name]

    return re.sub(r"\{(\w+)\}", value, path)


def _rows() -> list[tuple[Capability, str]]:
    return [(cap, path) for cap in CAPABILITIES for path in cap.paths]


ROWS = _rows()


def _row_id(row: tuple[Capability, str]) -> str:
    cap, path = row
    return f"{cap.method} {path}"


def assert_problem(response: Any, status: int, suffix: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body = response.json()
    assert body["type"] == f"urn:billing:problem:{suffix}", body
    assert body["status"] == status
    assert TRACE.match(body["traceId"]) and body["traceId"] == response.headers["traceparent"]
    return body


def add_second_operations_token(api: TestClient, ops: dict[str, str]) -> dict[str, str]:
    """An api-token for the demo's second Operations account, created through the reference API."""
    token = {
        "id": "TKN-7777-0001",
        "name": "second operations",
        "account": SECOND_OPERATIONS,
        "secret": SECOND_OPERATIONS_SECRET,
    }
    response = api.post("/reference/api-tokens", headers=ops, json=token)
    assert response.status_code == 201, response.text
    return _bearer(SECOND_OPERATIONS_SECRET)


@pytest.fixture
def callers(api: TestClient, ops: dict[str, str], demo_world: dict[str, str]) -> dict[str, dict[str, str]]:
    headers = {key: _bearer(demo_world[key]) for key in CALLERS if key in demo_world}
    headers["operations2"] = add_second_operations_token(api, ops)
    assert set(headers) == set(CALLERS)
    return headers


# --- routes ⇔ rows ----------------------------------------------------------------------------------------


def _app_routes(settings: Any, db: Any) -> set[tuple[str, str]]:
    app = create_app(settings, db)
    routes: set[tuple[str, str]] = set()
    for route in app.routes:
        if not isinstance(route, APIRoute) or not route.path.startswith(BASE_PATH + "/"):
            continue
        relative = route.path[len(BASE_PATH) :]
        if relative in PUBLIC_PATHS:
            continue
        for method in route.methods:
            routes.add((method, relative))
    return routes


def test_every_route_maps_to_exactly_one_row(settings, db):
    declared: dict[tuple[str, str], list[str]] = {}
    for cap, path in ROWS:
        declared.setdefault((cap.method, path), []).append(cap.name)
    ambiguous = {key: names for key, names in declared.items() if len(names) > 1}
    assert not ambiguous, f"(method, path) declared by several rows: {ambiguous}"
    uncovered = sorted(_app_routes(settings, db) - set(declared))
    assert not uncovered, f"routes without a capability row: {uncovered}"


def test_every_row_and_alias_has_a_route(settings, db):
    missing = sorted({(cap.method, path) for cap, path in ROWS} - _app_routes(settings, db))
    assert not missing, f"capability rows without a route: {missing}"


def test_public_routes_need_no_token(api):
    assert api.get("/openapi.json").status_code == 200
    assert api.get("/health").status_code == 200


def test_post_ledgers_has_no_row():
    """§2.3: ledgers are only created by rating, so `POST /ledgers` must never become a capability."""
    assert not [cap for cap in CAPABILITIES if cap.method == "POST" and "/ledgers" in cap.paths]


#: billing-api.md §2.2, §2.3 and the §3.1 aliases, transcribed independently of `CAPABILITIES`:
#: "METHOD path roles" (C = Client, V = Vendor, O = Operations).
SPEC_MATRIX = """
GET /credit-memos C O
GET /credit-memos/{creditMemoId} C O
POST /credit-memos O
PUT /credit-memos/{creditMemoId} O
GET /credit-memos/{creditMemoId}/lines C O
GET /credit-memos/{creditMemoId}/lines/{lineId} C O
GET /credit-memos/{creditMemoId}/attachments C O
GET /credit-memos/{creditMemoId}/attachments/{attachmentId} C O
POST /credit-memos/{creditMemoId}/attachments O
PUT /credit-memos/{creditMemoId}/attachments/{attachmentId} O
DELETE /credit-memos/{creditMemoId}/attachments/{attachmentId} O
GET /custom-ledgers O
GET /custom-ledgers/{customLedgerId} O
POST /custom-ledgers O
PUT /custom-ledgers/{customLedgerId} O
DELETE /custom-ledgers/{customLedgerId} O
POST /custom-ledgers/{customLedgerId}/upload O
POST /custom-ledgers/{customLedgerId}/accept O
POST /custom-ledgers/{customLedgerId}/submit O
POST /custom-ledgers/{customLedgerId}/queue O
GET /custom-ledgers/{customLedgerId}/charges O
GET /custom-ledgers/{customLedgerId}/charges/{chargeId} O
GET /custom-ledgers/{customLedgerId}/attachments O
GET /custom-ledgers/{customLedgerId}/attachments/{attachmentId} O
POST /custom-ledgers/{customLedgerId}/attachments O
PUT /custom-ledgers/{customLedgerId}/attachments/{attachmentId} O
DELETE /custom-ledgers/{customLedgerId}/attachments/{attachmentId} O
GET /invoices C O
GET /invoices/{invoiceId} C O
POST /invoices O
PUT /invoices/{invoiceId} C O
GET /invoices/{invoiceId}/lines C O
GET /invoices/{invoiceId}/lines/{lineId} C O
GET /invoices/{invoiceId}/attachments C O
GET /invoices/{invoiceId}/attachments/{attachmentId} C O
POST /invoices/{invoiceId}/attachments O
PUT /invoices/{invoiceId}/attachments/{attachmentId} O
DELETE /invoices/{invoiceId}/attachments/{attachmentId} O
GET /journals V O
GET /journals/{journalId} V O
POST /journals V
DELETE /journals/{journalId} V
PUT /journals/{journalId} V O
POST /journals/{journalId}/upload V
POST /journals/{journalId}/submit V
POST /journals/{journalId}/regenerate O
POST /journals/{journalId}/enquiry O
POST /journals/{journalId}/inquire O
POST /journals/{journalId}/accept O
POST /journals/{journalId}/complete O
GET /journals/{journalId}/sellers V O
GET /journals/{journalId}/sellers/{sellerId} V O
GET /journals/{journalId}/charges V O
GET /journals/{journalId}/charges/{chargeId} V O
GET /journals/{journalId}/attachments V O
GET /journals/{journalId}/attachments/{attachmentId} V O
POST /journals/{journalId}/attachments V
PUT /journals/{journalId}/attachments/{attachmentId} V
DELETE /journals/{journalId}/attachments/{attachmentId} V
GET /ledgers O
GET /ledgers/{ledgerId} O
PUT /ledgers/{ledgerId} O
POST /ledgers/{ledgerId}/recalculate O
POST /ledgers/{ledgerId}/regenerate O
POST /ledgers/{ledgerId}/accept O
POST /ledgers/{ledgerId}/queue O
GET /ledgers/{ledgerId}/charges O
GET /ledgers/{ledgerId}/charges/{chargeId} O
GET /ledgers/{ledgerId}/attachments O
GET /ledgers/{ledgerId}/attachments/{attachmentId} O
POST /ledgers/{ledgerId}/attachments O
PUT /ledgers/{ledgerId}/attachments/{attachmentId} O
DELETE /ledgers/{ledgerId}/attachments/{attachmentId} O
GET /manual-overrides O
GET /manual-overrides/{overrideId} O
POST /manual-overrides O
PUT /manual-overrides/{overrideId} O
POST /manual-overrides/{overrideId}/disable O
POST /manual-overrides/{overrideId}/enable O
GET /overrides O
GET /overrides/{overrideId} O
POST /overrides O
PUT /overrides/{overrideId} O
POST /overrides/{overrideId}/disable O
POST /overrides/{overrideId}/enable O
GET /statements C O
GET /statements/{statementId} C O
PUT /statements/{statementId} O
POST /statements/{statementId}/retry O
POST /statements/{statementId}/recalculate O
POST /statements/{statementId}/regenerate O
POST /statements/{statementId}/cancel O
POST /statements/{statementId}/queue O
POST /statements/{statementId}/pending O
POST /statements/{statementId}/issue O
POST /statements/{statementId}/error O
GET /statements/{statementId}/charges C O
GET /statements/{statementId}/charges/{chargeId} C O
GET /statements/{statementId}/attachments C O
GET /statements/{statementId}/attachments/{attachmentId} C O
GET /statements/{statementId}/erp-attempts O
POST /statements/{statementId}/attachments O
PUT /statements/{statementId}/attachments/{attachmentId} O
DELETE /statements/{statementId}/attachments/{attachmentId} O
POST /reference/import O
GET /reference/export O
GET /reference/{entity} O
POST /reference/{entity} O
GET /reference/{entity}/{referenceId} O
PUT /reference/{entity}/{referenceId} O
DELETE /reference/{entity}/{referenceId} O
GET /reports/reconciliation O
"""
LETTERS = {"C": Role.CLIENT, "V": Role.VENDOR, "O": Role.OPERATIONS}


def test_capabilities_match_the_published_matrix():
    spec: dict[tuple[str, str], frozenset[Role]] = {}
    for line in SPEC_MATRIX.strip().splitlines():
        method, path, *letters = line.split()
        assert (method, path) not in spec, line
        spec[(method, path)] = frozenset(LETTERS[letter] for letter in letters)
    code = {(cap.method, path): cap.roles for cap, path in ROWS}
    differences = [
        f"{method} {path}: spec {sorted(spec.get((method, path), ()))} code {sorted(code.get((method, path), ()))}"
        for method, path in sorted(set(spec) | set(code))
        if spec.get((method, path)) != code.get((method, path))
    ]
    assert not differences, "\n".join(differences)


# --- every row × every caller ------------------------------------------------------------------------------


@pytest.mark.parametrize("row", ROWS, ids=[_row_id(row) for row in ROWS])
def test_row_answers_each_caller_by_role(api, callers, row):
    cap, path = row
    url = concrete(path, cap.method)
    kwargs: dict[str, Any] = {"json": {}} if cap.method in ("POST", "PUT") else {}

    anonymous = api.request(cap.method, url, **kwargs)
    assert_problem(anonymous, 401, "unauthorized")
    assert anonymous.headers["www-authenticate"] == "Bearer"

    wrong: list[str] = []
    for key, role in CALLERS.items():
        response = api.request(cap.method, url, headers=callers[key], **kwargs)
        media = response.headers.get("content-type", "").split(";")[0]
        if not cap.allows(role):
            if response.status_code != 403 or media != PROBLEM or "forbidden" not in response.text:
                wrong.append(f"{key}: expected 403 forbidden, got {response.status_code} {response.text[:200]}")
            continue
        if response.status_code in (401, 403, 405) or (response.status_code >= 500 and response.status_code != 501):
            wrong.append(f"{key}: allowed role got {response.status_code} {response.text[:200]}")
        elif response.status_code != 204 and media not in (PROBLEM, "application/json"):
            wrong.append(f"{key}: {response.status_code} with content type {media!r}")
        elif cap.resource in PENDING_ISSUES and response.status_code == 501:
            assert response.json()["type"] == "urn:billing:problem:not-implemented"
    assert not wrong, f"{cap.method} {url}:\n" + "\n".join(wrong)


def test_pending_rows_answer_501_after_the_role_check(api, callers):
    """A route whose domain is not built yet still refuses the wrong role with 403 and only then says 501."""
    path = "/ledgers/BLE-1111-2222-3333-4444/accept"
    assert_problem(api.post(path, headers=callers["vendor"]), 403, "forbidden")
    response = api.post(path, headers=callers["operations"])
    if response.status_code == 501:
        assert_problem(response, 501, "not-implemented")
    else:  # the ledgers domain has been delivered: the ledger does not exist
        assert_problem(response, 404, "not-found")


# --- §2.4 data scoping --------------------------------------------------------------------------------------


def _create_override(api: TestClient, headers: dict[str, str]) -> dict[str, Any]:
    body = {
        "client": {"id": DEMO_ACCOUNTS["client"]},
        "vendor": {"id": DEMO_ACCOUNTS["vendor"]},
        "name": "scoped",
    }
    response = api.post("/manual-overrides", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_operations_see_overrides_created_by_another_operations_account(api, callers):
    created = _create_override(api, callers["operations"])
    for alias in ("/manual-overrides", "/overrides"):
        listed = api.get(alias, headers=callers["operations2"])
        assert listed.status_code == 200, listed.text
        assert [item["id"] for item in listed.json()["data"]] == [created["id"]]
        assert listed.json()["$meta"]["pagination"]["total"] == 1


def test_operations_read_overrides_created_by_another_operations_account(api, callers):
    created = _create_override(api, callers["operations"])
    response = api.get(f"/manual-overrides/{created['id']}", headers=callers["operations2"])
    assert response.status_code == 200, response.text
    assert response.json()["id"] == created["id"]
    assert response.json()["audit"]["created"]["by"]["id"] == "TKN-0000-0001"


def test_operations_change_overrides_created_by_another_operations_account(api, callers):
    created = _create_override(api, callers["operations"])
    path = f"/overrides/{created['id'].lower()}"
    response = api.put(path, headers=callers["operations2"], json={"notes": "checked by finance"})
    assert response.status_code == 200, response.text
    assert response.json()["audit"]["updated"]["by"]["id"] == "TKN-7777-0001"
    response = api.post(f"{path}/disable", headers=callers["operations2"])
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "Disabled"


def _journal_rows() -> list[tuple[Capability, str]]:
    return [(cap, path) for cap, path in ROWS if cap.resource == "journal" and "{journalId}" in path]


def _same_problem(response: Any, reference: Any, real_id: str, missing_id: str) -> None:
    """Out of scope answers exactly as a non-existent object (§2.4): same status, type, title and detail."""
    body, expected = response.json(), reference.json()
    assert (response.status_code, body["type"], body["title"]) == (
        reference.status_code,
        expected["type"],
        expected["title"],
    )
    assert body["detail"].replace(real_id, missing_id) == expected["detail"]
    assert body.get("errors") == expected.get("errors")


def test_journal_scoping_applies_to_every_journal_row(api, callers):
    """Another vendor gets 404 on every route under a vendor's journal — reads, writes, actions, children —
    with the body a non-existent journal gets; the journal is left untouched. Operations see it."""
    authorizations = api.get(
        f"/reference/authorizations?eq(vendor.id,{DEMO_ACCOUNTS['vendor']})", headers=callers["operations"]
    )
    assert authorizations.status_code == 200, authorizations.text
    body = {"name": "Scoped journal", "authorization": {"id": authorizations.json()["data"][0]["id"]}}
    created = api.post("/journals", headers=callers["vendor"], json=body)
    assert created.status_code == 201, created.text
    journal_id = created.json()["id"]
    missing_id = PARAM_IDS["journalId"]

    wrong: list[str] = []
    for cap, path in _journal_rows():
        if not cap.allows(Role.VENDOR):
            continue
        kwargs: dict[str, Any] = {"json": {}} if cap.method in ("POST", "PUT") else {}
        real = concrete(path, cap.method).replace(missing_id, journal_id)
        response = api.request(cap.method, real, headers=callers["vendor2"], **kwargs)
        reference = api.request(cap.method, concrete(path, cap.method), headers=callers["vendor2"], **kwargs)
        try:
            assert_problem(response, 404, "not-found")
            _same_problem(response, reference, journal_id, missing_id)
        except AssertionError as error:
            wrong.append(f"{cap.method} {real}: {error}")
    assert not wrong, "\n".join(wrong)

    mine = api.get(f"/journals/{journal_id}", headers=callers["vendor"])
    assert mine.status_code == 200, mine.text
    assert mine.json()["status"] == "Draft" and mine.json()["name"] == "Scoped journal"
    for key in ("operations", "operations2"):
        assert api.get(f"/journals/{journal_id}", headers=callers[key]).status_code == 200
        listed = api.get("/journals", headers=callers[key]).json()
        assert [item["id"] for item in listed["data"]] == [journal_id]
    assert api.get("/journals", headers=callers["vendor2"]).json()["$meta"]["pagination"]["total"] == 0


def test_no_other_role_sees_overrides_or_reference_data(api, callers):
    _create_override(api, callers["operations"])
    for key in ("client", "client2", "vendor", "vendor2"):
        for path in ("/manual-overrides", "/overrides", "/reference/accounts", "/reference/export"):
            assert_problem(api.get(path, headers=callers[key]), 403, "forbidden")


# --- §2.5 order of checks -----------------------------------------------------------------------------------


class TestOrderOfChecks:
    def test_authentication_comes_before_routing(self, api):
        assert_problem(api.get("/no-such-collection"), 401, "unauthorized")
        assert_problem(api.get("/no-such-collection", headers=_bearer("not-a-token")), 401, "unauthorized")
        assert_problem(api.post("/ledgers"), 401, "unauthorized")
        assert_problem(api.put("/manual-overrides", json={}), 401, "unauthorized")

    @pytest.mark.parametrize(
        "path",
        ["/no-such-collection", "/journals/BJO-1111-2222/nothing", "/ledgers/BLE-1111-2222-3333-4444/x/y"],
    )
    def test_unknown_path_is_404_for_every_role(self, api, callers, path):
        for headers in callers.values():
            assert_problem(api.get(path, headers=headers), 404, "not-found")

    @pytest.mark.parametrize(
        ("method", "path", "allow"),
        [
            ("PUT", "/manual-overrides", "GET, POST"),
            ("DELETE", "/overrides", "GET, POST"),
            ("POST", "/ledgers", "GET"),
            ("DELETE", "/manual-overrides/BOV-1111-2222/disable", "POST"),
            ("PATCH", "/reference/accounts/ACC-9999-9999", "DELETE, GET, PUT"),
            ("GET", "/journals/BJO-1111-2222/submit", "POST"),
        ],
    )
    def test_unsupported_method_is_405_with_allow_for_every_role(self, api, callers, method, path, allow):
        """Routing precedes the role check: even a role that may never touch the resource gets 405."""
        kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
        for headers in callers.values():
            response = api.request(method, path, headers=headers, **kwargs)
            assert_problem(response, 405, "method-not-allowed")
            assert response.headers["allow"] == allow

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/manual-overrides/BOV-9999-9999"),
            ("PUT", "/overrides/BOV-9999-9999"),
            ("GET", "/reference/accounts/ACC-9999-9999"),
            ("GET", "/reference/no-such-entity/ACC-9999-9999"),
            ("DELETE", "/reference/accounts/not-an-id"),
            ("POST", "/ledgers/BLE-9999-9999-9999-9999/accept"),
            ("GET", "/custom-ledgers/CLE-9999-9999"),
        ],
    )
    def test_role_check_precedes_the_lookup(self, api, callers, method, path):
        """A role that may never call the endpoint gets 403 whether or not the object exists."""
        kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT") else {}
        for key in ("vendor", "vendor2", "client", "client2"):
            assert_problem(api.request(method, path, headers=callers[key], **kwargs), 403, "forbidden")

    @pytest.mark.parametrize(
        "path",
        [
            "/reference/accounts/ACC-9999-9999",
            "/reference/accounts/acc-9999-9999",
            "/reference/accounts/not-an-id",
            "/reference/accounts/ACC-12",
            "/reference/no-such-entity",
            "/reference/no-such-entity/ACC-0000-0001",
        ],
    )
    def test_operations_get_404_for_a_missing_or_malformed_reference(self, api, callers, path):
        assert_problem(api.get(path, headers=callers["operations"]), 404, "not-found")

    @pytest.mark.parametrize(
        ("method", "path"),
        [
            ("GET", "/manual-overrides/BOV-9999-9999"),
            ("GET", "/overrides/not-an-id"),
            ("PUT", "/manual-overrides/BOV-9999-9999"),
            ("POST", "/manual-overrides/BOV-9999-9999/disable"),
        ],
    )
    def test_operations_get_404_for_a_missing_or_malformed_override(self, api, callers, method, path):
        kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT") else {}
        assert_problem(api.request(method, path, headers=callers["operations"], **kwargs), 404, "not-found")

    def test_lookup_precedes_content_negotiation(self, api, callers):
        ops = callers["operations"]
        missing = "/reference/accounts/ACC-9999-9999"
        assert_problem(api.get(missing, headers={**ops, "Accept": "text/html"}), 404, "not-found")
        body = {"headers": {**ops, "Content-Type": "text/plain"}, "content": b"name=x"}
        assert_problem(api.put(missing, **body), 404, "not-found")
        # the object exists: now negotiation decides
        existing = f"/reference/accounts/{EXISTING_ACCOUNT}"
        assert_problem(api.get(existing, headers={**ops, "Accept": "text/html"}), 406, "not-acceptable")
        assert_problem(api.put(existing, **body), 415, "unsupported-media-type")

    def test_role_check_precedes_content_negotiation(self, api, callers):
        response = api.get("/reference/accounts", headers={**callers["vendor"], "Accept": "text/html"})
        assert_problem(response, 403, "forbidden")
        response = api.post(
            "/manual-overrides", headers={**callers["client"], "Content-Type": "text/plain"}, content=b"x"
        )
        assert_problem(response, 403, "forbidden")

    def test_media_type_precedes_body_validation(self, api, callers):
        ops = callers["operations"]
        response = api.post("/manual-overrides", headers={**ops, "Content-Type": "text/plain"}, content=b"{}")
        assert_problem(response, 415, "unsupported-media-type")
        assert_problem(api.post("/manual-overrides", headers=ops, json={}), 400, "validation")


def test_demo_tokens_cover_every_role():
    assert {"operations", "vendor", "client", "vendor2", "client2"} <= set(DEMO_TOKENS)
