"""`billing daemon` as a real process: it validates a queued upload and stops cleanly on SIGTERM."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from billing.attachments.storage import AttachmentStorage
from billing.auth.capabilities import Scope
from billing.auth.principal import Principal, Role
from billing.db.engine import Database
from billing.db.migrate import upgrade
from billing.db.models import Journal
from billing.demo import demo_charges
from billing.journals.schemas import JournalCreate
from billing.journals.service import JournalService
from billing.kit.binding import bind
from billing.reference.demo import DEMO_ACCOUNTS, build_demo_dataset
from billing.reference.service import ReferenceService
from billing.settings import Settings


def test_daemon_validates_queued_uploads_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/daemon.db"
    upgrade(url)
    database = Database(url)
    settings = Settings(database_url=url, storage={"attachments_dir": tmp_path / "files"})
    vendor = Principal(DEMO_ACCOUNTS["vendor"], Role.VENDOR, {"id": "TKN-1", "name": "t", "icon": ""})
    authorization_id, content = demo_charges(lines=20)
    (tmp_path / "charges.jsonl").write_bytes(content)
    with database.session_scope() as session:
        ReferenceService(session, vendor).import_document(build_demo_dataset(), "replace")
        journals = JournalService(session, vendor, Scope.OWN_VENDOR)
        journal = journals.create(bind(JournalCreate, {"name": "d", "authorization": {"id": authorization_id}}))
        with (tmp_path / "charges.jsonl").open("rb") as stream:
            journals.upload(
                journal.id,
                stream=stream,
                filename="charges.jsonl",
                content_type="application/x-ndjson",
                file_format="jsonl",
                limit=10**8,
                storage=AttachmentStorage.from_settings(settings),
            )
        journal_id = journal.id
    env = {
        **os.environ,
        "BILLING_DATABASE_URL": url,
        "BILLING_STORAGE__ATTACHMENTS_DIR": str(tmp_path / "files"),
        "BILLING_WORKER__POLL_S": "0.2",
        "BILLING_DAEMON__HTTP_PORT": "0",
    }
    daemon = subprocess.Popen(
        [sys.executable, "-m", "billing.cli", "daemon", "--replica-id", "test-replica"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        status = "Validating"
        while status == "Validating" and time.monotonic() < deadline:
            time.sleep(0.2)
            with database.read_scope() as session:
                status = session.get(Journal, journal_id).status
        assert status == "Error", status  # the demo file carries one bad line
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(15) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    output = daemon.stdout.read() if daemon.stdout else ""
    assert "daemon.started" in output and "daemon.stopped" in output
    with database.read_scope() as session:
        journal = session.get(Journal, journal_id)
        assert journal.upload_total > 1 and journal.upload_error == 1
    database.dispose()


def test_a_stalled_stop_still_exits_0_within_the_grace_period_plus_5_s(db: Database, database_url: str, tmp_path: Path):
    """§5.4/§6.18 under a stall: the replica row stays write-locked by someone else, so the heartbeat and the final
    'stopped' beat cannot finish; the shutdown watchdog still exits 0 within shutdown_grace_s + 5 s."""
    from sqlalchemy import func, select, update

    from billing.db.models import DaemonReplica

    env = {
        **os.environ,
        "BILLING_DATABASE_URL": database_url,
        "BILLING_ERP__ENABLED": "false",
        "BILLING_DAEMON__HTTP_PORT": "0",
        "BILLING_DAEMON__HEARTBEAT_S": "0.2",
        "BILLING_DAEMON__SHUTDOWN_GRACE_S": "1",
    }
    daemon = subprocess.Popen(
        [sys.executable, "-m", "billing.cli", "daemon", "--replica-id", "stalled"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        beaten = 0
        while not beaten and time.monotonic() < deadline:
            time.sleep(0.1)
            with db.read_scope() as session:
                beaten = session.execute(select(func.count()).select_from(DaemonReplica)).scalar_one()
        assert beaten == 1
        with db.engine.begin() as connection:  # holds the row (PostgreSQL) or the write lock (SQLite) until the end
            connection.execute(update(DaemonReplica).values(state="running"))
            daemon.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            assert daemon.wait(1 + 5) == 0
            assert time.monotonic() - stopped <= 1 + 5
    finally:
        if daemon.poll() is None:
            daemon.kill()
    output = daemon.stdout.read() if daemon.stdout else ""
    assert "daemon.stopping" in output and "daemon.stop.forced" in output, output[-3000:]


def test_a_delivery_rule_naming_no_target_refuses_to_start(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "BILLING_DATABASE_URL": f"sqlite:///{tmp_path}/refused.db",
        "BILLING_DAEMON__HTTP_PORT": "0",
        "BILLING_DOCUMENTS__RULES": '[{"target": "nowhere"}]',
    }
    upgrade(env["BILLING_DATABASE_URL"])
    refused = subprocess.run(
        [sys.executable, "-m", "billing.cli", "daemon"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2
    assert "nowhere" in refused.stderr and "Traceback" not in refused.stderr


def test_a_tick_skipped_while_the_last_run_goes_on_is_not_logged_but_other_scheduler_warnings_are(caplog):
    import billing.jobs.daemon  # noqa: F401 - installs the filter

    scheduler_log = logging.getLogger("apscheduler.scheduler")
    with caplog.at_level(logging.WARNING, logger="apscheduler.scheduler"):
        scheduler_log.warning(
            'Execution of job "%s" skipped: maximum number of running instances reached (%d)', "erp.push", 1
        )
        scheduler_log.warning('Run time of job "%s" was missed by %s', "erp.push", "0:00:02")
    assert [record.getMessage() for record in caplog.records] == ['Run time of job "erp.push" was missed by 0:00:02']
