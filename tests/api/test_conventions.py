"""Conventions shared by every collection and every error (billing-api.md §3, §4.7)."""

from __future__ import annotations

import re

import orjson
import pytest
from fastapi.testclient import TestClient

from billing.api.app import create_app
from billing.reference.demo import DEMO_ACCOUNTS

TRACE = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-00$")


def make_overrides(api, ops, count=3):
    ids = []
    clients = [DEMO_ACCOUNTS["client"], DEMO_ACCOUNTS["client2"]]
    vendors = [DEMO_ACCOUNTS["vendor"], DEMO_ACCOUNTS["vendor2"]]
    for index in range(count):
        body = {
            "client": {"id": clients[index % 2]},
            "vendor": {"id": vendors[index // 2 % 2]},
            "name": f"o{index}",
        }
        response = api.post("/manual-overrides", headers=ops, json=body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def assert_problem(response, status, suffix):
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == f"urn:billing:problem:{suffix}"
    assert body["status"] == status
    assert TRACE.match(body["traceId"]) and body["traceId"] == response.headers["traceparent"]
    return body


class TestBadInput:
    def test_malformed_json(self, api, ops):
        response = api.post(
            "/manual-overrides", headers={**ops, "Content-Type": "application/json"}, content=b'{"client": '
        )
        body = assert_problem(response, 400, "validation")
        assert "not valid JSON" in body["errors"]["body"][0]

    @pytest.mark.parametrize("payload", [b"[]", b'"text"', b"42", b"null"])
    def test_json_that_is_not_an_object(self, api, ops, payload):
        response = api.post("/manual-overrides", headers={**ops, "Content-Type": "application/json"}, content=payload)
        assert_problem(response, 400, "validation")

    def test_unsupported_content_type(self, api, ops):
        response = api.post("/manual-overrides", headers={**ops, "Content-Type": "text/plain"}, content=b"{}")
        assert_problem(response, 415, "unsupported-media-type")

    @pytest.mark.parametrize("media", ["application/json; charset=utf-8", "text/json", "application/merge-patch+json"])
    def test_json_media_type_variants_are_accepted(self, api, ops, media):
        body = orjson.dumps({"client": {"id": DEMO_ACCOUNTS["client"]}, "vendor": {"id": DEMO_ACCOUNTS["vendor"]}})
        response = api.post("/manual-overrides", headers={**ops, "Content-Type": media}, content=body)
        assert response.status_code in (201, 409), response.text

    def test_oversize_body_is_413(self, api, ops):
        big = b'{"name": "' + b"x" * (1024 * 1024 + 10) + b'"}'
        response = api.post("/manual-overrides", headers={**ops, "Content-Type": "application/json"}, content=big)
        assert_problem(response, 413, "payload-too-large")

    def test_wrong_types_name_their_properties(self, api, ops):
        response = api.post(
            "/manual-overrides", headers=ops, json={"client": {"id": 7}, "vendor": [], "notes": {"a": 1}}
        )
        body = assert_problem(response, 400, "validation")
        assert set(body["errors"]) == {"client.id", "vendor", "notes"}

    def test_unknown_properties_are_ignored(self, api, ops):
        response = api.post(
            "/manual-overrides",
            headers=ops,
            json={
                "client": {"id": DEMO_ACCOUNTS["client"], "name": "ignored"},
                "vendor": {"id": DEMO_ACCOUNTS["vendor"]},
                "bogus": 1,
            },
        )
        assert response.status_code == 201

    def test_unexpected_failure_is_a_500_problem_without_internals(self, shared_app, settings, db, ops, monkeypatch):
        from billing.overrides import service

        def boom(*_args, **_kwargs):
            raise RuntimeError("secret internals")

        monkeypatch.setattr(service.OverrideService, "create", boom)
        shared_app.state.settings = settings
        with TestClient(shared_app, raise_server_exceptions=False) as raw:
            response = raw.post(
                "/public/v1/billing/manual-overrides",
                headers=ops,
                json={"client": {"id": "ACC-1111-1111"}, "vendor": {"id": "ACC-1111-1112"}},
            )
        body = assert_problem(response, 500, "internal")
        assert "secret" not in response.text and body["detail"] == "An unexpected error occurred."


class TestRoutingAndNegotiation:
    def test_trailing_slash_is_ignored(self, api, ops):
        assert api.get("/manual-overrides/", headers=ops).status_code == 200

    def test_unknown_path_is_404_problem(self, api, ops):
        assert_problem(api.get("/nothing-here", headers=ops), 404, "not-found")

    def test_unsupported_method_is_405_with_allow(self, api, ops):
        response = api.delete("/manual-overrides", headers=ops)
        assert_problem(response, 405, "method-not-allowed")
        assert response.headers["allow"] == "GET, POST"

    @pytest.mark.parametrize("accept", ["text/csv", "application/xml", "text/html"])
    def test_unsatisfiable_accept_is_406(self, api, ops, accept):
        assert_problem(api.get("/manual-overrides", headers={**ops, "Accept": accept}), 406, "not-acceptable")

    @pytest.mark.parametrize(
        "accept", ["*/*", "application/*", "application/json", "text/html, application/json;q=0.9"]
    )
    def test_json_accept_forms(self, api, ops, accept):
        assert api.get("/manual-overrides", headers={**ops, "Accept": accept}).status_code == 200

    def test_health_and_openapi_need_no_token(self, api):
        assert api.get("/health").json()["status"] == "ok"
        spec = api.get("/openapi.json").json()
        assert spec["openapi"].startswith("3.1")
        operation = spec["paths"]["/public/v1/billing/manual-overrides"]["post"]
        assert "Roles: Operations" in operation["description"]
        assert {"401", "403", "409", "413", "415"} <= set(operation["responses"])
        assert "Problem" in spec["components"]["schemas"]
        assert "/public/v1/billing/overrides/{overrideId}/disable" in spec["paths"]


class TestExportsAndStreaming:
    def test_jsonl_export_returns_every_matching_record(self, api, ops):
        ids = make_overrides(api, ops, 3)
        response = api.get(
            "/manual-overrides?order=name&select=-*,name", headers={**ops, "Accept": "application/jsonl"}
        )
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/jsonl"
        assert response.headers["mpt-item-count"] == "3"
        lines = [orjson.loads(line) for line in response.text.splitlines()]
        assert [line["name"] for line in lines] == ["o0", "o1", "o2"]
        assert all("$meta" not in line and set(line) == {"id", "name"} for line in lines)
        assert sorted(line["id"] for line in lines) == sorted(ids)

    def test_jsonl_honours_filter_limit_and_offset(self, api, ops):
        make_overrides(api, ops, 3)
        headers = {**ops, "Accept": "application/x-ndjson"}
        response = api.get("/manual-overrides?ne(name,o1)&order=name&limit=1&offset=1", headers=headers)
        assert response.headers["mpt-item-count"] == "1"
        assert [orjson.loads(line)["name"] for line in response.text.splitlines()] == ["o2"]

    def test_streaming_mode_with_json_returns_the_whole_envelope(self, api, ops):
        make_overrides(api, ops, 3)
        response = api.get("/manual-overrides", headers={**ops, "MPT-Streaming": "true", "Accept": "application/json"})
        assert response.headers["mpt-streaming"] == "true"
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert body["$meta"]["pagination"]["total"] == int(response.headers["mpt-item-count"]) == len(body["data"]) == 3
        assert body["$meta"]["omitted"] == ["audit"]

    def test_streaming_mode_needs_a_streamable_accept(self, api, ops):
        response = api.get("/manual-overrides", headers={**ops, "MPT-Streaming": "true", "Accept": "text/csv"})
        assert_problem(response, 406, "not-acceptable")

    def test_export_over_the_cap_is_413_before_any_body(self, settings, db, ops):
        settings.api.export_max_records = 2
        with TestClient(create_app(settings, db), base_url="http://t/public/v1/billing") as capped:
            make_overrides(capped, ops, 3)
            response = capped.get("/manual-overrides", headers={**ops, "Accept": "application/jsonl"})
        assert_problem(response, 413, "payload-too-large")


class TestNumbers:
    def test_decimals_are_plain_json_numbers(self, api, ops):
        created = api.post(
            "/reference/pricing-policies",
            headers=ops,
            json={
                "id": "PRP-0009-0001",
                "name": "n",
                "client": DEMO_ACCOUNTS["client"],
                "markup": "1e3",
                "margin": " 9.0909090 ",
            },
        )
        assert created.status_code == 201, created.text
        raw = created.text
        assert '"markup":1000' in raw and '"margin":9.090909' in raw
