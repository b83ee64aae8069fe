"""The /_sim/ admin API (§2.2, §2.5): knobs, clock, master data, documents, duplicates, request log, stats, reset."""

from __future__ import annotations

import pytest

from billing.erp_sim.app import ErpSimulator

from .sim_kit import invoice_with_lines, settings_for

ROOT = "http://erp-sim.test/_sim"


class TestKnobs:
    @pytest.mark.parametrize(
        ("section", "key", "configured", "new"),
        [
            ("faults", "http_503", 0.0, 0.25),
            ("limits", "max_in_flight", 5, 2),
            ("posting", "delay_s", 60.0, 5.0),
            ("payments", "share_paid", 0.0, 1.0),
            ("validation", "require_known_items", False, True),
        ],
    )
    def test_every_knob_section_reads_and_merge_patches(self, admin, section, key, configured, new) -> None:  # type: ignore[no-untyped-def]
        assert admin("GET", section)[key] == configured
        assert admin("PATCH", section, json={key: new})[key] == new
        assert admin("GET", section)[key] == new
        assert admin("PATCH", section, json={key: None})[key] == configured  # null reverts to the configuration

    def test_patch_keeps_other_values_and_validates(self, admin, session) -> None:
        admin("PATCH", "faults", json={"latency": {"median_ms": 5}})
        assert admin("PATCH", "faults", json={"latency": {"p99_ms": 50}})["latency"] == {
            "dist": "fixed",
            "median_ms": 5.0,
            "p99_ms": 50.0,
        }
        bad = session.patch(f"{ROOT}/limits", json={"max_in_flight": 0})
        assert bad.status_code == 422 and "max_in_flight" in bad.json()["error"]
        assert session.patch(f"{ROOT}/limits", data=b"[1]").status_code == 400
        assert session.patch(f"{ROOT}/limits", data=b"{nope").status_code == 400


class TestClock:
    def test_clock_moves_and_can_be_set(self, admin) -> None:
        assert admin("GET", "clock") == {"now": "2025-05-01T00:00:00.000Z", "today": "2025-05-01", "rate": 0.0}
        assert admin("POST", "clock", json={"advance_days": 1.5})["now"] == "2025-05-02T12:00:00.000Z"
        assert admin("POST", "clock", json={"advance_seconds": 30})["now"] == "2025-05-02T12:00:30.000Z"
        assert admin("POST", "clock", json={"now": "2026-01-01T00:00:00Z"})["today"] == "2026-01-01"
        assert admin("POST", "clock", json={"rate": 2.0})["rate"] == 2.0

    @pytest.mark.parametrize("body", [{"now": "2026-01-01T00:00:00"}, {"rate": -1}, {"advance_days": "x"}])
    def test_bad_clock_changes(self, session, body) -> None:  # type: ignore[no-untyped-def]
        assert session.post(f"{ROOT}/clock", json=body).status_code in (400, 422)


class TestMasterData:
    def test_put_customers_and_items_create_or_update(self, admin, erp) -> None:  # type: ignore[no-untyped-def]
        counts = admin("PUT", "customers", json=[{"No": "c-new", "Name": "New"}, {"No": "C-DE", "Name": "Renamed"}])
        assert counts == {"created": 1, "updated": 1}
        assert erp("Customer").Read(No="C-NEW").Name == "New"
        assert erp("Customer").Read(No="C-DE").City == "Berlin"  # untouched fields stay
        assert admin("PUT", "items", json={"items": [{"No": "SKU-9", "Unit_Price": 5}]}) == {"created": 1, "updated": 0}

    @pytest.mark.parametrize(
        ("body", "status"),
        [
            ([{"No": "X", "Nope": 1}], 422),
            ([{"No": "X", "Blocked": "Sometimes"}], 422),
            ([{"No": "X" * 21}], 422),
            ([{"Name": "no number"}], 422),
            ({"customers": "x"}, 400),
            ([1, 2], 400),
        ],
    )
    def test_bad_master_data(self, session, body, status) -> None:  # type: ignore[no-untyped-def]
        response = session.put(f"{ROOT}/customers", json=body)
        assert response.status_code == status, response.text


