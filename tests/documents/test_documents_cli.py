"""`billing documents render|deliver|status|resend|resume` against a real database and a drop folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from billing.cli import app
from billing.db.engine import Database
from billing.db.models import DeliveryTarget, Statement
from billing.kit.timeutil import utcnow
from billing.settings import get_settings
from erp.factory import make_queued_statements


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("BILLING_DATABASE_URL", database_url)
    monkeypatch.setenv("BILLING_STORAGE__ATTACHMENTS_DIR", str(tmp_path / "files"))
    monkeypatch.setenv(
        "BILLING_DOCUMENTS__TARGETS", json.dumps([{"name": "inbox", "type": "folder", "path": str(tmp_path / "inbox")}])
    )
    monkeypatch.setenv("BILLING_DOCUMENTS__RULES", json.dumps([{"target": "inbox", "formats": ["pdf"]}]))
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_render_deliver_resend_and_status(demo_world, db: Database, cli: CliRunner, tmp_path: Path) -> None:
    ids = make_queued_statements(db, 3)
    with db.session_scope() as session:
        session.execute(update(Statement).where(Statement.id.in_(ids[:2])).values(status="Issued", updated_at=utcnow()))
    rendered = cli.invoke(app, ["documents", "render", "--type", "statement", "--filter", "eq(status,Issued)"])
    assert rendered.exit_code == 0, rendered.output
    assert "2 of 2 rendered" in rendered.output and rendered.output.count("new") == 4
    again = cli.invoke(app, ["documents", "render", ids[0]])
    assert again.exit_code == 0 and again.output.count("unchanged") == 2
    inbox = tmp_path / "inbox"
    missing = cli.invoke(app, ["documents", "deliver"])  # a drop folder is a mount: never created by us
    assert missing.exit_code == 1 and "does not exist" in missing.output
    inbox.mkdir()
    delivered = cli.invoke(app, ["documents", "deliver"])
    assert delivered.exit_code == 0 and "0 delivered" in delivered.output  # the failed ones wait for their back-off
    for statement_id in ids[:2]:
        assert cli.invoke(app, ["documents", "deliver", statement_id]).exit_code == 0
    assert sorted(path.name for path in inbox.iterdir()) == sorted(f"statement-{i}.pdf" for i in ids[:2])  # pdf only
    status = cli.invoke(app, ["documents", "status"])
    assert status.exit_code == 0 and "inbox" in status.output and "active" in status.output
    resent = cli.invoke(app, ["documents", "resend", ids[0]])
    assert resent.exit_code == 0 and "1 new deliveries" in resent.output, resent.output
    assert cli.invoke(app, ["documents", "deliver", ids[0]]).exit_code == 0
    assert len(list(inbox.iterdir())) == 2  # the same content is not written twice
    with db.session_scope() as session:
        session.merge(DeliveryTarget(name="inbox", consecutive_failures=5, paused_at=utcnow(), pause_reason="disk"))
    paused = cli.invoke(app, ["documents", "status"])
    assert paused.exit_code == 1 and "paused" in paused.output
    resumed = cli.invoke(app, ["documents", "resume", "inbox"])
    assert resumed.exit_code == 0 and "resumed" in resumed.output
    assert cli.invoke(app, ["documents", "render", "XYZ-1"]).exit_code == 2
