"""Statement generation (billing-api.md §9.5), the ``ledger.generate`` work handler.

One statement per agreement of a ledger's Ready, Automated charges, id ``SOM-`` + journal digits + agreement
digits, from the ledger's `RatedAgreement` rows (rating summed its Ready charges per agreement), ``Debit`` when
``totalSP ≥ 0`` else ``Credit``. The charges are not written: rating gave each Ready charge the id of its
statement-to-be, which they show once the statement exists. The other ledgers of the same journal whose
generation is due too (accepted together) are claimed and generated in the same pass.

All in one transaction, so a crashed run leaves nothing behind (the claims it took over are released with it);
a statement that exists already is not made again.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy.orm import Session

from billing.auth.principal import SYSTEM_ACTOR
from billing.db.engine import Database
from billing.db.models import Journal, Ledger
from billing.jobs.repository import Claim, WorkRepository
from billing.jobs.worker import worker_id
from billing.kit.audit import with_events
from billing.kit.timeutil import utcnow
from billing.ledgers.repository import LedgerRepository
from billing.ledgers.service import GENERATE_JOB, TRANSITIONS, follow_ledgers
from billing.reference.repository import ReferenceRepository
from billing.settings import Settings
from billing.statements.factory import new_statement, statement_id
from billing.statements.repository import StatementRepository

log = structlog.get_logger("billing.statements")


def generate_statements(database: Database, settings: Settings, claim: Claim) -> None:
    with database.session_scope() as session:
        ledger = session.get(Ledger, claim.object_id, with_for_update=True)
        if ledger is None or ledger.status != "Generating":
            WorkRepository(session).finish(claim)
            return
        journal = session.get(Journal, ledger.journal_id)
        assert journal is not None
        batch = [(ledger, claim), *_due_siblings(session, settings, ledger)]
        ledger_ids = [member.id for member, _ in batch]
        statements = StatementRepository(session)
        groups = statements.ready_groups(ledger_ids)
        agreements = ReferenceRepository(session).docs_by_ids("agreements", sorted({g.agreement_id for g in groups}))
        existing = statements.existing_ids(journal.id)
        now = utcnow()
        made = 0
        for group in groups:
            sid = statement_id(journal.id, group.agreement_id)
            if sid in existing:
                continue
            name = agreements.get(group.agreement_id, {}).get("name", group.agreement_id)
            statement = new_statement(
                group,
                statement_id=sid,
                name=f"{name} / {journal.name}",
                billing_type="Automated",
                now=now,
                journal_id=journal.id,
                ledger_id=group.ledger_id,
            )
            session.add(statement)
            made += 1
        session.flush()
        work = WorkRepository(session)
        for member, member_claim in batch:
            TRANSITIONS.apply(member, "generated", SYSTEM_ACTOR, now)
            if not statements.of_ledger(member.id):  # nothing to bill: complete at once (§7.2)
                TRANSITIONS.apply(member, "complete", SYSTEM_ACTOR, now)
            member.audit = with_events(member.audit, [], SYSTEM_ACTOR, now)
            work.finish(member_claim)
        follow_ledgers(session, journal.id)
    log.info("statements.generated", ledger_ids=ledger_ids, statements=made)


def _due_siblings(session: Session, settings: Settings, ledger: Ledger) -> list[tuple[Ledger, Claim]]:
    """The journal's other ledgers in Generating whose ``ledger.generate`` item is due and free, claimed in this
    transaction and locked."""
    work = WorkRepository(session)
    lease = timedelta(seconds=settings.worker.lease_s)
    batch = []
    for sibling in sorted(LedgerRepository(session).of_journal(ledger.journal_id), key=lambda other: other.id):
        if sibling.id == ledger.id or sibling.status != "Generating":
            continue
        for claim in work.claim(GENERATE_JOB, worker_id(), lease, object_id=sibling.id):
            session.refresh(sibling, with_for_update=True)
            if sibling.status == "Generating":
                batch.append((sibling, claim))
            else:
                work.finish(claim)
    return batch
