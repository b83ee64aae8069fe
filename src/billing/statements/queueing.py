"""Queueing a parent's statements (§7.2 ledger queue, §7.3 custom ledger queue) with their outbox rows."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from billing.db.models import Statement
from billing.kit.audit import with_events
from billing.statements.repository import StatementRepository


def queue_generated(session: Session, statements: Iterable[Statement], actor: Mapping[str, Any], now: datetime) -> None:
    """Each of ``statements`` still in Generated → Queued, its ERP outbox row armed in the same transaction."""
    repository = StatementRepository(session)
    for statement in statements:
        if statement.status != "Generated":
            continue
        statement.status = "Queued"
        statement.queued_at = now
        statement.audit = with_events(statement.audit, ["queued"], actor, now)
        statement.updated_at = now
        repository.arm_outbox(statement, now)
