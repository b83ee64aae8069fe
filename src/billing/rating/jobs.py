"""Rating (billing-api.md §9.1–9.4): journal accept → one ledger per seller, every charge rated.

The handler is idempotent and resumable: ledger ids are deterministic (journal digits + seller digits), a
ledger still in ``Rating`` is (re-)rated from its charges, and the journal moves to ``Generated`` only when
every ledger is ``Review`` or ``Error``. Charges are read in keyset batches and written back with one
executemany per batch; no ORM object per charge. When the job keeps failing, the journal returns to
``Review`` with ``BJO:0004`` and the partial ledgers are removed (§7.1).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.orm import Session

from billing.auth.principal import SYSTEM_ACTOR
from billing.db.engine import Database
from billing.db.models import Journal, Ledger
from billing.jobs.repository import Claim, WorkRepository
from billing.journals.errors import RATING_FAILED, billing_error
from billing.journals.repository import JournalRepository
from billing.journals.service import RATE_JOB
from billing.kit.audit import created, with_events
from billing.kit.ids import digits_of
from billing.kit.timeutil import utcnow
from billing.overrides.repository import OverrideRepository
from billing.rating.pricing import MarkupResolver, PriceSummary, rate, summary
from billing.rating.repository import RatingRepository
from billing.reference.repository import ReferenceRepository
from billing.settings import Settings

log = structlog.get_logger("billing.rating")
LEDGER_FAILED = "BLE:0001"


def ledger_id(journal_id: str, seller_id: str) -> str:
    """``BLE-`` + journal digits + seller digits (§12.1)."""
    return f"BLE-{digits_of(journal_id)}-{digits_of(seller_id)}"


def rate_journal(database: Database, settings: Settings, claim: Claim) -> None:
    """Work handler for ``journal.rate`` (queued by journal accept)."""
    with database.session_scope() as session:
        journal = JournalRepository(session).get_any(claim.object_id, for_update=True)
        if journal is None or journal.status != "Generating":
            WorkRepository(session).finish(claim)
            return
        if claim.attempts > settings.worker.max_attempts:
            _give_up(session, journal, claim)
            return
        ledgers = _ensure_ledgers(session, journal)
        rater = charge_rater(session, journal.vendor_id)
        pending = [ledger.id for ledger in ledgers if ledger.status == "Rating"]

    for pending_id in pending:
        _rate_ledger(database, settings, claim, pending_id, rater)

    with database.session_scope() as session:
        journal = JournalRepository(session).get_any(claim.object_id, for_update=True)
        if journal is None or journal.status != "Generating":
            return
        repository = RatingRepository(session)
        totals = repository.totals_by_status(journal_id=journal.id)
        _apply_summary(journal, summary((s, pp, sp) for s, _, pp, sp in totals), keep_pp=True)
        journal.processing = _counters(totals)
        now = utcnow()
        journal.status = "Generated"
        journal.audit = with_events(journal.audit, ["generated"], SYSTEM_ACTOR, now)
        journal.updated_at = now
        WorkRepository(session).finish(claim)
    log.info("rating.journal_rated", journal_id=claim.object_id, ledgers=len(pending))


def rerate_ledger(database: Database, settings: Settings, claim: Claim) -> None:
    """Work handler for ``ledger.rate`` (ledger recalculate): re-rate with current reference data (§9.1)."""
    with database.session_scope() as session:
        ledger = session.get(Ledger, claim.object_id)
        if ledger is None or ledger.status != "Rating":
            WorkRepository(session).finish(claim)
            return
        rater = charge_rater(session, ledger.vendor_id)
    _rate_ledger(database, settings, claim, claim.object_id, rater)
    with database.session_scope() as session:
        WorkRepository(session).finish(claim)


def charge_rater(session: Session, vendor_id: str) -> ChargeRater:
    references = ReferenceRepository(session)
    world = {entity: references.docs(entity) for entity in ("agreements", "subscriptions", "assets", "items")}
    policies = list(references.docs("pricing-policies").values())
    manual = frozenset(OverrideRepository(session).active_pairs())
    return ChargeRater(world, policies, manual, vendor_id)


class ChargeRater:
    """Rates one charge row per §9.2 with reference data and overrides read once per run."""

    def __init__(
        self,
        world: dict[str, dict[str, dict[str, Any]]],
        policies: list[dict[str, Any]],
        manual: frozenset[tuple[str, str]],
        vendor_id: str,
    ) -> None:
        self.world = world
        self.manual = manual
        self.vendor_id = vendor_id
        sources = {**world["subscriptions"], **world["assets"]}
        self.markups = MarkupResolver(world["agreements"], sources, policies)

    def __call__(self, row: Any, now: datetime) -> dict[str, Any]:
        values: dict[str, Any] = {"id": row.id, "updated_at": now}
        blank = {"unit_sp": None, "spx1": None, "markup": None, "margin": None, "currency_sale": None}
        if (row.client_id, self.vendor_id) in self.manual:
            return {
                **values,
                **blank,
                "billing_type": "Manual",
                "processing_status": "Skipped",
                "processing_errors": None,
            }
        values["billing_type"] = "Automated"
        missing = self._missing(row)
        if missing:
            return {**values, **blank, "processing_status": "Error", "processing_errors": [missing]}
        markup = self.markups.markup_for(agreement_id=row.agreement_id, source_id=row.subscription_id or row.asset_id)
        rated = rate(row.unit_pp, row.quantity, row.ppx1, markup)
        return {
            **values,
            "unit_sp": rated.unit_sp,
            "spx1": rated.spx1,
            "markup": rated.markup,
            "margin": rated.margin,
            "currency_sale": row.currency_purchase,  # sale currency = purchase currency, rate 1 (§9.6)
            "processing_status": "Ready",
            "processing_errors": None,
        }

    def _missing(self, row: Any) -> str | None:
        for label, entity, object_id in (
            ("Agreement", "agreements", row.agreement_id),
            ("Subscription", "subscriptions", row.subscription_id),
            ("Asset", "assets", row.asset_id),
            ("Item", "items", row.item_id),
        ):
            if object_id and object_id not in self.world[entity]:
                return f"{label} '{object_id}' no longer exists."
        return None


def _ensure_ledgers(session: Session, journal: Journal) -> list[Ledger]:
    """One ledger per seller (created once; a resumed run finds them), charges assigned, split parents marked."""
    repository = RatingRepository(session)
    existing = {ledger.seller_id: ledger for ledger in repository.ledgers_of_journal(journal.id)}
    references = ReferenceRepository(session)
    now = utcnow()
    for seller_id in repository.sellers_of_journal(journal.id):
        if seller_id in existing:
            continue
        seller = references.get_doc("sellers", seller_id) or {}
        ledger = Ledger(
            id=ledger_id(journal.id, seller_id),
            name=f"{journal.name} / {seller.get('name', seller_id)}"[:255],
            journal_id=journal.id,
            status="Rating",
            authorization_id=journal.authorization_id,
            owner_id=journal.owner_id,
            seller_id=seller_id,
            product_id=journal.product_id,
            vendor_id=journal.vendor_id,
            currency=journal.currency,
            total_pp=0,
            processing={},
            audit=created(SYSTEM_ACTOR, now, "rating"),
            created_at=now,
            updated_at=now,
        )
        session.add(ledger)
        session.flush()
        repository.assign(journal.id, seller_id, ledger.id)
        existing[seller_id] = ledger
    repository.mark_split_parents(journal.id)
    return sorted(existing.values(), key=lambda ledger: ledger.id)


def _rate_ledger(database: Database, settings: Settings, claim: Claim, ledger_id_: str, rater: ChargeRater) -> None:
    """Rate every charge of a ledger batch by batch, then its summary and status, in one transaction."""
    with database.session_scope() as session:
        if not WorkRepository(session).renew(claim, timedelta(seconds=settings.worker.lease_s)):
            raise RuntimeError("rating lease lost")  # another worker owns the journal now
        repository = RatingRepository(session)
        now = utcnow()
        for rows in repository.charges_to_rate(ledger_id_, settings.worker.batch_size):
            repository.write_rated([rater(row, now) for row in rows])
        ledger = session.get(Ledger, ledger_id_, with_for_update=True)
        assert ledger is not None
        totals = repository.totals_by_status(ledger_id=ledger_id_)
        counters = _counters(totals)
        _apply_summary(ledger, summary((s, pp, sp) for s, _, pp, sp in totals))
        ledger.processing = counters
        failed = counters["error"]
        ledger.error = (
            billing_error(LEDGER_FAILED, f"{failed} of {counters['total']} charges failed rating.") if failed else None
        )
        ledger.status = "Error" if failed else "Review"
        ledger.audit = with_events(ledger.audit, [ledger.status.lower()], SYSTEM_ACTOR, now)
        ledger.updated_at = now


def _give_up(session: Session, journal: Journal, claim: Claim) -> None:
    item = WorkRepository(session).open_item(RATE_JOB, journal.id)
    reason = (item.last_error if item and item.last_error else "it stopped repeatedly").rstrip(".")
    RatingRepository(session).remove_ledgers(journal.id)
    now = utcnow()
    journal.status = "Review"
    journal.error = billing_error(RATING_FAILED, f"Rating failed: {reason}.")
    journal.processing = None
    journal.total_sp = journal.markup = journal.margin = None
    journal.audit = with_events(journal.audit, ["review"], SYSTEM_ACTOR, now)
    journal.updated_at = now
    WorkRepository(session).finish(claim, "failed", journal.error["message"])


def _counters(totals: list[tuple[str | None, int, Decimal | None, Decimal | None]]) -> dict[str, int]:
    by_status = {status: count for status, count, _, _ in totals}
    return {
        "total": sum(by_status.values()),
        "ready": by_status.get("Ready", 0),
        "split": by_status.get("Split", 0),
        "skipped": by_status.get("Skipped", 0),
        "error": by_status.get("Error", 0),
    }


def _apply_summary(target: Journal | Ledger, result: PriceSummary, *, keep_pp: bool = False) -> None:
    if not keep_pp:
        target.total_pp = result.total_pp
    target.total_sp = result.total_sp
    target.markup = result.markup
    target.margin = result.margin
