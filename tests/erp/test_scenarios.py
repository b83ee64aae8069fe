"""Acceptance scenarios against the real simulator (erp-integration.md §6.7 outage, §6.8 auth failure, §6.9
concurrency cap, §6.17 one runner per job, threads and real daemon processes), at test-sized timings."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from billing.db.models import ErpAttempt, ErpControl, ErpOutbox, JobLease, Statement
from billing.erp import jobs as erp_jobs
from billing.erp.push import Pusher
from billing.erp.repository import ControlRepository, db_now
from billing.erp_sim.app import ErpSimulator
from billing.erp_sim.seed import seed_from_reference
from billing.erp_sim.settings import ErpSimSettings
from billing.jobs.leases import JobLeaseRepository, share_of
from billing.reference.demo import build_demo_dataset
from erp.factory import make_queued_statements
from erp.test_daemon_push import free_port
from erp.test_push import drive

SIM = "http://erp-sim.test"


def issued(db, ids: list[str]) -> int:
    with db.read_scope() as session:
        return int(
            session.execute(
                select(func.count()).where(Statement.id.in_(ids), Statement.status == "Issued")
            ).scalar_one()
        )


class TestOutage:
    @pytest.mark.parametrize("mode", ["503", "reset"])
    def test_nothing_lost_breaker_opens_and_all_issued_after(
        self, demo_world, db, erp_settings, gateway, sim_http, mode
    ):
        ids = make_queued_statements(db, 20)
        erp_settings.push.backoff.base_s = 0.2
        erp_settings.push.backoff.cap_s = 1
        erp_settings.push.backoff.max_failures = 50
        pusher = Pusher(db, erp_settings, gateway, "replica-1", slots=5)
        assert sim_http.post(f"{SIM}/_sim/outage", json={"seconds": 3, "mode": mode}).status_code == 200
        outage_ends = time.monotonic() + 3
        while time.monotonic() < outage_ends:
            pusher.tick(max_seconds=1)
            time.sleep(0.05)
        assert pusher.breaker.times_opened >= 1
        with db.read_scope() as session:
            errors = session.execute(select(func.count()).where(Statement.status == "Error")).scalar_one()
            claims = session.execute(select(func.max(ErpOutbox.claims))).scalar_one()
            calls = session.execute(
                select(ErpAttempt.statement_id, func.count()).group_by(ErpAttempt.statement_id)
            ).all()
        assert errors == 0
        assert claims <= 5
        assert max((count for _, count in calls), default=0) <= 15
        deadline = time.monotonic() + 30
        while issued(db, ids) < len(ids) and time.monotonic() < deadline:
            pusher.tick(max_seconds=2)
            time.sleep(0.05)
        assert issued(db, ids) == len(ids)
        assert sim_http.get(f"{SIM}/_sim/duplicates").json()["count"] == 0


class TestAuthFailure:
    def test_paused_without_counting_then_resumed_by_the_probe(self, demo_world, db, erp_settings, gateway, sim_http):
        ids = make_queued_statements(db, 6)
        sim_http.patch(f"{SIM}/_sim/faults", json={"reject_credentials": True})
        pusher = Pusher(db, erp_settings, gateway, "replica-1", slots=2)
        pusher.tick(max_seconds=2)
        with db.read_scope() as session:
            control = session.get(ErpControl, 1)
            assert control is not None and control.paused and control.paused_by == "auto"
            assert "401" in (control.pause_reason or "")
            assert session.execute(select(func.max(ErpOutbox.failures))).scalar_one() == 0
            assert session.execute(select(func.count()).where(Statement.status == "Error")).scalar_one() == 0
        assert erp_jobs.probe(db, gateway) is False  # still refused: stays paused
        sim_http.patch(f"{SIM}/_sim/faults", json={"reject_credentials": False})
        assert erp_jobs.probe(db, gateway) is True
        drive(pusher)
        assert issued(db, ids) == len(ids)


class TestConcurrencyCap:
    def _run(self, db, erp_settings, gateway, slots: list[int]) -> None:
        pushers = [Pusher(db, erp_settings, gateway, f"replica-{n}", slots=s) for n, s in enumerate(slots)]
        threads = [threading.Thread(target=drive, args=(p, 60)) for p in pushers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def test_shares_of_the_default_cap_keep_the_erp_within_its_limit(
        self, demo_world, db, erp_settings, gateway, sim_http
    ):
        ids = make_queued_statements(db, 30)
        sim_http.patch(f"{SIM}/_sim/limits", json={"max_in_flight": 5, "queue": 0})
        sim_http.patch(f"{SIM}/_sim/faults", json={"latency": {"dist": "fixed", "median_ms": 30}})
        live = ["replica-0", "replica-1", "replica-2"]
        shares = [share_of(replica, live, erp_settings.max_in_flight) for replica in live]
        assert shares == [2, 2, 1]
        sim_http.delete(f"{SIM}/_sim/stats")
        self._run(db, erp_settings, gateway, shares)
        stats = sim_http.get(f"{SIM}/_sim/stats").json()
        assert stats["concurrency"]["peak"] <= 5
        assert "429" not in {str(status) for status in stats["requests"]["byStatus"]}
        assert issued(db, ids) == len(ids)

    def test_a_misconfigured_cap_is_throttled_not_failed(self, demo_world, db, erp_settings, gateway, sim_http):
        ids = make_queued_statements(db, 30)
        sim_http.patch(f"{SIM}/_sim/limits", json={"max_in_flight": 5, "queue": 0, "retry_after_s": 0})
        sim_http.patch(f"{SIM}/_sim/faults", json={"latency": {"dist": "fixed", "median_ms": 30}})
        erp_settings.breaker.open_after = 10_000  # this scenario is about throttling, not the breaker
        self._run(db, erp_settings, gateway, [10, 10, 10])
        with db.read_scope() as session:
            outcomes = dict(
                session.execute(select(ErpAttempt.outcome, func.count()).group_by(ErpAttempt.outcome)).all()
            )
            failures = session.execute(select(func.max(ErpOutbox.failures))).scalar_one()
        assert outcomes.get("throttled", 0) > 0
        assert failures == 0
        assert issued(db, ids) == len(ids)


class TestOneRunnerPerJob:
    def test_job_leases_never_overlap(self, db):
        runs: list[tuple[str, float, float]] = []
        lock = threading.Lock()
        stop = time.monotonic() + 3

        def replica(name: str) -> None:
            while time.monotonic() < stop:
                with db.session_scope() as session:
                    lease = JobLeaseRepository(session).acquire("erp.pull.invoices", name, timedelta(seconds=30))
                if lease is not None:
                    started = time.monotonic()
                    time.sleep(0.02)
                    with lock:
                        runs.append((name, started, time.monotonic()))
                    with db.session_scope() as session:
                        assert JobLeaseRepository(session).finish(lease, "ok")
                time.sleep(0.005)

        threads = [threading.Thread(target=replica, args=(f"replica-{n}",)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        runs.sort(key=lambda run: run[1])
        assert len(runs) > 10
        for (_, _, previous_end), (_, start, _) in itertools.pairwise(runs):
            assert start >= previous_end  # never two runs at once
        assert len({name for name, _, _ in runs}) >= 2  # and not always the same replica


#: The daemon's jobs guarded by a job lease (billing.jobs.daemon: ``single_runner=True``); ``erp.reap`` is not one
#: (idempotent, §5.2).
SINGLE_RUNNER_JOBS = {
    "erp.probe",
    "erp.pull.invoices",
    "erp.pull.credit_memos",
    "erp.pull.ledger",
    "erp.refresh_open",
    "invoices.mark_overdue",
    "housekeeping",
}


def job_runs(log_file: Path) -> list[tuple[str, str, datetime, datetime]]:
    """(job, replica, started, finished) of each single-runner run, from a daemon's JSON log lines
    ``daemon.job.started`` / ``daemon.job.finished``, paired by lease token; every start has its finish."""
    started: dict[str, dict[str, Any]] = {}
    runs: list[tuple[str, str, datetime, datetime]] = []
    for line in log_file.read_text().splitlines():
        if not line.startswith("{"):
            continue  # a library's plain log line
        event = json.loads(line)
        if event["event"] == "daemon.job.started":
            started[event["lease"]] = event
        elif event["event"] == "daemon.job.finished":
            start = started.pop(event["lease"])
            assert (start["job"], start["replica"]) == (event["job"], event["replica"])
            runs.append(
                (
                    event["job"],
                    event["replica"],
                    datetime.fromisoformat(start["timestamp"]),
                    datetime.fromisoformat(event["timestamp"]),
                )
            )
    assert not started, f"runs without an end in {log_file.name}: {started}"
    return runs


class TestOneRunnerPerJobAcrossProcesses:
    """§6.17 with real ``billing daemon`` processes: three replicas on one database tick the single-runner jobs
    every second or faster; each run is logged by the replica that ran it. The ERP is down (queue paused by the
    service), so every ``erp.probe`` run spends 300 ms in one ERP call: overlapping runs could not hide."""

    RUN_S = 15

    def test_three_daemons_never_run_a_job_at_once_and_every_job_runs(
        self, demo_world, db, database_url, tmp_path: Path
    ) -> None:
        simulator = ErpSimulator(ErpSimSettings(), db=tmp_path / "erp.sqlite")
        seed_from_reference(simulator, build_demo_dataset())
        admin = simulator.session()
        probe_fails_slowly = {"http_503": 1.0, "latency": {"dist": "fixed", "median_ms": 300}}
        assert admin.patch(f"{SIM}/_sim/faults", json={"ops": {"Customer.ReadMultiple": probe_fails_slowly}}).ok
        with db.session_scope() as session:
            control = ControlRepository(session).get()
            control.paused, control.paused_by, control.pause_reason = True, "auto", "ERP down (test)"
            control.paused_at = db_now(session)
        server = simulator.serve_in_thread()
        replicas = {f"replica-{n}": free_port() for n in range(3)}
        env = {
            **os.environ,
            "BILLING_DATABASE_URL": database_url,
            "BILLING_LOG__FORMAT": "json",
            "BILLING_ERP__BASE_URL": server.base_url,
            "BILLING_ERP__RATE_LIMIT_PER_MINUTE": "0",
            "BILLING_ERP__PAUSE_PROBE_S": "1",
            "BILLING_LOG__LEVEL": "DEBUG",  # the job runs are logged at debug level
            "BILLING_DAEMON__HOUSEKEEPING_INTERVAL_S": "0.5",
            "BILLING_DAEMON__PULL_INTERVAL_S": "0.5",  # pulls skip their work while paused, but take the lease
            "BILLING_DAEMON__MARK_OVERDUE_INTERVAL_S": "0.5",
            "BILLING_ERP__PULL__OPEN_REFRESH_INTERVAL_S": "0.5",
            "BILLING_DAEMON__HEARTBEAT_S": "1",
            "BILLING_DAEMON__SHUTDOWN_GRACE_S": "5",
        }
        daemons: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for replica, port in replicas.items():
                with (tmp_path / f"{replica}.log").open("wb") as out:
                    daemons[replica] = subprocess.Popen(
                        [sys.executable, "-m", "billing.cli", "daemon", "--replica-id", replica],
                        env={**env, "BILLING_DAEMON__HTTP_PORT": str(port)},
                        cwd=tmp_path,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
            deadline = time.monotonic() + 30
            while not all("daemon.started" in (tmp_path / f"{replica}.log").read_text() for replica in replicas):
                assert all(daemon.poll() is None for daemon in daemons.values())
                assert time.monotonic() < deadline, "the daemons did not start"
                time.sleep(0.2)
            time.sleep(self.RUN_S)
            skipped = 0.0
            for port in replicas.values():
                for family in text_string_to_metric_families(httpx.get(f"http://127.0.0.1:{port}/metrics").text):
                    skipped += sum(
                        sample.value
                        for sample in family.samples
                        if sample.name == "billing_job_runs_total"
                        and sample.labels["outcome"] == "skipped"
                        and sample.labels["job"] in SINGLE_RUNNER_JOBS
                    )
            for daemon in daemons.values():
                daemon.send_signal(signal.SIGTERM)
            assert [daemon.wait(15) for daemon in daemons.values()] == [0, 0, 0]
        finally:
            for daemon in daemons.values():
                if daemon.poll() is None:
                    daemon.kill()
            server.stop()
        requests_seen = admin.get(f"{SIM}/_sim/requests", params={"limit": 10000}).json()["requests"]
        peak = admin.get(f"{SIM}/_sim/stats").json()["concurrency"]["peak"]
        simulator.close()

        runs = [run for replica in replicas for run in job_runs(tmp_path / f"{replica}.log")]
        assert {job for job, _, _, _ in runs} == SINGLE_RUNNER_JOBS  # every single-runner job ran
        for name in SINGLE_RUNNER_JOBS:
            history = sorted((run for run in runs if run[0] == name), key=lambda run: run[2])
            assert len(history) >= 3, (name, history)
            for previous, following in itertools.pairwise(history):
                assert following[2] >= previous[3], f"{name} ran on {previous[1]} and {following[1]} at once"
        assert len({replica for _, replica, _, _ in runs}) >= 2  # the leases moved between replicas
        assert skipped > 0  # replicas did compete: some ticks found the lease held by another
        # the ERP's side: one probe call per erp.probe run, never two at once
        probes = [r for r in requests_seen if (r["service"], r["operation"]) == ("Customer", "ReadMultiple")]
        assert len(probes) == sum(1 for run in runs if run[0] == "erp.probe")
        assert peak == 1
        with db.read_scope() as session:
            leases = session.execute(select(JobLease).where(JobLease.name.in_(SINGLE_RUNNER_JOBS))).scalars().all()
        assert {(lease.name, lease.lease_until, lease.last_status) for lease in leases} == {
            (name, None, "ok") for name in SINGLE_RUNNER_JOBS
        }  # clean shutdown: no lease left held
