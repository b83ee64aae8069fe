"""``billing daemon``: APScheduler 3 as a timer; what is due and who owns it live in the database.

Any number of identical replicas may run: work items are claimed with leases, so a job tick on two
replicas never handles the same item twice.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

import structlog
from apscheduler.schedulers.background import BackgroundScheduler

from billing.db.engine import Database
from billing.jobs.registry import HANDLERS
from billing.jobs.worker import run_pending
from billing.settings import Settings

log = structlog.get_logger("billing.daemon")


def run_daemon(settings: Settings, replica_id: str) -> int:
    database = Database(settings.database_url)
    stopping = threading.Event()
    interval = max(settings.worker.poll_s, 0.2)
    scheduler = BackgroundScheduler(
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": max(1, int(interval))}
    )

    def work() -> None:
        if not stopping.is_set():
            run_pending(database, settings, HANDLERS, owner=replica_id)

    scheduler.add_job(work, "interval", seconds=interval, id="work.pending", jitter=interval / 10)
    scheduler.start()
    log.info("daemon.started", replica=replica_id, jobs=[job.id for job in scheduler.get_jobs()])

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            raise SystemExit(1)  # a second signal exits at once
        log.info("daemon.stopping", signal=signum)
        stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    stopping.wait()
    scheduler.shutdown(wait=True)
    database.dispose()
    log.info("daemon.stopped", replica=replica_id)
    return 0
