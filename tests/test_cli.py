"""The command line: db upgrade, reference import/export/demo, and `billing demo --once` as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from billing.cli import app
from billing.settings import get_settings


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BILLING_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def test_db_upgrade_reference_demo_import_and_export(cli_env: Path) -> None:
    runner = CliRunner()
    upgraded = runner.invoke(app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    demo = runner.invoke(app, ["reference", "demo", "--out", "demo.json"])
    assert demo.exit_code == 0, demo.output
    assert (cli_env / "demo.json").is_file() and "agreements" in demo.output
    exported = runner.invoke(app, ["reference", "export", "--out", "export.json"])
    assert exported.exit_code == 0
    document = json.loads((cli_env / "export.json").read_text())
    assert len(document["agreements"]) == len(json.loads((cli_env / "demo.json").read_text())["agreements"])
    assert all("secret" not in token for token in document["api-tokens"])
    again = runner.invoke(app, ["reference", "import", "export.json", "--mode", "replace"])
    assert again.exit_code == 0 and "unchanged" in again.output


def test_reference_import_reports_problems_by_path_and_exits_1(cli_env: Path) -> None:
    runner = CliRunner()
    runner.invoke(app, ["db", "upgrade"])
    (cli_env / "bad.yaml").write_text("accounts:\n  - {id: nope, type: Client}\n")
    result = runner.invoke(app, ["reference", "import", "bad.yaml"])
    assert result.exit_code == 1
    assert "accounts[0].id" in result.output and "accounts[0].name" in result.output


def test_demo_once_runs_the_self_check_against_a_live_server(tmp_path: Path) -> None:
    env = {**os.environ, "BILLING_DATABASE_URL": f"sqlite:///{tmp_path}/demo.db"}
    result = subprocess.run(
        [sys.executable, "-m", "billing.cli", "demo", "--once", "--port", "0", "--erp-port", "0"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checks passed" in result.stdout and "demo-operations-token" in result.stdout


def test_journals_upload_validates_with_progress_and_summarises_errors_by_rule(
    cli_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from billing.demo import demo_charges
    from billing.reference.demo import DEMO_ACCOUNTS

    monkeypatch.setenv("COLUMNS", "200")  # rich wraps the table at the runner's default 80 columns
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["reference", "demo", "--out", "demo.json"]).exit_code == 0
    authorization_id, content = demo_charges(lines=12)
    (cli_env / "charges.jsonl").write_bytes(content)

    from billing.auth.capabilities import Scope
    from billing.auth.principal import Principal, Role
    from billing.db.engine import Database
    from billing.journals.schemas import JournalCreate
    from billing.journals.service import JournalService
    from billing.kit.binding import bind

    database = Database(get_settings().database_url)
    vendor = Principal(DEMO_ACCOUNTS["vendor"], Role.VENDOR, {"id": "TKN-1", "name": "t", "icon": ""})
    with database.session_scope() as session:
        journal = JournalService(session, vendor, Scope.OWN_VENDOR).create(
            bind(JournalCreate, {"name": "cli", "authorization": {"id": authorization_id}})
        )
    result = runner.invoke(app, ["journals", "upload", journal.id.lower(), "charges.jsonl"])
    assert result.exit_code == 1, result.output  # the demo file has one bad line
    assert f"Journal {journal.id} is Error" in result.output
    assert "Errors by rule" in result.output and "Duplicate 'externalIds.vendor'" in result.output
    missing = runner.invoke(app, ["journals", "upload", "BJO-0000-0001", "charges.jsonl"])
    assert missing.exit_code == 2 and "was not found" in missing.output
