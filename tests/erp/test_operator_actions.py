"""Operator actions against the real simulator (erp-integration.md §3.9, §6.12): mark as sent with verification
through the API (simulator on a real socket), bulk retry by RQL with --dry-run, cancel of a header-only
document, retry of an Issued statement refused, pause/resume and status from the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from billing.cli import app
from billing.db.models import ErpAttempt, ErpControl, ErpOutbox, Statement
from billing.erp.push import Pusher
from billing.erp.soap import SoapGateway
from billing.erp_sim.app import ErpSimulator
from billing.erp_sim.seed import seed_from_reference
from billing.erp_sim.settings import ErpSimSettings
from billing.reference.demo import build_demo_dataset
from billing.settings import get_settings
from erp.test_push import drive, statements_of

SIM = "http://erp-sim.test"


@pytest.fixture
def served(tmp_path: Path, settings, erp_settings) -> Iterator[tuple[ErpSimulator, str]]:
    """The simulator on a real socket; the API's and the push's ERP settings point at it."""
    simulator = ErpSimulator(ErpSimSettings(), db=tmp_path / "erp.sqlite")
    seed_from_reference(simulator, build_demo_dataset())
    server = simulator.serve_in_thread()
    settings.erp.base_url = erp_settings.base_url = server.base_url
    yield simulator, server.base_url
    server.stop()
    simulator.close()


@pytest.fixture
def cli(database_url: str, monkeypatch: pytest.MonkeyPatch, served) -> Iterator[CliRunner]:
    monkeypatch.setenv("BILLING_DATABASE_URL", database_url)
    monkeypatch.setenv("BILLING_ERP__BASE_URL", served[1])
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def fail_one_create(simulator: ErpSimulator, db, erp_settings, queued) -> dict:
    """Push with an unknown item on the first statement's lines: a header-only document, the statement in Error."""
    http = simulator.session()
    http.patch(f"{SIM}/_sim/faults", json={"ops": {"*.Update": {"soap_validation": 1.0}}})
    drive(Pusher(db, erp_settings, SoapGateway(erp_settings), "replica-1"))
    http.patch(f"{SIM}/_sim/faults", json={"ops": {"*.Update": None}})
    return queued[0]


