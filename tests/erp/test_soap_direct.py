"""The gateway's direct writes (urllib3, no requests session) over a real socket: the simulator receives the same
request as through requests, and every transport failure gets the §3.4 class with the right "applied?" answer."""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
import requests

from billing.erp.errors import ErpRejectedError, ErpRetryableError
from billing.erp.gateway import PlannedHeader, PlannedLine
from billing.erp.settings import ErpSettings
from billing.erp.soap import SoapGateway
from billing.erp_sim.app import ErpSimulator
from erp.test_push_simulator import SIM, documents, faults


@pytest.fixture(autouse=True)
def no_requests_session(monkeypatch: pytest.MonkeyPatch) -> None:
    """The writes must not go through requests (the admin API calls of the tests use the in-process adapter)."""
    send = requests.Session.send

    def only_in_process(session: requests.Session, request: requests.PreparedRequest, **kwargs: object) -> object:
        assert (request.url or "").startswith(SIM), f"a write went through requests: {request.url}"
        return send(session, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", only_in_process)


@pytest.fixture
def served(simulator: ErpSimulator, erp_settings: ErpSettings) -> Iterator[SoapGateway]:
    """A gateway without an injected session (so its writes go direct) talking to the simulator on a socket."""
    server = simulator.serve_in_thread()
    erp_settings.base_url = server.base_url
    erp_settings.timeouts.operation_s = 1.0
    try:
        yield SoapGateway(erp_settings)
    finally:
        server.stop()


def header(external: str) -> PlannedHeader:
    return PlannedHeader(
        sell_to_customer_no="US-SCU-100001",
        bill_to_customer_no="US-SCU-100001",
        external_document_no=external,
        your_reference="AGR-0001",
        document_date=date(2026, 11, 1),
        currency_code="",
    )


def test_a_create_arrives_with_its_correlation_id(served, sim_http):
    with served.correlate("corr-direct-1"):
        document = served.create("invoice", header("SOM-DIRECT-1"))
    assert document.no and document.key
    log = sim_http.get(f"{SIM}/_sim/requests", params={"operation": "Create"}).json()["requests"]
    assert [entry["correlation_id"] for entry in log] == ["corr-direct-1"]
    exchange = served.last_exchange()
    assert exchange is not None and exchange.http_status == 200
    assert "SOM-DIRECT-1" in (exchange.request_excerpt or "") and document.no in (exchange.response_excerpt or "")


def test_a_reset_after_the_commit_is_an_unknown_outcome(served, sim_http):
    faults(sim_http, ops={"SalesInvoice.Create": {"timeout_after_commit": 1.0}}, hang_s=0)
    with pytest.raises(ErpRetryableError) as failure:
        served.create("invoice", header("SOM-DIRECT-2"))
    assert failure.value.certain_not_applied is False
    assert len(documents(sim_http, "SOM-DIRECT-2")) == 1  # it was applied: only a look-up can tell


def test_a_hang_past_the_operation_timeout_is_a_read_timeout_of_unknown_outcome(served, sim_http):
    faults(sim_http, ops={"SalesInvoice.Create": {"timeout_after_commit": 1.0}}, hang_s=3)
    with pytest.raises(ErpRetryableError, match="read timeout") as failure:
        served.create("invoice", header("SOM-DIRECT-3"))
    assert failure.value.certain_not_applied is False


def test_a_refused_connection_was_certainly_not_applied(erp_settings):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    erp_settings.base_url = f"http://127.0.0.1:{port}/BC/WS/CRONUS"
    with pytest.raises(ErpRetryableError, match="connection failed") as failure:
        SoapGateway(erp_settings).create("invoice", header("SOM-DIRECT-4"))
    assert failure.value.certain_not_applied is True


def test_markup_characters_in_values_arrive_as_written(served, sim_http):
    document = served.create("invoice", header("SOM-DIRECT-5"))
    line = PlannedLine(
        line_no=10000,
        type="Item",
        no="ITM-0001",
        description='Tom & Jerry <"cartoons"> \r\n',
        description_2="a>b",
        quantity=Decimal("1.5"),
        unit_price=Decimal("10.00001"),
        purchase_price=Decimal("8"),
        purchase_currency_code="",
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
        contract_no="AGR-0001",
    )
    served.add_lines("invoice", document, [line])
    (stored,) = documents(sim_http, "SOM-DIRECT-5")
    (written,) = stored["Lines"]
    assert (written["Description"], written["Description_2"]) == ('Tom & Jerry <"cartoons"> \r\n', "a>b")


def test_a_character_xml_cannot_carry_is_refused_before_anything_is_sent(served, sim_http):
    refused = dataclasses.replace(header("SOM-DIRECT-6"), your_reference="AGR\x01")
    with pytest.raises(ErpRejectedError, match=r"Your_Reference holds a character XML cannot carry \(U\+0001\)"):
        served.create("invoice", refused)
    assert sim_http.get(f"{SIM}/_sim/requests", params={"operation": "Create"}).json()["requests"] == []
