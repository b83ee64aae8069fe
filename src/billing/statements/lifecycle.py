"""Statement cascades and recalculation: what happens to parents when statements end (§7.2–7.4, §9.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from billing.auth.principal import SYSTEM_ACTOR
from billing.custom_ledgers.lifecycle import follow_custom_ledger
from billing.db.models import Ledger, Statement
from billing.kit.audit import with_events
from billing.ledgers.repository import LedgerRepository
from billing.ledgers.service import TRANSITIONS as LEDGER_TRANSITIONS
from billing.ledgers.service import follow_ledgers
from billing.rating.jobs import rate_charges
from billing.rating.pricing import summary
from billing.rating.repository import RatingRepository
from billing.statements.repository import StatementRepository


def follow_statements(session: Session, ledger_id: str | None, custom_ledger_id: str | None, at: datetime) -> None:
    """A statement of this ledger (or custom ledger) became Issued or Cancelled: the ledger completes when all of
    its statements have (§7.2, §7.3), and the journal follows its ledgers (§7.1), all in the caller's transaction.
    """
    if custom_ledger_id is not None:
        follow_custom_ledger(session, custom_ledger_id, at)
        return
    if ledger_id is None:
        return
    if LedgerRepository(session).status_for_update(ledger_id) not in ("Generated", "Queued"):
        return
    session.flush()  # the caller's change of its statement counts in the check below
    if StatementRepository(session).all_terminal(ledger_id=ledger_id):
        ledger = session.get(Ledger, ledger_id)  # locked above
        assert ledger is not None
        LEDGER_TRANSITIONS.apply(ledger, "complete", SYSTEM_ACTOR, at)
        follow_ledgers(session, ledger.journal_id)


def recalculate(session: Session, statement: Statement, actor: dict[str, Any], now: datetime) -> None:
    """Re-rate the statement's charges (automated) and recompute totals and type (§9.5), then Generated."""
    repository = RatingRepository(session)
    if statement.billing_type == "Automated" and statement.ledger_id:
        ledger = session.get(Ledger, statement.ledger_id)
        assert ledger is not None
        rate_charges(session, ledger, repository.of_statement(statement.id), now, statements=False)
    by_status = repository.totals_by_status(repository.of_statement(statement.id))
    result = summary((status, pp, sp) for status, _, pp, sp in by_status)
    statement.total_pp = result.total_pp
    statement.total_sp = result.total_sp or 0
    statement.markup, statement.margin = result.markup, result.margin
    statement.type = "Debit" if statement.total_sp >= 0 else "Credit"
    ready = sum(count for status, count, _, _ in by_status if status == "Ready")
    statement.processing = {**(statement.processing or {}), "ready": ready}
    statement.status = "Generated"
    statement.audit = with_events(statement.audit, ["generated"], actor, now)
    statement.updated_at = now
