"""Statement generation (billing-api.md §9.5), the ``ledger.generate`` work handler.

One statement per agreement of the ledger's Ready, Automated charges, id ``SOM-`` + journal digits +
agreement digits, totals summed in SQL, ``Debit`` when ``totalSP ≥ 0`` else ``Credit``; the charges get the
statement reference and type. Idempotent: a resumed run finds the statements it already made.
"""

from __future__ import annotations

import structlog

from billing.auth.principal import SYSTEM_ACTOR
from billing.db.engine import Database
from billing.db.models import Journal, Ledger, Statement
from billing.jobs.repository import Claim, WorkRepository
from billing.kit.audit import created, with_events
from billing.kit.ids import digits_of
from billing.kit.timeutil import utcnow
from billing.ledgers.service import TRANSITIONS, follow_ledgers
from billing.rating.pricing import summary
from billing.reference.repository import ReferenceRepository
from billing.settings import Settings
from billing.statements.repository import StatementRepository

log = structlog.get_logger("billing.statements")


def statement_id(parent_id: str, agreement_id: str) -> str:
    return f"SOM-{digits_of(parent_id)}-{digits_of(agreement_id)}"


def generate_statements(database: Database, settings: Settings, claim: Claim) -> None:
    with database.session_scope() as session:
        ledger = session.get(Ledger, claim.object_id, with_for_update=True)
        if ledger is None or ledger.status != "Generating":
            WorkRepository(session).finish(claim)
            return
        journal = session.get(Journal, ledger.journal_id)
        assert journal is not None
        statements = StatementRepository(session)
        references = ReferenceRepository(session)
        now = utcnow()
        made = 0
        for group in statements.ready_groups(ledger.id):
            sid = statement_id(journal.id, group.agreement_id)
            if session.get(Statement, sid) is not None:
                continue
            totals = summary([("Ready", group.total_pp, group.total_sp)])
            kind = "Debit" if (group.total_sp or 0) >= 0 else "Credit"
            agreement = references.get_doc("agreements", group.agreement_id) or {}
            session.add(
                Statement(
                    id=sid,
                    name=f"{agreement.get('name', group.agreement_id)} / {journal.name}"[:255],
                    type=kind,
                    billing_type="Automated",
                    status="Generated",
                    journal_id=journal.id,
                    ledger_id=ledger.id,
                    client_id=group.client_id,
                    vendor_id=group.vendor_id,
                    buyer_id=group.buyer_id,
                    seller_id=group.seller_id,
                    licensee_id=group.licensee_id,
                    product_id=group.product_id,
                    agreement_id=group.agreement_id,
                    currency_purchase=group.currency_purchase,
                    currency_sale=group.currency_sale or group.currency_purchase,
                    total_pp=totals.total_pp,
                    total_sp=totals.total_sp or 0,
                    markup=totals.markup,
                    margin=totals.margin,
                    processing={"total": group.count, "ready": group.count, "split": 0, "skipped": 0, "error": 0},
                    audit=created(SYSTEM_ACTOR, now, "generating", "generated"),
                    created_at=now,
                    updated_at=now,
                )
            )
            session.flush()
            statements.assign(ledger.id, group.agreement_id, sid, kind)
            made += 1
        TRANSITIONS.apply(ledger, "generated", SYSTEM_ACTOR, now)
        if not statements.of_ledger(ledger.id):  # nothing to bill: complete at once (§7.2)
            TRANSITIONS.apply(ledger, "complete", SYSTEM_ACTOR, now)
        follow_ledgers(session, journal.id)
        ledger.audit = with_events(ledger.audit, [], SYSTEM_ACTOR, now)
        WorkRepository(session).finish(claim)
    log.info("statements.generated", ledger_id=claim.object_id, statements=made)
