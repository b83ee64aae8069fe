"""Ledger rules (billing-api.md §5.2, §7.2) and the completion cascade to the journal (§7.1)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from billing.auth.principal import SYSTEM_ACTOR, Principal
from billing.db.models import Journal, Ledger
from billing.errors import Conflict, NotFound, ValidationFailed
from billing.jobs.repository import WorkRepository
from billing.kit.audit import with_events
from billing.kit.lifecycle import Transition, TransitionTable
from billing.kit.timeutil import utcnow
from billing.ledgers.repository import LedgerRepository
from billing.ledgers.schemas import LedgerUpdate
from billing.reference.users import operations_user
from billing.statements.queueing import queue_generated
from billing.statements.repository import StatementRepository

LABEL = "Ledger"
GENERATE_JOB = "ledger.generate"
RATE_JOB = "ledger.rate"
TRANSITIONS = TransitionTable(
    LABEL,
    [
        Transition("accept", ("Review",), "Generating"),
        Transition("recalculate", ("Review", "Error"), "Rating"),
        Transition("generated", ("Generating",), "Generated"),
        Transition("queue", ("Generated",), "Queued"),
        Transition("complete", ("Generated", "Queued"), "Completed"),
    ],
)
#: A journal is Accepted once each of its ledgers is in one of these (§7.1).
ACCEPTED_LEDGER_STATUSES = ("Generating", "Generated", "Queued", "Completed")


class LedgerService:
    def __init__(self, session: Session, principal: Principal) -> None:
        self.session = session
        self.principal = principal
        self.ledgers = LedgerRepository(session)

    def get(self, ledger_id: str, *, for_update: bool = False) -> Ledger:
        ledger = self.ledgers.get(ledger_id, for_update=for_update)
        if ledger is None:
            raise NotFound.object(LABEL, ledger_id)
        return ledger

    def accept(self, ledger_id: str) -> Ledger:
        """Review → Generating; statements are generated in the background (``ledger.generate``)."""
        ledger = self.get(ledger_id, for_update=True)
        TRANSITIONS.check(ledger, "accept")
        if (ledger.processing or {}).get("error"):
            raise Conflict(f"Ledger {ledger.id} has charges that failed rating; recalculate it before accepting.")
        TRANSITIONS.apply(ledger, "accept", self.principal.actor, utcnow())
        WorkRepository(self.session).enqueue(GENERATE_JOB, ledger.id)
        follow_ledgers(self.session, ledger.journal_id)
        return ledger

    def update(self, ledger: Ledger, data: LedgerUpdate) -> Ledger:
        """Writable by Operations in every status: ``name``, ``notes``, ``assignee.id`` (§5.2)."""
        changed = False
        for name in data.model_fields_set & {"name", "notes"}:
            value = getattr(data, name)
            if name == "name" and value is None:
                raise ValidationFailed.one("name", "The property cannot be null.")
            setattr(ledger, name, value)
            changed = True
        if "assignee" in data.model_fields_set:
            ledger.assignee = operations_user(self.session, data.assignee.id if data.assignee else None)
            changed = True
        if changed:
            now = utcnow()
            ledger.audit = with_events(ledger.audit, [], self.principal.actor, now)
            ledger.updated_at = now
        return ledger

    def recalculate(self, ledger_id: str) -> Ledger:
        """Review/Error → Rating: every charge is rated again in the background (``ledger.rate``)."""
        ledger = self.get(ledger_id, for_update=True)
        TRANSITIONS.apply(ledger, "recalculate", self.principal.actor, utcnow())
        ledger.error = None
        WorkRepository(self.session).enqueue(RATE_JOB, ledger.id)
        return ledger

    def queue(self, ledger_id: str) -> Ledger:
        """Generated → Queued; its Automated statements in Generated → Queued, each with its outbox row."""
        ledger = self.get(ledger_id, for_update=True)
        now = utcnow()
        TRANSITIONS.apply(ledger, "queue", self.principal.actor, now)
        automated = [s for s in StatementRepository(self.session).of_ledger(ledger.id) if s.billing_type == "Automated"]
        queue_generated(self.session, automated, self.principal.actor, now)
        return ledger


def follow_ledgers(session: Session, journal_id: str) -> None:
    """Parents follow children (§7.1): Generated → Accepted when every ledger is accepted; Accepted →
    Completed when every ledger is Completed. Runs in the transaction of the change that caused it."""
    journal = session.get(Journal, journal_id, with_for_update=True)
    if journal is None:
        return
    statuses = [ledger.status for ledger in LedgerRepository(session).of_journal(journal_id)]
    now = utcnow()
    if journal.status == "Generated" and statuses and all(s in ACCEPTED_LEDGER_STATUSES for s in statuses):
        journal.status = "Accepted"
        journal.audit = with_events(journal.audit, ["accepted"], SYSTEM_ACTOR, now)
        journal.updated_at = now
    if journal.status == "Accepted" and statuses and all(s == "Completed" for s in statuses):
        journal.status = "Completed"
        journal.audit = with_events(journal.audit, ["completed"], SYSTEM_ACTOR, now)
        journal.updated_at = now
