"""``billing daemon``: APScheduler 3 as a timer; what is due, who owns it and how far work got live in the database
(erp-integration.md §5).

Any number of identical replicas may run. Row-claimed jobs (work items, ``erp.push``,
``documents.render``, ``documents.deliver``) take leases per row; single-runner jobs (``erp.probe``, the pulls,
``erp.refresh_open``, ``invoices.mark_overdue``, ``housekeeping``)
take a job lease first. A small HTTP server answers
``/healthz``, ``/readyz``, ``/status`` and ``/metrics``. SIGTERM/SIGINT: readiness turns false, no new runs start,
claimed rows not started are released, running ones get ``daemon.shutdown_grace_s``; a second signal exits at once.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.orm import Session

from billing import __version__
from billing.db.engine import Database
from billing.documents.delivery import deliver_due, validate_delivery_config
from billing.documents.jobs import render_tick
from billing.erp import jobs as erp_jobs
from billing.erp.gateway import ErpGateway
from billing.erp.pull import LeaseRenewal, Puller
from billing.erp.push import Pusher
from billing.erp.repository import AttemptRepository, ControlRepository, db_now
from billing.jobs.leases import JobLeaseRepository, ReplicaRepository, share_of
from billing.jobs.registry import HANDLERS
from billing.jobs.worker import run_pending
from billing.kit.timeutil import utcnow
from billing.metrics import DaemonMetrics, DatabaseCollector
from billing.posted_documents.lifecycle import mark_overdue
from billing.settings import ConfigurationError, Settings

log = structlog.get_logger("billing.daemon")
logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a tick every second is not news


def _not_still_running(record: logging.LogRecord) -> bool:
    """A tick skipped because the job's last run is still going is expected (a push runs up to 30 s while its
    interval is 1 s): APScheduler warns about it on every tick, which is noise and costs CPU."""
    return "maximum number of running instances reached" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_not_still_running)
BEAT_FRESH_S = 30
FORCED_EXIT_MARGIN_S = 3.0  # after the grace period, the stop gives up on its last steps and exits (§5.4: + 5 s)
PULL_JOBS = {  # single-runner job → pull stream (§5.2)
    "erp.pull.invoices": "posted_invoices",
    "erp.pull.credit_memos": "posted_credit_memos",
    "erp.pull.ledger": "ledger_entries",
}


class Daemon:
    def __init__(self, settings: Settings, replica_id: str, *, gateway: ErpGateway | None = None) -> None:
        if settings.documents.enabled:
            validate_delivery_config(settings.documents)  # a bad rule refuses to start rather than fail every tick
        self.settings = settings
        self.replica_id = replica_id
        self.database = Database(settings.database_url)
        self.metrics = DaemonMetrics()
        gauges = partial(erp_jobs.gauges, unposted_alert=settings.erp.pull.unposted_alert)
        self.metrics.registry.register(DatabaseCollector(self.database, gauges))
        if gateway is None and settings.erp.enabled:
            from billing.erp.soap import SoapGateway

            gateway = SoapGateway(settings.erp)
        self.gateway = gateway
        self.pusher = (
            Pusher(
                self.database,
                settings.erp,
                gateway,
                replica_id,
                slots=1,
                metrics=self.metrics,
            )
            if gateway is not None
            else None
        )
        if self.pusher is not None:
            pusher = self.pusher
            self.metrics.in_flight.set_function(lambda: pusher.in_flight)
        self.stopping = threading.Event()
        self.last_beat = 0.0
        self.scheduler = BackgroundScheduler()
        self.http: ThreadingHTTPServer | None = None

    # --- life cycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        self.beat()
        d = self.settings.daemon
        self._every("work.pending", self.settings.worker.poll_s, self._work)
        self._every("daemon.heartbeat", d.heartbeat_s, self.beat)
        if self.pusher is not None:
            self._every("erp.push", d.push_interval_s, self._push)
            self._every("erp.reap", d.reap_interval_s, lambda: erp_jobs.reap(self.database))
            self._every("erp.probe", self.settings.erp.pause_probe_s, self._probe, single_runner=True)
            for job, stream in PULL_JOBS.items():
                self._every(job, d.pull_interval_s, partial(self._pull, stream), single_runner=True)
            refresh_s = self.settings.erp.pull.open_refresh_interval_s
            self._every("erp.refresh_open", refresh_s, self._refresh_open, single_runner=True)
        self._every("invoices.mark_overdue", d.mark_overdue_interval_s, self._mark_overdue, single_runner=True)
        documents = self.settings.documents
        if documents.enabled:
            self._every("documents.render", documents.render_interval_s, self._render_documents)
            self._every("documents.deliver", documents.deliver_interval_s, self._deliver_documents)
        self._every("housekeeping", d.housekeeping_interval_s, self._housekeeping, single_runner=True)
        self.scheduler.start()
        if d.http_port is not None:
            self.http = _serve_http(self, d.http_host, d.http_port)
        log.info("daemon.started", replica=self.replica_id, jobs=[job.id for job in self.scheduler.get_jobs()])

    def stop(self) -> None:
        """Graceful: no new runs, running ones get the grace period, then the replica row says stopped."""
        self.stopping.set()
        if self.pusher is not None:
            self.pusher.stopping = True
        finisher = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True)
        finisher.start()
        finisher.join(self.settings.daemon.shutdown_grace_s)
        try:
            with self.database.session_scope() as session:
                self._beat(session, "stopped")
        except Exception:  # the row turns stale by itself; exiting matters more than saying so
            log.warning("daemon.stop.beat_failed", replica=self.replica_id, exc_info=True)
        if self.http is not None:
            self.http.shutdown()
        log.info("daemon.stopped", replica=self.replica_id, clean=not finisher.is_alive())
        if finisher.is_alive():  # an ERP call still in flight keeps its lease; the next holder looks it up
            self.database.dispose()
            os._exit(0)
        self.database.dispose()

    @property
    def healthy(self) -> bool:
        return self.scheduler.running and time.monotonic() - self.last_beat < BEAT_FRESH_S

    def ready(self) -> bool:
        if self.stopping.is_set():
            return False
        try:
            with self.database.read_scope() as session:
                session.execute(text("SELECT 1"))
        except Exception:  # any database failure means not ready
            return False
        return True

    def status(self) -> dict[str, Any]:
        with self.database.read_scope() as session:
            control = ControlRepository(session).get()
            leases = JobLeaseRepository(session).all()
            live = ReplicaRepository(session).live_ids()
        return {
            "replica": self.replica_id,
            "liveReplicas": live,
            "share": self.pusher.slots if self.pusher else 0,
            "paused": control.paused,
            "pauseReason": control.pause_reason,
            "pausedBy": control.paused_by,
            "breakerOpen": self.pusher.breaker.is_open if self.pusher else False,
            "jobs": [
                {
                    "name": lease.name,
                    "owner": lease.owner,
                    "leaseUntil": lease.lease_until.isoformat() if lease.lease_until else None,
                    "lastStatus": lease.last_status,
                    "lastFinishedAt": lease.last_finished_at.isoformat() if lease.last_finished_at else None,
                }
                for lease in leases
            ],
        }

    # --- jobs -------------------------------------------------------------------------------------------
    def _every(self, name: str, seconds: float, work: Callable[..., Any], *, single_runner: bool = False) -> None:
        """Schedule ``work`` every ``seconds``; a single-runner job runs only under its job lease, and its work is
        called with a ``renew(session) -> bool`` that extends the lease (fenced) inside the caller's commit."""
        interval = max(float(seconds), 0.05)

        def run() -> None:
            if self.stopping.is_set():
                return
            started = time.monotonic()
            outcome = "ok"
            try:
                if single_runner:
                    outcome = self._single(name, interval, work)
                else:
                    work()
            except Exception:  # a failed run waits for its next tick
                outcome = "error"
                log.exception("daemon.job.failed", job=name)
            self.metrics.job_runs.labels(name, outcome).inc()
            self.metrics.job_duration.labels(name, outcome).observe(time.monotonic() - started)

        self.scheduler.add_job(
            run,
            "interval",
            seconds=interval,
            id=name,
            name=name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, int(interval)),
            jitter=interval / 10,
        )

    def _single(self, name: str, interval: float, work: Callable[..., Any]) -> str:
        """Run ``work`` only while holding the job lease (§5.3)."""
        ttl = timedelta(seconds=max(interval, 60))
        with self.database.session_scope() as session:
            lease = JobLeaseRepository(session).acquire(name, self.replica_id, ttl)
        if lease is None:
            return "skipped"
        # one line when the lease is held and one before it is given back: the run history of single-runner jobs
        # (§6.17 checks from these that no two replicas ever ran a job at once)
        log.debug("daemon.job.started", job=name, replica=self.replica_id, lease=lease.token)
        started = time.monotonic()
        status, error = "ok", None

        def renew(session: Session) -> bool:
            return JobLeaseRepository(session).renew(lease, ttl)

        try:
            work(renew)
        except Exception as exc:
            status, error = "error", f"{type(exc).__name__}: {exc}"
            raise
        finally:
            log.debug(
                "daemon.job.finished",
                job=name,
                replica=self.replica_id,
                lease=lease.token,
                status=status,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            )
            with self.database.session_scope() as session:
                JobLeaseRepository(session).finish(lease, status, error)
        return status

    def _render_documents(self) -> None:
        render_tick(self.database, self.settings, self.replica_id, stopping=self.stopping.is_set)

    def _deliver_documents(self) -> None:
        deliver_due(self.database, self.settings, self.replica_id, stopping=self.stopping.is_set)

    def _work(self) -> None:
        run_pending(self.database, self.settings, HANDLERS, owner=self.replica_id)

    def _push(self) -> None:
        assert self.pusher is not None
        self.metrics.circuit_open.set(1 if self.pusher.breaker.is_open else 0)
        self.pusher.tick(max_seconds=30)

    def _probe(self, _renew: LeaseRenewal) -> None:
        assert self.gateway is not None
        erp_jobs.probe(self.database, self.gateway)

    def _pull(self, stream: str, renew: LeaseRenewal) -> None:
        """One run of a pull stream (§4); skipped while the queue is paused or the breaker is open (§5.2)."""
        assert self.gateway is not None and self.pusher is not None
        if self.pusher.breaker.is_open or erp_jobs.paused(self.database):
            return
        puller = Puller(self.database, self.settings.erp, self.gateway, lease=renew, stopping=self.stopping.is_set)
        stats = puller.run(stream)
        for action, count in stats.actions.items():
            self.metrics.pull_documents.labels(stream, action).inc(count)

    def _refresh_open(self, renew: LeaseRenewal) -> None:
        assert self.gateway is not None
        if erp_jobs.paused(self.database):
            return
        puller = Puller(self.database, self.settings.erp, self.gateway, lease=renew, stopping=self.stopping.is_set)
        puller.refresh_open(*erp_jobs.open_document_numbers(self.database))

    def _mark_overdue(self, _renew: LeaseRenewal) -> None:
        with self.database.session_scope() as session:
            marked = mark_overdue(session, utcnow().date())
        if marked:
            log.info("invoices.overdue", marked=marked)

    def _housekeeping(self, _renew: LeaseRenewal) -> None:
        with self.database.session_scope() as session:
            cutoff = db_now(session) - timedelta(days=self.settings.erp.log.retention_days)
            AttemptRepository(session).purge(cutoff)
            ReplicaRepository(session).purge_stale(timedelta(days=7))

    def beat(self) -> None:
        """Heartbeat: the replica row, and this replica's share of the cluster-wide ERP cap (§3.7)."""
        with self.database.session_scope() as session:
            live = self._beat(session, "stopping" if self.stopping.is_set() else "running")
        if self.pusher is not None:
            erp = self.settings.erp
            self.pusher.slots = share_of(self.replica_id, live, erp.max_in_flight)
            if erp.rate_limit_per_minute > 0:
                self.pusher.bucket.per_minute = share_of(self.replica_id, live, erp.rate_limit_per_minute)
        self.last_beat = time.monotonic()

    def _beat(self, session: Any, state: str) -> list[str]:
        replicas = ReplicaRepository(session)
        replicas.beat(self.replica_id, hostname=socket.gethostname(), pid=os.getpid(), version=__version__, state=state)
        session.flush()
        return replicas.live_ids()


