"""`billing daemon` as a real process against the ERP simulator on a real socket: queued statements become Issued
with one ERP document each; /healthz, /readyz, /status and /metrics answer; SIGTERM exits 0 (§5, §6.19)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from billing.db.models import Statement
from billing.erp_sim.app import ErpSimulator
from billing.erp_sim.seed import seed_from_reference
from billing.erp_sim.settings import ErpSimSettings
from billing.reference.demo import build_demo_dataset

METRICS = {
    "billing_erp_outbox_rows",
    "billing_erp_outbox_oldest_age_seconds",
    "billing_erp_push_attempts",
    "billing_erp_call_duration_seconds",
    "billing_erp_in_flight",
    "billing_erp_pull_lag_seconds",
    "billing_erp_pull_documents",
    "billing_erp_queue_paused",
    "billing_erp_circuit_open",
    "billing_erp_push_total_mismatch",
    "billing_erp_duplicate_documents",
    "billing_erp_issued_unlinked",
    "billing_job_runs",
    "billing_job_duration_seconds",
    "billing_daemon_live_replicas",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_daemon_pushes_queued_statements_and_serves_health_and_metrics(
    api, ops, queued, database_url, tmp_path: Path
) -> None:
    simulator = ErpSimulator(ErpSimSettings(), db=tmp_path / "erp.sqlite")
    seed_from_reference(simulator, build_demo_dataset())
    server = simulator.serve_in_thread()
    port = free_port()
    env = {
        **os.environ,
        "BILLING_DATABASE_URL": database_url,
        "BILLING_ERP__BASE_URL": server.base_url,
        "BILLING_ERP__RATE_LIMIT_PER_MINUTE": "0",
        "BILLING_DAEMON__HTTP_PORT": str(port),
        "BILLING_DAEMON__PUSH_INTERVAL_S": "0.2",
        "BILLING_DAEMON__HEARTBEAT_S": "1",
        "BILLING_WORKER__POLL_S": "0.5",
    }
    daemon = subprocess.Popen(
        [sys.executable, "-m", "billing.cli", "daemon", "--replica-id", "erp-replica"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        statuses: set[str] = set()
        while time.monotonic() < deadline:
            statuses = {api.get(f"/statements/{s['id']}", headers=ops).json()["status"] for s in queued}
            if statuses == {"Issued"}:
                break
            time.sleep(0.3)
        assert statuses == {"Issued"}
        assert httpx.get(f"{base}/healthz").status_code == 200
        assert httpx.get(f"{base}/readyz").status_code == 200
        status = httpx.get(f"{base}/status").json()
        assert status["replica"] == "erp-replica" and status["paused"] is False and status["share"] == 5
        families = {family.name for family in text_string_to_metric_families(httpx.get(f"{base}/metrics").text)}
        assert families >= METRICS, METRICS - families
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
        server.stop()
        simulator.close()
    reopened = ErpSimulator(ErpSimSettings(), db=tmp_path / "erp.sqlite")  # the state file outlives the server
    try:
        http = reopened.session()
        assert http.get("http://erp-sim.test/_sim/duplicates").json()["count"] == 0
        for statement in queued:
            found = http.get("http://erp-sim.test/_sim/documents", params={"external_document_no": statement["id"]})
            assert len(found.json()["documents"]) == 1
    finally:
        reopened.close()
    output = daemon.stdout.read() if daemon.stdout else ""
    assert "daemon.started" in output and "daemon.stopped" in output


def test_sigterm_during_a_push_exits_0_and_another_replica_finishes(
    demo_world, db, database_url, erp_settings, tmp_path: Path
) -> None:
    """§6.18: a SIGTERM during a push exits 0 within the grace period (+5 s); rows it held are released or
    expire, and another replica finishes every statement with exactly one ERP document."""
    from billing.erp.push import Pusher
    from billing.erp.soap import SoapGateway
    from erp.factory import make_queued_statements
    from erp.test_push import drive

    ids = make_queued_statements(db, 40)
    simulator = ErpSimulator(ErpSimSettings(), db=tmp_path / "erp.sqlite")
    seed_from_reference(simulator, build_demo_dataset())
    simulator.session().patch("http://erp-sim.test/_sim/faults", json={"latency": {"median_ms": 150}})
    server = simulator.serve_in_thread()
    env = {
        **os.environ,
        "BILLING_DATABASE_URL": database_url,
        "BILLING_ERP__BASE_URL": server.base_url,
        "BILLING_ERP__RATE_LIMIT_PER_MINUTE": "0",
        "BILLING_ERP__PUSH__LEASE_S": "4",
        "BILLING_ERP__TIMEOUTS__OPERATION_S": "2",
        "BILLING_ERP__PUSH__UNCERTAIN_SETTLE_S": "1",
        "BILLING_DAEMON__HTTP_PORT": "0",
        "BILLING_DAEMON__PUSH_INTERVAL_S": "0.2",
        "BILLING_DAEMON__SHUTDOWN_GRACE_S": "3",
    }
    daemon_log = tmp_path / "daemon.log"
    daemon = subprocess.Popen(
        [sys.executable, "-m", "billing.cli", "daemon", "--replica-id", "leaving"],
        env={**env, "BILLING_LOG__LEVEL": "DEBUG"},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=daemon_log.open("wb"),
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with db.read_scope() as session:
                done = session.execute(
                    select(func.count()).where(Statement.id.in_(ids), Statement.status == "Issued")
                ).scalar_one()
            if done >= 3:
                break
            time.sleep(0.1)
        assert 3 <= done < len(ids), done  # stopped in the middle of the push
        daemon.send_signal(signal.SIGTERM)
        stopped = time.monotonic()
        try:
            code = daemon.wait(3 + 5)
        except subprocess.TimeoutExpired:
            code = None
        assert code == 0, daemon_log.read_text()[-4000:]
        assert time.monotonic() - stopped <= 3 + 5
        erp_settings.base_url = server.base_url
        time.sleep(4)  # a lease the leaving replica kept (a call in flight) expires
        drive(Pusher(db, erp_settings, SoapGateway(erp_settings), "staying"), seconds=60)
        with db.read_scope() as session:
            issued = session.execute(
                select(func.count()).where(Statement.id.in_(ids), Statement.status == "Issued")
            ).scalar_one()
        assert issued == len(ids)
        http = simulator.session()
        assert http.get("http://erp-sim.test/_sim/duplicates").json()["count"] == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
        server.stop()
        simulator.close()
