"""``billing erp reconcile``: a rich summary of the reconciliation report, exit 0 when clean, 1 when not."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from rich.console import Console
from typer.testing import CliRunner

from billing.cli import app
from billing.settings import get_settings
from reports.factory import make_statement, post_document

S1 = "SOM-1111-0001-5010-9701-4062"
S2 = "SOM-1111-0002-5010-9701-4062"


@pytest.fixture
def run(db, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The CLI against the test database (SQLite or PostgreSQL) through typer's runner."""
    monkeypatch.setenv("BILLING_DATABASE_URL", database_url)
    # rich sizes its console once, at import: a wide one keeps the ids in the tables whole
    monkeypatch.setattr("billing.cli.console", Console(width=200))
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(app, ["erp", "reconcile", *args])
    get_settings.cache_clear()


def test_clean_database_exits_0(run, db):
    make_statement(db, S1, total="100")
    post_document(db, "US-SIN-1001", statement_id=S1, amounts=("50", "50.01"))
    result = run()
    assert result.exit_code == 0, result.output
    assert "statements compared with their document" in result.output and "Clean." in result.output


def test_differences_exit_1_and_are_listed(run, db):
    make_statement(db, S1, total="100")
    post_document(db, "US-SIN-1001", statement_id=S1, amounts=("75",))
    make_statement(db, S2, status="Issued", erp_id="US-SI-000042")
    post_document(db, "US-SIN-2001", amounts=("5",))
    result = run()
    assert result.exit_code == 1, result.output
    for text in (S1, "US-SIN-1001", "25", S2, "US-SI-000042", "US-SIN-2001", "Differences found."):
        assert text in result.output


def test_period_options_bound_the_statements(run, db):
    make_statement(db, S1, status="Issued", erp_id="US-SI-000042")  # queued 2025-06-01
    assert run("--from", "2025-06-02").exit_code == 0
    assert run("--to", "2025-05-31").exit_code == 0
    assert run("--from", "2025-06-01", "--to", "2025-06-01").exit_code == 1


def test_json_is_the_api_document(run, db):
    make_statement(db, S1, type="Credit", total="-100")
    post_document(db, "US-SCM-1001", doc_type="credit_memo", statement_id=S1, amounts=("99",))
    result = run("--json", "--limit", "5")
    assert result.exit_code == 1, result.output
    body = json.loads(result.output)
    assert body["summary"] == {
        "statementsCompared": 1,
        "totalMismatches": 1,
        "unlinkedDocuments": 0,
        "issuedNotPosted": 0,
        "clean": False,
    }
    assert body["limit"] == 5 and body["totalMismatches"][0]["difference"] == 1


def test_invalid_option_exits_2(run, db):
    result = run("--from", "not-a-date")
    assert result.exit_code == 2
    assert "'from' must be an ISO 8601 date" in result.output
