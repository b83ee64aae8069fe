"""ERP test fixtures: demo statements queued for the ERP, and an ERP settings object with test-sized timings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from billing.demo import demo_charges
from billing.erp.settings import ErpSettings
from billing.erp.soap import SoapGateway
from billing.erp_sim.app import ErpSimulator
from billing.erp_sim.seed import seed_from_reference
from billing.erp_sim.settings import ErpSimSettings
from billing.reference.demo import build_demo_dataset


def queue_demo_statements(api: Any, drain: Callable[[], Any], ops: dict, vendor: dict, lines: int = 40) -> list[dict]:
    """Upload the demo vendor's clean charges, rate, accept every ledger and queue it; the queued statements."""
    authorization_id, content = demo_charges(lines, with_errors=False)
    journal = api.post("/journals", headers=vendor, json={"name": "ERP", "authorization": {"id": authorization_id}})
    journal_id = journal.json()["id"]
    api.post(
        f"/journals/{journal_id}/upload", headers=vendor, files={"file": ("c.jsonl", content, "application/jsonl")}
    )
    drain()
    assert api.post(f"/journals/{journal_id}/submit", headers=vendor).status_code == 200
    assert api.post(f"/journals/{journal_id}/accept", headers=ops).status_code == 200
    drain()
    ledgers = api.get(f"/ledgers?eq(journal.id,{journal_id})", headers=ops).json()["data"]
    for ledger in ledgers:
        assert api.post(f"/ledgers/{ledger['id']}/accept", headers=ops).status_code == 200
    drain()
    for ledger in ledgers:
        assert api.post(f"/ledgers/{ledger['id']}/queue", headers=ops).status_code == 200
    statements = api.get(f"/statements?eq(journal.id,{journal_id})&order=id", headers=ops).json()["data"]
    assert statements and all(s["status"] == "Queued" for s in statements)
    return statements


@pytest.fixture
def queued(api, drain, ops, vendor) -> list[dict]:
    return queue_demo_statements(api, drain, ops, vendor)


@pytest.fixture
def erp_settings() -> ErpSettings:
    """Fast timings: an unknown outcome settles in 50 ms, backoff in milliseconds."""
    return ErpSettings.model_validate(
        {
            "rate_limit_per_minute": 0,
            "push": {
                "uncertain_settle_s": 0.05,
                "in_call": {"max_tries": 3, "budget_s": 5, "wait_multiplier_s": 0.01, "wait_max_s": 0.05},
                "backoff": {"base_s": 0.01, "cap_s": 0.05, "max_failures": 4},
            },
        }
    )


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[ErpSimulator]:
    """The ERP simulator on its own state file, seeded with the demo customers and items."""
    simulator = ErpSimulator(ErpSimSettings(), db=tmp_path / "erp.sqlite")
    seed_from_reference(simulator, build_demo_dataset())
    yield simulator
    simulator.close()


@pytest.fixture
def sim_http(simulator: ErpSimulator) -> requests.Session:
    """A session for the simulator's admin API (``http://erp-sim.test/_sim/…``), in process."""
    return simulator.session()


@pytest.fixture
def gateway(simulator: ErpSimulator, erp_settings: ErpSettings) -> SoapGateway:
    """The zeep gateway talking to the simulator through the in-process adapter (no socket)."""
    erp_settings.base_url = simulator.base_url()
    erp_settings.breaker.cool_down_s = 0.3
    erp_settings.breaker.max_cool_down_s = 1
    return SoapGateway(erp_settings, session_factory=simulator.session)
