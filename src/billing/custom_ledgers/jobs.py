"""Custom ledger work handlers: validate an uploaded workbook (§8.7) and generate Manual statements (§9.5).

A custom ledger's workbook is a hand-made sales document of modest size, so validation runs in one transaction:
the old charges are replaced, counters, prices and status set, all or nothing. Charges are still streamed from
the file and inserted in batches (no per-row ORM object). Both handlers are idempotent.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.orm import Session

from billing.attachments.storage import AttachmentStorage
from billing.auth.principal import SYSTEM_ACTOR
from billing.charges.repository import ChargeRepository
from billing.custom_ledgers.files import ChargeFileError, iter_sales_rows
from billing.custom_ledgers.lifecycle import TRANSITIONS
from billing.custom_ledgers.repository import CustomLedgerRepository
from billing.custom_ledgers.validation import CustomLedgerContext, SalesRowValidator
from billing.db.engine import Database
from billing.db.models import Attachment, CustomLedger, Statement
from billing.jobs.repository import Claim, WorkRepository
from billing.journals.errors import billing_error
from billing.kit.timeutil import utcnow
from billing.rating.pricing import summary
from billing.reference.repository import ReferenceRepository
from billing.settings import Settings
from billing.statements.factory import new_statement, statement_id
from billing.statements.repository import StatementRepository

log = structlog.get_logger("billing.custom_ledgers")
ROWS_FAILED = "CLE:0001"
FILE_UNREADABLE = "CLE:0002"


def validate_custom_ledger(database: Database, settings: Settings, claim: Claim) -> None:
    """Work handler for ``custom_ledger.validate`` (queued by upload)."""
    with database.session_scope() as session:
        work = WorkRepository(session)
        if not work.renew(claim, timedelta(seconds=settings.worker.lease_s)):
            return
        ledger = CustomLedgerRepository(session).get(claim.object_id, for_update=True)
        if ledger is None or ledger.status != "Validating":
            work.finish(claim)
            return
        CustomLedgerRepository(session).delete_charges(ledger.id)
        if claim.attempts > settings.worker.max_attempts:
            reason = "validation stopped repeatedly; upload the file again"
            _conclude(ledger, Counter(), [], billing_error(FILE_UNREADABLE, f"The file could not be read: {reason}."))
            work.finish(claim, "failed", reason)
            return
        attachment = session.get(Attachment, claim.payload["attachment_id"])
        if attachment is None:
            raise RuntimeError(f"input attachment {claim.payload['attachment_id']} is missing")
        path = AttachmentStorage.from_settings(settings).path(attachment.sha256)
        counts: Counter[str] = Counter()
        prices: list[tuple[str, Decimal | None, Decimal | None]] = []
        try:
            with path.open("rb") as stream:
                _write_rows(session, settings, ledger, stream, counts, prices)
            problem = (
                None if counts else billing_error(FILE_UNREADABLE, "The file could not be read: it has no data rows.")
            )
        except ChargeFileError as exc:
            CustomLedgerRepository(session).delete_charges(ledger.id)
            counts, prices = Counter(), []
            problem = billing_error(FILE_UNREADABLE, f"The file could not be read: {exc.reason}.")
        _conclude(ledger, counts, prices, problem)
        work.finish(claim)
    log.info("custom_ledgers.validated", custom_ledger_id=claim.object_id, rows=sum(counts.values()))


def _write_rows(
    session: Session,
    settings: Settings,
    ledger: CustomLedger,
    stream: Any,
    counts: Counter[str],
    prices: list[tuple[str, Decimal | None, Decimal | None]],
) -> None:
    references = ReferenceRepository(session)
    world = {entity: references.docs(entity) for entity in ("agreements", "items")}
    context = CustomLedgerContext.build(ledger, world, utcnow())
    validator = SalesRowValidator(context)
    charges = ChargeRepository(session)
    batch: list[dict[str, Any]] = []
    for row in iter_sales_rows(stream):
        charge = validator.validate(row)
        status = charge["upload_status"]
        counts[status] += 1
        prices.append((status, charge["ppx1"], charge["spx1"]))
        batch.append(charge)
        if len(batch) >= settings.worker.batch_size:
            charges.insert(batch)
            batch = []
    charges.insert(batch)
    ledger.currency_purchase = context.currency_purchase
    ledger.currency_sale = context.currency_sale


def _conclude(
    ledger: CustomLedger,
    counts: Counter[str],
    prices: list[tuple[str, Decimal | None, Decimal | None]],
    problem: dict[str, str] | None,
) -> None:
    """Upload and processing counters, the price summary (§9.4) and the status validation ends in (§7.3)."""
    total = sum(counts.values())
    ledger.upload_total, ledger.upload_ready, ledger.upload_error = total, counts["Ready"], counts["Error"]
    ledger.processing = {"total": total, "ready": counts["Ready"], "split": 0, "skipped": 0, "error": counts["Error"]}
    result = summary(prices)
    ledger.total_pp, ledger.total_sp, ledger.markup, ledger.margin = (
        result.total_pp,
        result.total_sp,
        result.markup,
        result.margin,
    )
    if problem is None and counts["Error"]:
        problem = billing_error(ROWS_FAILED, f"{counts['Error']} of {total} rows failed validation.")
    ledger.error = problem
    TRANSITIONS.apply(ledger, "failed" if problem else "validated", SYSTEM_ACTOR, utcnow())


def generate_custom_statements(database: Database, settings: Settings, claim: Claim) -> None:
    """Work handler for ``custom_ledger.generate`` (queued by accept): one Manual statement per agreement."""
    with database.session_scope() as session:
        repository = CustomLedgerRepository(session)
        ledger = repository.get(claim.object_id, for_update=True)
        if ledger is None or ledger.status != "Generating":
            WorkRepository(session).finish(claim)
            return
        references = ReferenceRepository(session)
        now = utcnow()
        made = 0
        for group in repository.agreement_groups(ledger.id):
            sid = statement_id(ledger.id, group.agreement_id)
            if session.get(Statement, sid) is not None:
                continue
            agreement = references.get_doc("agreements", group.agreement_id) or {}
            statement = new_statement(
                group,
                statement_id=sid,
                name=f"{agreement.get('name', group.agreement_id)} / {ledger.name}",
                billing_type="Manual",
                now=now,
                custom_ledger_id=ledger.id,
            )
            session.add(statement)
            session.flush()
            repository.assign(ledger.id, group.agreement_id, sid)
            made += 1
        TRANSITIONS.apply(ledger, "generated", SYSTEM_ACTOR, now)
        if not StatementRepository(session).of_custom_ledger(ledger.id):
            TRANSITIONS.apply(ledger, "complete", SYSTEM_ACTOR, now)  # nothing to bill
        WorkRepository(session).finish(claim)
    log.info("custom_ledgers.generated", custom_ledger_id=claim.object_id, statements=made)
