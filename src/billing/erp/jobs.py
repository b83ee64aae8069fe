"""ERP daemon jobs besides the push tick: the reaper, the pause probe, and the database-derived gauges."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billing.db.engine import Database
from billing.db.models import ErpOutbox
from billing.erp.errors import ErpError
from billing.erp.gateway import ErpGateway
from billing.erp.pull import LEDGER_STREAM
from billing.erp.repository import (
    AttemptRepository,
    BalanceRepository,
    ControlRepository,
    CursorRepository,
    OutboxRepository,
    db_now,
)
from billing.jobs.leases import ReplicaRepository
from billing.reports.repository import Period, ReconciliationRepository

log = structlog.get_logger("billing.erp")
REAP_GRACE = timedelta(seconds=30)


def reap(database: Database) -> int:
    """Clear outbox leases expired for over 30 s, with an ``abandoned`` attempt row each (§3.2)."""
    with database.session_scope() as session:
        reaped = OutboxRepository(session).reap(REAP_GRACE)
        now = db_now(session)
        AttemptRepository(session).add_many(
            [
                {
                    "outbox_id": outbox_id,
                    "statement_id": statement_id,
                    "operation": "lease.reap",
                    "started_at": now,
                    "outcome": "abandoned",
                    "replica": owner,
                }
                for outbox_id, statement_id, owner in reaped
            ]
        )
    if reaped:
        log.warning("erp.reap.abandoned", rows=len(reaped))
    return len(reaped)


def probe(database: Database, gateway: ErpGateway) -> bool:
    """While paused automatically, try the ERP; success lifts the pause (a manual pause stays). True if lifted."""
    with database.read_scope() as session:
        control = ControlRepository(session).get()
        if not control.paused or control.paused_by != "auto":
            return False
    try:
        gateway.probe()
    except ErpError as exc:
        log.info("erp.probe.failed", reason=exc.message)
        return False
    with database.session_scope() as session:
        control = ControlRepository(session).get(for_update=True)
        if control.paused and control.paused_by == "auto":
            control.paused, control.pause_reason, control.paused_by, control.paused_at = False, None, None, None
    log.info("erp.queue.resumed", by="probe")
    return True


def gauges(session: Session, unposted_alert: timedelta) -> dict[str, Any]:
    """The §5.5 gauges every replica reports identically."""
    now = db_now(session)
    oldest = session.execute(select(func.min(ErpOutbox.queued_at)).where(ErpOutbox.state == "pending")).scalar()
    unlinked = ReconciliationRepository(session).issued_not_posted_count(Period(), now - unposted_alert)
    return {
        "outbox_rows": OutboxRepository(session).counts(),
        "pull_lag": _pull_lag(session, now),
        "billing_erp_outbox_oldest_age_seconds": (now - oldest).total_seconds() if oldest else 0.0,
        "billing_erp_queue_paused": 1 if ControlRepository(session).get().paused else 0,
        "billing_erp_issued_unlinked": unlinked,
        "billing_daemon_live_replicas": len(ReplicaRepository(session).live_ids()),
    }


def paused(database: Database) -> bool:
    with database.read_scope() as session:
        return ControlRepository(session).get().paused


def open_document_numbers(database: Database) -> tuple[list[str], list[str]]:
    """Numbers of imported invoices with a balance due, and of credit memos not Deleted (``erp.refresh_open``)."""
    with database.read_scope() as session:
        balances = BalanceRepository(session)
        return balances.unpaid_invoice_numbers(), balances.live_credit_memo_numbers()


def _pull_lag(session: Session, now: datetime) -> dict[str, float]:
    """Seconds behind per pull stream: document streams by their watermark (a time); the ledger stream and
    Row_Version document streams (whose watermarks are numbers) by when their cursor last moved."""
    lag: dict[str, float] = {}
    for cursor in CursorRepository(session).all():
        if cursor.stream == LEDGER_STREAM or (cursor.watermark or "").isdigit():  # an entry number or a Row_Version
            lag[cursor.stream] = (now - cursor.updated_at).total_seconds()
        elif cursor.watermark:
            lag[cursor.stream] = (now - datetime.fromisoformat(cursor.watermark)).total_seconds()
    return lag