class TestInspection:
    def test_documents_listing(self, admin, erp, sim) -> None:  # type: ignore[no-untyped-def]
        invoice_with_lines(erp, external="SOM-1")
        invoice_with_lines(erp, external="SOM-2")
        sim.post_now()
        erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE", "External_Document_No": "SOM-3"})
        listing = admin("GET", "documents")
        assert [(d["page"], d["No"], d["Lines"]) for d in listing["documents"]] == [
            ("SalesInvoice", "SI-000003", 0),
            ("PostedSalesInvoice", "PSI-000001", 2),
            ("PostedSalesInvoice", "PSI-000002", 2),
        ]
        posted = admin("GET", "documents", params={"page": "PostedSalesInvoice", "external_document_no": "som-2"})
        document = posted["documents"][0]
        assert (document["No"], document["Pre_Assigned_No"], document["Remaining_Amount"], document["Closed"]) == (
            "PSI-000002",
            "SI-000002",
            "56.52",
            False,
        )
        with_lines = admin("GET", "documents", params={"page": "postedsalesinvoice", "limit": 1, "lines": "true"})
        assert with_lines["truncated"] is True and with_lines["documents"][0]["Lines"][0]["Line_No"] == 10000

    def test_duplicates_count_unposted_and_posted_of_one_type(self, admin, erp, sim) -> None:  # type: ignore[no-untyped-def]
        invoice_with_lines(erp, external="SOM-1")
        sim.post_now()
        erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE", "External_Document_No": "SOM-1"})
        erp("SalesCreditMemo").Create(SalesCreditMemo={"Sell_to_Customer_No": "C-DE", "External_Document_No": "SOM-1"})
        erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE", "External_Document_No": "SOM-2"})
        assert admin("GET", "duplicates") == {
            "duplicates": [
                {
                    "type": "invoice",
                    "externalDocumentNo": "SOM-1",
                    "documents": [
                        {"page": "SalesInvoice", "No": "SI-000002"},
                        {"page": "PostedSalesInvoice", "No": "PSI-000001"},
                    ],
                }
            ],
            "count": 1,
        }

    def test_request_log_and_stats(self, admin, session, erp) -> None:  # type: ignore[no-untyped-def]
        erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE", "External_Document_No": "SOM-1"})
        erp("SalesInvoice").Read(No="SI-000001")
        log = admin("GET", "requests", params={"service": "SalesInvoice", "operation": "Create"})["requests"]
        assert len(log) == 1
        entry = log[0]
        assert (entry["method"], entry["status"], entry["document_no"], entry["external_document_no"]) == (
            "POST",
            200,
            "SI-000001",
            "SOM-1",
        )
        assert entry["duration_ms"] > 0 and entry["at"].endswith("Z")
        assert [e["operation"] for e in admin("GET", "requests", params={"limit": 2})["requests"]] == ["Read", "Create"]
        stats = admin("GET", "stats")
        assert stats["requests"]["byOperation"]["SalesInvoice.Create"] == 1
        assert stats["requests"]["total"] >= 2 and stats["concurrency"]["peak"] >= 1
        assert stats["documents"]["SalesInvoice"] == 1 and stats["now"] == "2025-05-01T00:00:00.000Z"

    def test_correlation_id_filter(self, admin, session) -> None:  # type: ignore[no-untyped-def]
        session.get("http://erp-sim.test/BC/WS/CRONUS/Page/Customer", headers={"X-Correlation-Id": "abc"})
        log = admin("GET", "requests", params={"correlation_id": "abc"})["requests"]
        assert [(e["operation"], e["service"]) for e in log] == [("WSDL", "Customer")]

    def test_index(self, admin) -> None:  # type: ignore[no-untyped-def]
        index = admin("GET", "")
        assert index["baseUrl"] == "http://erp-sim.test/BC/WS/CRONUS"
        assert index["services"]["SalesInvoice"] == "http://erp-sim.test/BC/WS/CRONUS/Page/SalesInvoice"
        assert "PATCH /_sim/faults" in index["endpoints"]


class TestReset:
    def test_reset_keeps_master_data_unless_asked(self, admin, erp, sim) -> None:  # type: ignore[no-untyped-def]
        invoice_with_lines(erp)
        admin("PATCH", "faults", json={"http_500": 0.5})
        admin("POST", "clock", json={"advance_days": 3})
        assert admin("POST", "reset", json={})["masterData"] is False
        assert admin("GET", "documents")["documents"] == [] and admin("GET", "requests")["requests"] == []
        assert admin("GET", "faults")["http_500"] == 0 and admin("GET", "clock")["today"] == "2025-05-01"
        assert erp("Customer").Read(No="C-DE") is not None
        assert erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"}).No == "SI-000001"
        admin("POST", "reset", json={"master_data": True})
        assert erp("Customer").Read(No="C-DE") is None


class TestAdminHttp:
    def test_unknown_endpoints_and_methods(self, session) -> None:  # type: ignore[no-untyped-def]
        assert session.get(f"{ROOT}/nope").status_code == 404
        wrong = session.get(f"{ROOT}/post-now")
        assert wrong.status_code == 405 and "POST" in wrong.json()["error"]

    def test_admin_token(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        sim = ErpSimulator(settings_for(tmp_path / "token.sqlite", auth={"admin_token": "s3cret"}))
        try:
            session = sim.session()
            assert session.get(f"{ROOT}/stats").status_code == 401
            assert session.get(f"{ROOT}/stats", headers={"Authorization": "Bearer s3cret"}).status_code == 200
            assert session.get(f"{sim.base_url()}/Page/Customer").status_code == 200  # SOAP auth is separate
        finally:
            sim.close()
