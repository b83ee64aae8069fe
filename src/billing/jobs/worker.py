"""Runs durable work items: an in-process thread for ``billing serve`` and a drain function for tests/CLI.

Each handler gets one claimed item and owns its transactions; a failure releases the claim (counted by
``attempts``), so another worker or a later poll takes it again.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Mapping
from datetime import timedelta

import structlog

from billing.db.engine import Database
from billing.jobs.repository import Claim, WorkRepository
from billing.kit.timeutil import utcnow
from billing.settings import Settings

log = structlog.get_logger("billing.jobs")
Handler = Callable[[Database, Settings, Claim], None]


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def run_one(database: Database, settings: Settings, kind: str, handler: Handler, owner: str) -> bool:
    """Claim and run one due item of ``kind``; False when nothing is due."""
    with database.session_scope() as session:
        claims = WorkRepository(session).claim(kind, owner, timedelta(seconds=settings.worker.lease_s))
    if not claims:
        return False
    claim = claims[0]
    try:
        handler(database, settings, claim)
    except Exception as exc:  # the item stays pending; its attempts count up to the handler's limit
        log.exception("jobs.failed", kind=kind, object_id=claim.object_id, attempt=claim.attempts)
        backoff = settings.worker.retry_backoff_s * 2 ** (claim.attempts - 1)
        retry_at = utcnow() + timedelta(seconds=backoff) if backoff > 0 else None
        with database.session_scope() as session:
            WorkRepository(session).release(claim, f"{type(exc).__name__}: {exc}", retry_at=retry_at)
    return True


def run_pending(
    database: Database, settings: Settings, handlers: Mapping[str, Handler], owner: str | None = None
) -> int:
    """Run every due item until none is left; returns how many were run."""
    owner = owner or worker_id()
    done = 0
    progress = True
    while progress:
        progress = False
        for kind, handler in handlers.items():
            while run_one(database, settings, kind, handler, owner):
                done += 1
                progress = True
    return done


class Worker(threading.Thread):
    """Polls the work queue; `wake` makes it look at once (after an upload, say)."""

    def __init__(self, database: Database, settings: Settings, handlers: Mapping[str, Handler]) -> None:
        super().__init__(name="billing-worker", daemon=True)
        self.database = database
        self.settings = settings
        self.handlers = handlers
        self._wake = threading.Event()
        self._stopping = threading.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10) -> None:
        self._stopping.set()
        self._wake.set()
        self.join(timeout)

    def run(self) -> None:
        owner = worker_id()
        while not self._stopping.is_set():
            try:
                run_pending(self.database, self.settings, self.handlers, owner)
            except BaseException:
                # behind by a handler that died keeps its lease and is taken again once the lease expires
                log.exception("jobs.poll_failed")
            self._wake.wait(self.settings.worker.poll_s)
            self._wake.clear()
