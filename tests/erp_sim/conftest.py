"""ERP simulator fixtures: one simulator per test worker, reset to known master data before each test, a
frozen simulated clock (2025-05-01T00:00:00Z), and zeep clients through the in-process adapter.

This directory is a package so that this conftest is not imported as the top-level ``conftest`` module (other
tests import helpers with ``from conftest import …``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import zeep
from zeep.transports import Transport

from billing.erp_sim.app import ErpSimulator

from .sim_kit import seed, settings_for

ZEEP = zeep.Settings(strict=True, forbid_external=True, xml_huge_tree=False)


@pytest.fixture(scope="session")
def shared_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErpSimulator]:
    sim = ErpSimulator(settings_for(tmp_path_factory.mktemp("erp-sim") / "erp.sqlite"))
    yield sim
    sim.close()


@pytest.fixture(scope="session")
def shared_session(shared_sim: ErpSimulator) -> requests.Session:
    return shared_sim.session()


@pytest.fixture
def sim(shared_sim: ErpSimulator, shared_session: requests.Session) -> ErpSimulator:
    """The worker's simulator with a clean state: the test master data, default knobs, clock at START."""
    response = shared_session.post("http://erp-sim.test/_sim/reset", json={"master_data": True})
    assert response.status_code == 200, response.text
    seed(shared_sim)
    return shared_sim


@pytest.fixture
def session(sim: ErpSimulator, shared_session: requests.Session) -> requests.Session:
    return shared_session


@pytest.fixture(scope="session")
def zeep_clients() -> dict[str, zeep.Client]:
    return {}


@pytest.fixture
def erp(
    sim: ErpSimulator, shared_session: requests.Session, zeep_clients: dict[str, zeep.Client]
) -> Callable[[str], Any]:
    """``erp("SalesInvoice").Create(...)``: the zeep service proxy of a page (WSDLs parsed once per worker)."""

    def service(name: str) -> Any:
        if name not in zeep_clients:
            transport = Transport(session=shared_session, timeout=10, operation_timeout=10)
            zeep_clients[name] = zeep.Client(f"{sim.base_url()}/Page/{name}", transport=transport, settings=ZEEP)
        return zeep_clients[name].service

    return service


@pytest.fixture
def admin(session: requests.Session) -> Callable[..., Any]:
    """``admin("PATCH", "faults", json={...})`` → the decoded JSON (asserting a 2xx answer)."""

    def call(method: str, endpoint: str, **kwargs: Any) -> Any:
        response = session.request(method, f"http://erp-sim.test/_sim/{endpoint}", **kwargs)
        assert response.status_code < 300, response.text
        return response.json()

    return call
