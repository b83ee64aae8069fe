"""Limits and fault injection (§2.4): every knob, its HTTP shape, and whether the operation was committed."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
import zeep
from lxml import etree

from billing.erp_sim.app import ErpSimulator
from billing.erp_sim.faults import FaultInjector, knobs_for
from billing.erp_sim.settings import FaultSettings, Latency
from billing.erp_sim.soap import NAV_ERROR_NS, SERIALIZATION_NS, SOAP_ENV, XML_NS

from .sim_kit import settings_for, soap_post

CREATE = "<SalesInvoice><Sell_to_Customer_No>C-DE</Sell_to_Customer_No></SalesInvoice>"


def create(session: requests.Session, **headers: str) -> requests.Response:
    return soap_post(session, "SalesInvoice", "Create", CREATE, **headers)


def documents(admin: Callable[..., Any]) -> int:
    return len(admin("GET", "documents")["documents"])


def last_request(admin: Callable[..., Any]) -> dict[str, Any]:
    return admin("GET", "requests", params={"limit": 1})["requests"][0]


class TestFaultShape:
    def test_a_fault_is_http_500_shaped_like_nav(self, session) -> None:  # type: ignore[no-untyped-def]
        response = soap_post(
            session,
            "SalesInvoice",
            "Create",
            "<SalesInvoice><Sell_to_Customer_No>NOPE</Sell_to_Customer_No></SalesInvoice>",
        )
        assert response.status_code == 500
        assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
        envelope = etree.fromstring(response.content)
        assert envelope.tag == f"{{{SOAP_ENV}}}Envelope"
        fault = envelope.find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
        code = fault.find("faultcode")
        assert code.nsmap["a"] == NAV_ERROR_NS
        assert code.text == "a:Microsoft.Dynamics.Nav.Types.Exceptions.NavCSideValidateTableRelationException"
        message = fault.find("faultstring")
        assert message.get(f"{{{XML_NS}}}lang") == "en-US"
        assert fault.find(f"detail/{{{SERIALIZATION_NS}}}string").text == message.text
        assert "(NOPE)" in message.text


@pytest.mark.parametrize(
    ("knob", "status", "retry_after"),
    [("http_500", 500, None), ("http_503", 503, "7"), ("http_429", 429, "7")],
)
def test_bare_http_errors_do_nothing(session, admin, knob: str, status: int, retry_after: str | None) -> None:  # type: ignore[no-untyped-def]
    admin("PATCH", "faults", json={knob: 1, "retry_after_s": 7})
    response = create(session)
    assert response.status_code == status
    assert response.headers.get("Retry-After") == retry_after
    assert b"Envelope" not in response.content
    assert documents(admin) == 0
    assert last_request(admin)["fault"] == knob


def test_reset_before_processing_does_nothing(session, admin) -> None:  # type: ignore[no-untyped-def]
    admin("PATCH", "faults", json={"reset_before": 1})
    with pytest.raises(requests.ConnectionError):
        create(session)
    assert documents(admin) == 0
    assert (last_request(admin)["fault"], last_request(admin)["status"]) == ("reset_before", 0)


@pytest.mark.parametrize(
    ("knob", "code", "text"),
    [
        ("soap_validation", "NavTestFieldException", "must have a value"),
        ("soap_locked", "NavCSideException", "locked by another user"),
        ("soap_deadlock", "NavCSideException", "deadlock"),
        ("soap_conflict", "NavCSideException", "Other user has modified"),
    ],
)
def test_soap_faults_are_rolled_back(erp, admin, knob: str, code: str, text: str) -> None:  # type: ignore[no-untyped-def]
    admin("PATCH", "faults", json={knob: 1.0})
    with pytest.raises(zeep.exceptions.Fault) as raised:
        erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"})
    assert str(raised.value.code) == f"a:Microsoft.Dynamics.Nav.Types.Exceptions.{code}"
    assert text in raised.value.message
    assert documents(admin) == 0
    logged = last_request(admin)
    assert (logged["fault"], logged["fault_code"], logged["status"]) == (knob, code, 500)


def test_reset_after_commit_commits_then_resets(session, admin) -> None:  # type: ignore[no-untyped-def]
    admin("PATCH", "faults", json={"reset_after_commit": 1})
    with pytest.raises(requests.ConnectionError):
        create(session, **{"X-Correlation-Id": "corr-1"})
    assert documents(admin) == 1
    logged = last_request(admin)
    assert (logged["fault"], logged["correlation_id"], logged["document_no"]) == (
        "reset_after_commit",
        "corr-1",
        "SI-000001",
    )


def test_timeout_after_commit_commits_then_times_out_in_process(session, admin) -> None:  # type: ignore[no-untyped-def]
    admin("PATCH", "faults", json={"timeout_after_commit": 1, "hang_s": 30})
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        create(session)
    assert time.monotonic() - started < 5  # in-process: raised right after the commit, no hang
    assert documents(admin) == 1


class TestScopes:
    def test_scoped_knobs_apply_to_matching_operations_only(self, erp, admin) -> None:  # type: ignore[no-untyped-def]
        admin("PATCH", "faults", json={"ops": {"*.Create": {"soap_locked": 1}}})
        with pytest.raises(zeep.exceptions.Fault):
            erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"})
        assert erp("SalesInvoice").ReadMultiple(filter=[{"Field": "No", "Criteria": "*"}], setSize=1) is None
        admin("PATCH", "faults", json={"ops": {"*.Create": None}})
        assert erp("SalesInvoice").Create(SalesInvoice={"Sell_to_Customer_No": "C-DE"}).No == "SI-000001"

    def test_the_most_specific_scope_wins(self) -> None:
        faults = FaultSettings.model_validate(
            {
                "http_500": 0.5,
                "ops": {
                    "*.*": {"http_500": 0.1, "http_503": 0.2},
                    "*.Create": {"http_500": 0.3},
                    "SalesInvoice.*": {"http_500": 0.4, "latency": {"median_ms": 5}},
                    "SalesInvoice.Create": {"http_500": 0.9},
                },
            }
        )
        assert knobs_for(faults, "SalesInvoice", "Create").http_500 == 0.9
        assert knobs_for(faults, "SalesInvoice", "Create").http_503 == 0.2
        assert knobs_for(faults, "SalesInvoice", "Create").latency.median_ms == 5
        assert knobs_for(faults, "SalesInvoice", "Update").http_500 == 0.4
        assert knobs_for(faults, "SalesCreditMemo", "Create").http_500 == 0.3
        assert knobs_for(faults, "Customer", "Read").http_500 == 0.1
        assert knobs_for(FaultSettings(http_500=0.5), "Customer", "Read").http_500 == 0.5

    def test_bad_scopes_and_knobs_are_refused(self, session) -> None:  # type: ignore[no-untyped-def]
        for patch in ({"ops": {"Create": {"http_500": 1}}}, {"ops": {"*.Create": {"nope": 1}}}, {"http_500": 2}):
            response = session.patch("http://erp-sim.test/_sim/faults", json=patch)
            assert response.status_code == 422, patch


class TestLatency:
    def test_distributions(self) -> None:
        injector = FaultInjector()
        assert injector.latency_s(Latency(median_ms=20), 1) == 0.02
        assert injector.latency_s(Latency(), 1) == 0.0
        for dist in ("uniform", "lognormal"):
            samples = sorted(injector.latency_s(Latency(dist=dist, median_ms=20, p99_ms=100), 1) for _ in range(4000))
            assert statistics.median(samples) == pytest.approx(0.020, rel=0.1), dist
            assert samples[int(len(samples) * 0.99)] == pytest.approx(0.100, rel=0.15), dist
            assert min(samples) >= 0

    def test_the_same_seed_gives_the_same_draws(self) -> None:
        knobs = FaultSettings(http_500=0.5)
        first = [FaultInjector().draw(knobs, ("http_500",), 42) for _ in range(1)]
        a, b = FaultInjector(), FaultInjector()
        assert [a.draw(knobs, ("http_500",), 42) for _ in range(50)] == [
            b.draw(knobs, ("http_500",), 42) for _ in range(50)
        ]
        assert first[0] in (None, "http_500")

    def test_latency_is_spent_inside_the_slot(self, sim, session, admin) -> None:  # type: ignore[no-untyped-def]
        admin("PATCH", "limits", json={"max_in_flight": 2, "queue": 10})
        admin("PATCH", "faults", json={"latency": {"median_ms": 100}})
        admin("DELETE", "stats")
        statuses: list[int] = []
        started = time.monotonic()
        threads = [threading.Thread(target=lambda: statuses.append(create(session).status_code)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert statuses == [200] * 4
        assert time.monotonic() - started >= 0.2  # 4 requests, 2 at a time, 100 ms each
        concurrency = admin("GET", "stats")["concurrency"]
        assert concurrency["peak"] == 2 and 1.5 <= concurrency["mean_busy"] <= 2.0


class TestLimits:
    def _hold_a_slot(self, sim: ErpSimulator, session: requests.Session) -> threading.Thread:
        thread = threading.Thread(target=lambda: create(session))
        thread.start()
        deadline = time.monotonic() + 5
        while sim.limiter.stats()["in_flight"] < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        return thread

    def test_beyond_slots_and_queue_is_429_with_retry_after(self, sim, session, admin) -> None:  # type: ignore[no-untyped-def]
        admin("PATCH", "limits", json={"max_in_flight": 1, "queue": 0, "retry_after_s": 3})
        admin("PATCH", "faults", json={"latency": {"median_ms": 300}})
        holder = self._hold_a_slot(sim, session)
        response = create(session)
        holder.join()
        assert response.status_code == 429 and response.headers["Retry-After"] == "3"
        assert documents(admin) == 1
        assert admin("GET", "stats")["requests"]["byFault"]["limit_limit"] == 1

    def test_a_queued_request_waits_for_the_slot(self, sim, session, admin) -> None:  # type: ignore[no-untyped-def]
        admin("PATCH", "limits", json={"max_in_flight": 1, "queue": 1})
        admin("PATCH", "faults", json={"latency": {"median_ms": 100}})
        holder = self._hold_a_slot(sim, session)
        assert create(session).status_code == 200
        holder.join()
        assert documents(admin) == 2

    def test_rate_per_minute(self, session, admin) -> None:  # type: ignore[no-untyped-def]
        admin("PATCH", "limits", json={"rate_per_minute": 2})
        assert [create(session).status_code for _ in range(3)] == [200, 200, 429]
        assert 1 <= int(create(session).headers["Retry-After"]) <= 60


class TestOutageAndCredentials:
    def test_outage_503_then_over(self, session, admin) -> None:  # type: ignore[no-untyped-def]
        outage = admin("POST", "outage", json={"seconds": 600, "mode": "503"})
        assert outage["active"] and outage["mode"] == "503"
        response = create(session)
        assert response.status_code == 503 and 590 <= int(response.headers["Retry-After"]) <= 600
        assert session.get("http://erp-sim.test/BC/WS/CRONUS/Page/SalesInvoice").status_code == 503
        assert admin("GET", "outage")["active"] is True  # the admin API keeps working
        admin("DELETE", "outage")
        assert create(session).status_code == 200

    def test_outage_reset(self, session, admin) -> None:  # type: ignore[no-untyped-def]
        admin("POST", "outage", json={"seconds": 600, "mode": "reset"})
        with pytest.raises(requests.ConnectionError):
            create(session)
        assert documents(admin) == 0

    def test_reject_credentials_answers_401_to_everything(self, session, admin) -> None:  # type: ignore[no-untyped-def]
        admin("PATCH", "faults", json={"reject_credentials": True})
        assert create(session).status_code == 401
        assert session.get("http://erp-sim.test/BC/WS/CRONUS/Page/Customer").status_code == 401
        admin("PATCH", "faults", json={"reject_credentials": None})
        assert create(session).status_code == 200

    @pytest.mark.parametrize(
        ("auth", "good", "bad"),
        [
            ({"mode": "basic", "user": "svc", "password": "pw"}, ("svc", "pw"), ("svc", "nope")),
            ({"mode": "bearer", "token": "t0k"}, {"Authorization": "Bearer t0k"}, {"Authorization": "Bearer x"}),
        ],
    )
    def test_authentication(self, tmp_path, auth, good, bad) -> None:  # type: ignore[no-untyped-def]
        sim = ErpSimulator(settings_for(tmp_path / "auth.sqlite", auth=auth))
        try:
            session = sim.session()
            url = f"{sim.base_url()}/Page/Customer"

            def get(credentials: Any) -> requests.Response:
                if isinstance(credentials, tuple):
                    return session.get(url, auth=credentials)
                return session.get(url, headers=credentials)

            assert get(good).status_code == 200
            refused = get(bad)
            assert refused.status_code == 401 and "WWW-Authenticate" in refused.headers
            assert session.get(url).status_code == 401
        finally:
            sim.close()