def run_daemon(settings: Settings, replica_id: str) -> int:
    try:
        daemon = Daemon(settings, replica_id)
    except ConfigurationError as error:
        log.error("daemon.configuration_invalid", error=str(error))
        return 2
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stop_requested.is_set():
            os._exit(1)  # a second signal exits at once
        log.info("daemon.stopping", signal=signum)
        daemon.stopping.set()
        stop_requested.set()
        # the graceful path is bounded by the grace period, but a starved machine can stall its last steps
        # (the final beat, closing the pool); §5.4 promises an exit within the grace period + 5 s regardless
        watchdog = threading.Timer(settings.daemon.shutdown_grace_s + FORCED_EXIT_MARGIN_S, _forced_exit)
        watchdog.daemon = True
        watchdog.start()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    daemon.start()
    stop_requested.wait()
    daemon.stop()
    return 0


def _forced_exit() -> None:
    log.warning("daemon.stop.forced", margin_s=FORCED_EXIT_MARGIN_S)
    os._exit(0)


def _serve_http(daemon: Daemon, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                self._send(200 if daemon.healthy else 503, b"ok\n" if daemon.healthy else b"unhealthy\n")
            elif path == "/readyz":
                ready = daemon.ready()
                self._send(200 if ready else 503, b"ready\n" if ready else b"not ready\n")
            elif path == "/status":
                self._send(200, json.dumps(daemon.status()).encode(), "application/json")
            elif path == "/metrics":
                self._send(200, generate_latest(daemon.metrics.registry), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b"not found\n")

        def _send(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: metrics are scraped often
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="daemon-http", daemon=True).start()
    return server