class TestMarkAsSent:
    def test_existing_document_issues_the_statement(self, api, ops, db, queued, served, erp_settings):
        simulator, _ = served
        statement = fail_one_create(simulator, db, erp_settings, queued)
        found = simulator.session().get(f"{SIM}/_sim/documents", params={"external_document_no": statement["id"]})
        number = found.json()["documents"][0]["No"]
        response = api.post(
            f"/statements/{statement['id']}/issue", headers=ops, json={"externalIds": {"erpId": number}}
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "Issued" and response.json()["externalIds"]["erpId"] == number
        with db.read_scope() as session:
            row = session.execute(select(ErpOutbox).where(ErpOutbox.statement_id == statement["id"])).scalar_one()
            assert (row.state, row.resolution) == ("done", "manual")
            operations = session.execute(
                select(ErpAttempt.operation).where(ErpAttempt.statement_id == statement["id"])
            ).scalars()
            assert "manual.issue" in list(operations)

    def test_unknown_number_is_422_and_changes_nothing(self, api, ops, db, queued, served, erp_settings):
        statement = fail_one_create(served[0], db, erp_settings, queued)
        before = api.get(f"/statements/{statement['id']}", headers=ops).json()
        response = api.post(
            f"/statements/{statement['id']}/issue", headers=ops, json={"externalIds": {"erpId": "SI-999999"}}
        )
        assert response.status_code == 422 and response.json()["type"].endswith("erp-document-not-found")
        after = api.get(f"/statements/{statement['id']}", headers=ops).json()
        assert after["status"] == before["status"] == "Error"
        assert after["externalIds"] == before["externalIds"]

    def test_a_document_of_another_statement_is_409(self, api, ops, db, queued, served, erp_settings):
        simulator, _ = served
        first = fail_one_create(simulator, db, erp_settings, queued)  # every statement: Error, header-only
        second = next(s for s in queued[1:] if s["type"] == first["type"])
        found = simulator.session().get(f"{SIM}/_sim/documents", params={"external_document_no": second["id"]})
        other_number = found.json()["documents"][0]["No"]
        response = api.post(
            f"/statements/{first['id']}/issue", headers=ops, json={"externalIds": {"erpId": other_number}}
        )
        assert response.status_code == 409, response.text
        assert "belongs to" in response.json()["detail"]
        assert api.get(f"/statements/{first['id']}", headers=ops).json()["status"] == "Error"

    def test_retry_of_an_issued_statement_is_409(self, api, ops, db, queued, served, erp_settings):
        drive(Pusher(db, erp_settings, SoapGateway(erp_settings), "replica-1"))
        response = api.post(f"/statements/{queued[0]['id']}/retry", headers=ops)
        assert response.status_code == 409


class TestCli:
    def test_bulk_retry_by_rql_and_dry_run(self, api, ops, db, queued, served, erp_settings, cli):
        simulator, _ = served
        http = simulator.session()
        http.patch(f"{SIM}/_sim/faults", json={"ops": {"*.Create": {"soap_validation": 1.0}}})
        drive(Pusher(db, erp_settings, SoapGateway(erp_settings), "replica-1"))
        http.patch(f"{SIM}/_sim/faults", json={"ops": {"*.Create": None}})
        assert {s["status"] for s in statements_of(api, ops, queued).values()} == {"Error"}
        rql = 'and(eq(status,Error),eq(type,"Debit"))'
        dry = cli.invoke(app, ["statements", "retry", "--filter", rql, "--dry-run"])
        assert dry.exit_code == 0, dry.output
        debit = [s for s in queued if s["type"] == "Debit"]
        assert f"{len(debit)} statement(s) match" in dry.output
        assert {s["status"] for s in statements_of(api, ops, queued).values()} == {"Error"}
        done = cli.invoke(app, ["statements", "retry", "--filter", rql, "--yes"])
        assert done.exit_code == 0, done.output
        now = statements_of(api, ops, queued)
        assert {now[s["id"]]["status"] for s in debit} == {"Queued"}
        assert all(now[s["id"]]["status"] == "Error" for s in queued if s["type"] != "Debit")

    def test_cancel_of_a_header_only_document_deletes_it(self, api, ops, db, queued, served, erp_settings, cli):
        simulator, _ = served
        statement = fail_one_create(simulator, db, erp_settings, queued)
        http = simulator.session()
        params = {"external_document_no": statement["id"]}
        assert len(http.get(f"{SIM}/_sim/documents", params=params).json()["documents"]) == 1
        result = cli.invoke(app, ["statements", "cancel", statement["id"]])
        assert result.exit_code == 0, result.output
        drive(Pusher(db, erp_settings, SoapGateway(erp_settings), "replica-1"))
        assert http.get(f"{SIM}/_sim/documents", params=params).json()["documents"] == []
        assert api.get(f"/statements/{statement['id']}", headers=ops).json()["status"] == "Cancelled"

    def test_pause_resume_status_lookup_attempts(self, db, queued, served, erp_settings, cli):
        paused = cli.invoke(app, ["erp", "pause", "--reason", "ERP upgrade tonight"])
        assert paused.exit_code == 0
        with db.read_scope() as session:
            control = session.get(ErpControl, 1)
            assert control is not None and control.paused and control.pause_reason == "ERP upgrade tonight"
        status = cli.invoke(app, ["erp", "status"])
        assert "paused" in status.output and "ERP upgrade tonight" in status.output
        pusher = Pusher(db, erp_settings, SoapGateway(erp_settings), "replica-1")
        assert pusher.claim(10) == []
        assert cli.invoke(app, ["erp", "resume"]).exit_code == 0
        drive(pusher)
        lookup = cli.invoke(app, ["erp", "lookup", queued[0]["id"]])
        assert lookup.exit_code == 0 and "1 ERP document(s)" in lookup.output
        attempts = cli.invoke(app, ["erp", "attempts", queued[0]["id"]])
        assert attempts.exit_code == 0 and "2 attempts." in attempts.output  # Create and Update
        assert "not posted" not in cli.invoke(app, ["erp", "status"]).output  # pushed just now: within the allowance
        with db.session_scope() as session:  # pushed 8 days ago and the ERP never posted it
            statement = session.get(Statement, queued[0]["id"])
            statement.queued_at -= timedelta(days=8)
        stuck = cli.invoke(app, ["erp", "status"])
        assert "Issued over 7 days ago, not posted" in stuck.output and queued[0]["id"] in stuck.output
