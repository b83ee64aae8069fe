"""``billing erp-sim``: serving, and every command against a state file (--db) or a running simulator (--url)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
import zeep
from typer.testing import CliRunner

from billing.cli import app
from billing.erp_sim import cli as sim_cli
from billing.erp_sim.app import ErpSimulator

from .sim_kit import CUSTOMERS, ITEMS, settings_for

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["erp-sim", *args], env={"COLUMNS": "200"})
    return result.exit_code, result.output


@pytest.fixture
def db(tmp_path: Path) -> str:
    """A state file with the test customers and items, a frozen clock and posted/unposted documents."""
    path = tmp_path / "cli.sqlite"
    sim = ErpSimulator(settings_for(path))
    customers = tmp_path / "customers.yaml"
    customers.write_text(yaml.safe_dump(CUSTOMERS))
    items = tmp_path / "items.json"
    items.write_text(json.dumps({"items": ITEMS}))
    assert run("seed", "customers", str(customers), "--db", str(path))[0] == 0
    assert run("seed", "items", str(items), "--db", str(path))[0] == 0
    client = zeep.Client(
        f"{sim.base_url()}/Page/SalesInvoice",
        transport=zeep.transports.Transport(session=sim.session()),
        settings=zeep.Settings(strict=True, forbid_external=True, xml_huge_tree=False),
    )
    for external in ("SOM-1", "SOM-1", "SOM-2"):
        created = client.service.Create(SalesInvoice={"Sell_to_Customer_No": "C-DE", "External_Document_No": external})
        lines = {"Sales_Invoice_Line": [{"Type": "Item", "No": "SKU-1", "Quantity": 2}]}
        client.service.Update(SalesInvoice={"Key": created.Key, "SalesLines": lines})
    sim.close()
    return str(path)


def test_inspect_and_duplicates(db: str) -> None:
    code, output = run("inspect", "--db", db)
    assert code == 0 and "SI-000001" in output and "SI-000003" in output
    code, output = run("inspect", "--db", db, "--external-document-no", "som-2")
    assert code == 0 and "SI-000003" in output and "SI-000001" not in output
    code, output = run("duplicates", "--db", db)
    assert code == 1 and "SOM-1" in output and "SI-000002" in output


def test_post_now_pay_and_clock(db: str) -> None:
    code, output = run("post-now", "--db", db)
    assert code == 0 and "SI-000001 → PSI-000001" in output and "Posted 3" in output
    code, output = run("pay", "PSI-000001", "10", "--db", db)
    assert code == 0 and "PAY-000001: paid 10.00 on PSI-000001" in output, output
    code, output = run("pay", "PSI-000001", "--db", db)
    assert code == 0 and "paid 19.75" in output  # 2 × 12.5 × 1.19 = 29.75, minus 10
    code, output = run("pay", "PSI-000001", "--db", db)
    assert code == 2 and "already closed" in output
    code, output = run("clock", "--advance-days", "2", "--db", db)
    assert code == 0 and "2025-05-03T00:00:00.000Z" in output
    code, output = run("clock", "--db", db)
    assert "2025-05-03" in output


def test_faults_and_outage(db: str) -> None:
    code, output = run("faults", "set", "http_503=0.25", "latency.median_ms=20", "*.Create:soap_locked=1", "--db", db)
    assert code == 0
    shown = json.loads(run("faults", "show", "--db", db)[1])
    assert shown["http_503"] == 0.25 and shown["latency"]["median_ms"] == 20
    assert shown["ops"] == {"*.Create": {"soap_locked": 1}}
    assert run("faults", "set", "http_503=null", "--db", db)[0] == 0
    assert json.loads(run("faults", "show", "--db", db)[1])["http_503"] == 0
    code, output = run("faults", "set", "http_503=5", "--db", db)
    assert code == 2 and "http_503" in output
    assert run("faults", "set", "novalue", "--db", db)[0] != 0
    code, output = run("outage", "--seconds", "60", "--mode", "reset", "--db", db)
    assert code == 0 and '"active": true' in output
    code, output = run("outage", "--seconds", "0", "--db", db)
    assert code == 0 and '"active": false' in output


def test_seed_demo_and_reference_files(tmp_path: Path) -> None:
    path = str(tmp_path / "demo.sqlite")
    code, output = run("seed", "demo", "--db", path)
    assert code == 0 and '"created": 24' in output
    from billing.kit.jsonout import dumps
    from billing.reference.demo import build_demo_dataset

    reference = tmp_path / "reference.json"
    reference.write_bytes(dumps(build_demo_dataset()))
    code, output = run("seed", "customers", str(reference), "--db", path)
    assert code == 0 and '"updated": 24' in output


def test_commands_against_a_running_simulator(db: str) -> None:
    sim = ErpSimulator(settings_for(Path(db)))
    server = sim.serve_in_thread()
    try:
        code, output = run("post-now", "--url", server.root_url)
        assert code == 0 and "Posted 3" in output
        code, output = run("duplicates", "--url", server.base_url)  # a service base URL works too
        assert code == 1
    finally:
        server.stop()
        sim.close()
    code, output = run("post-now", "--url", server.root_url)
    assert code == 2 and "did not answer" in output


def test_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def stop_at_once() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(sim_cli, "_wait_for_interrupt", stop_at_once)
    db = tmp_path / "served.sqlite"
    code, output = run("--port", "0", "--db", str(db), "--company", "CRONUS US")
    assert code == 0, output
    assert "Seeded 24 demo customers and 12 items." in output
    assert "/BC/WS/CRONUS%20US/Page/SalesInvoice" in output and "Stopping." in output
    code, output = run("--port", "0", "--db", str(db), "--no-seed-demo")
    assert code == 0 and "Seeded" not in output
    sim = ErpSimulator(settings_for(tmp_path / "other.sqlite"))
    busy = sim.serve_in_thread()
    try:
        code, output = run("--port", busy.root_url.rsplit(":", 1)[1], "--db", str(db))
        assert code == 1 and "Cannot serve" in output
    finally:
        busy.stop()
        sim.close()
