"""The asynchronous part of an upload (billing-api.md §8): stream the file, validate, write charges in sets.

The file is read once, line by line; references come from in-memory maps built once per run; charges are
written in batches of ``worker.batch_size``, each in its own short transaction that first renews the work
item's lease (a run whose lease was taken over stops without writing). Readers see no charges until the
final transaction makes them visible together with the counters and the new status, so a crash or a
failure never exposes a partial or mixed set: the next attempt deletes the leftovers and starts again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import structlog

from billing.attachments.storage import AttachmentStorage
from billing.auth.principal import SYSTEM_ACTOR
from billing.charges.repository import ChargeRepository
from billing.db.engine import Database
from billing.db.models import Attachment, Journal
from billing.jobs.repository import Claim, WorkRepository
from billing.journals.errors import (
    CHARGES_FAILED,
    FILE_UNREADABLE,
    VALIDATION_STOPPED,
    billing_error,
)
from billing.journals.files import ChargeFileError, RawLine, UnsupportedFormat, detect_format, iter_jsonl, iter_xlsx
from billing.journals.repository import JournalRepository
from billing.journals.resolution import ReferenceIndex
from billing.journals.service import TRANSITIONS
from billing.journals.validation import ChargeValidator, JournalContext
from billing.kit.timeutil import utcnow
from billing.overrides.repository import OverrideRepository
from billing.reference.repository import ReferenceRepository
from billing.settings import Settings

log = structlog.get_logger("billing.journals")

#: Reference entities the validator resolves against.
RESOLVED_ENTITIES = ("agreements", "subscriptions", "assets", "items", "sellers", "buyers", "licensees", "products")


class LeaseLost(Exception):
    """Another worker owns the item now; stop without writing."""


@dataclass
class Tally:
    """Upload counters (§6.1) and the journal's total purchase price (§9.4), accumulated while streaming."""

    statuses: Counter[str] = field(default_factory=Counter)
    total_pp: Decimal = Decimal(0)

    def add(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            status = row["upload_status"]
            self.statuses[status] += 1
            if status not in ("Split", "Error") and row["ppx1"] is not None:
                self.total_pp += row["ppx1"]

    @property
    def total(self) -> int:
        return sum(self.statuses.values())


def validate_journal(
    database: Database, settings: Settings, claim: Claim, progress: Callable[[int], None] | None = None
) -> None:
    """Work handler for ``journal.validate``; ``progress`` hears the number of lines read after each batch."""
    lease = timedelta(seconds=settings.worker.lease_s)
    with database.session_scope() as session:
        if not WorkRepository(session).renew(claim, lease):
            return
        journal = JournalRepository(session).get_any(claim.object_id, for_update=True)
        if journal is None or journal.status != "Validating":
            WorkRepository(session).finish(claim)
            return
        ChargeRepository(session).delete_of_journal(journal.id)  # leftovers of an interrupted attempt
        if claim.attempts > settings.worker.max_attempts:
            message = "Validation stopped unexpectedly; upload the file again."
            _conclude(journal, claim, billing_error(VALIDATION_STOPPED, message), None)
            WorkRepository(session).finish(claim, "failed", message)
            return
        attachment = session.get(Attachment, claim.payload["attachment_id"])
        if attachment is None:
            raise RuntimeError(f"input attachment {claim.payload['attachment_id']} is missing")
        path = AttachmentStorage.from_settings(settings).path(attachment.sha256)
        references = ReferenceRepository(session)
        world = {entity: references.docs(entity) for entity in RESOLVED_ENTITIES}
        context = JournalContext(
            journal_id=journal.id,
            vendor_id=journal.vendor_id,
            product_id=journal.product_id,
            authorization_id=journal.authorization_id,
            currency=journal.currency,
            manual_pairs=frozenset(OverrideRepository(session).active_pairs()),
            now=utcnow(),
        )
        file_format = claim.payload.get("format") or _stored_format(attachment, path)

    validator = ChargeValidator(context, ReferenceIndex.build(world, context.product_id))
    tally = Tally()
    problem: dict[str, str] | None = None
    try:
        if file_format == "xlsx":
            _write_all(database, claim, lease, settings, validator, tally, iter_xlsx(path), progress)
        else:
            with path.open("rb") as stream:
                _write_all(database, claim, lease, settings, validator, tally, iter_jsonl(stream), progress)
    except ChargeFileError as exc:
        problem = billing_error(FILE_UNREADABLE, f"The file could not be read: {exc.reason}.")
    except LeaseLost:
        log.warning("journals.validate.lease_lost", journal_id=claim.object_id)
        return

    with database.session_scope() as session:
        work = WorkRepository(session)
        if not work.renew(claim, lease):
            return
        journal = JournalRepository(session).get_any(claim.object_id, for_update=True)
        assert journal is not None
        if problem is not None:
            ChargeRepository(session).delete_of_journal(journal.id)
            tally = Tally()
        _conclude(journal, claim, problem, tally)
        work.finish(claim)
    log.info("journals.validated", journal_id=claim.object_id, total=tally.total, errors=tally.statuses["Error"])


def _stored_format(attachment: Attachment, path: Path) -> str:
    with path.open("rb") as stream:
        head = stream.read(8)
    try:
        return detect_format(attachment.content_type, attachment.filename, head)
    except UnsupportedFormat:
        return "jsonl"


def _write_all(
    database: Database,
    claim: Claim,
    lease: timedelta,
    settings: Settings,
    validator: ChargeValidator,
    tally: Tally,
    lines: Iterable[RawLine],
    progress: Callable[[int], None] | None,
) -> None:
    batch: list[dict[str, Any]] = []
    line = 0
    for raw in lines:
        line = raw.line
        rows = validator.validate(raw)
        tally.add(rows)
        batch.extend(rows)
        if len(batch) >= settings.worker.batch_size:
            _write(database, claim, lease, batch)
            batch = []
            if progress:
                progress(line)
    if batch:
        _write(database, claim, lease, batch)
    if progress:
        progress(line)


def _write(database: Database, claim: Claim, lease: timedelta, rows: list[dict[str, Any]]) -> None:
    with database.session_scope() as session:
        if not WorkRepository(session).renew(claim, lease):
            raise LeaseLost
        ChargeRepository(session).insert(rows)


def _conclude(journal: Journal, claim: Claim, problem: dict[str, str] | None, tally: Tally | None) -> None:
    """Counters, totals, visibility and the status the validation ends in (§7.1)."""
    tally = tally or Tally()
    statuses = tally.statuses
    journal.upload_total = tally.total
    journal.upload_ready = statuses["Ready"]
    journal.upload_split = statuses["Split"]
    journal.upload_skipped = statuses["Skipped"]
    journal.upload_error = statuses["Error"]
    journal.total_pp = tally.total_pp
    journal.charges_visible = True
    if problem is None and statuses["Error"]:
        problem = billing_error(CHARGES_FAILED, f"{statuses['Error']} of {tally.total} charges failed validation.")
    journal.error = problem
    # after regenerate the journal always returns to Review (§7.1)
    action = "reviewed" if claim.payload.get("return_to") == "Review" else "failed" if problem else "validated"
    TRANSITIONS.apply(journal, action, SYSTEM_ACTOR, utcnow())
