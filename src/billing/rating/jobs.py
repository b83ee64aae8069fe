"""Rating (billing-api.md §9.1–9.4): journal accept → one ledger per seller, every charge rated.

Set-based: a charge's outcome depends only on its rating keys (seller, client, agreement, subscription,
asset, item), a few thousand distinct values even for a million charges, each resolved once by `ChargeRater`
(manual override → Skipped, missing reference → Error, else the markup and the statement-to-be). The charges
are rated in ranges of `LINES_PER_TRANSACTION` file lines, one transaction each (every page of the charge
table is written once; no transaction holds SQLite's write lock for long; PostgreSQL rates
`WorkerSettings.rating_connections` ranges at once): a range's charges are assigned to their seller's ledger
and statement and rated by one UPDATE joined to the plan of the range's distinct keys, the prices computed by
the database (`billing.rating.repository`). A reader connection works beside the writers: it reads each
range's keys ahead of its UPDATE and sums the range per ledger and agreement in SQL once its rating committed.
No charge is read into Python. On PostgreSQL the UPDATE is HOT (no index names a column it writes).

Idempotent and resumable: ledger ids are deterministic (journal digits + seller digits); the lease is renewed
before each wave of ranges and each range's transaction checks it (a run whose lease was taken over stops
without writing); rating a charge again gives the same values, so a resumed run simply rates every ledger still
in ``Rating`` again; the last transaction moves them to ``Review`` or ``Error`` with the totals of the run and
the journal to ``Generated``, together.
When the job keeps failing, the journal returns to ``Review`` with ``BJO:0004`` and the partial ledgers are
removed (§7.1).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from decimal import Context, Decimal
from functools import partial
from typing import Any

import structlog
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session

from billing.auth.principal import SYSTEM_ACTOR
from billing.charges.repository import in_ledger
from billing.db.engine import Database
from billing.db.models import Journal, Ledger
from billing.db.scratch import one_pass_reads
from billing.jobs.repository import Claim, WorkRepository
from billing.journals.errors import RATING_FAILED, billing_error
from billing.journals.repository import JournalRepository
from billing.journals.service import RATE_JOB
from billing.kit.audit import created, with_events
from billing.kit.ids import digits_of
from billing.kit.money import round6
from billing.kit.timeutil import utcnow
from billing.overrides.repository import OverrideRepository
from billing.rating.pricing import MarkupResolver, PriceSummary, factor, summary
from billing.rating.repository import RatingRepository, Totals
from billing.reference.repository import ReferenceRepository
from billing.settings import Settings
from billing.statements.factory import statement_id

log = structlog.get_logger("billing.rating")
LEDGER_FAILED = "BLE:0001"
#: File lines whose charges a journal rating transaction rates (split children included).
LINES_PER_TRANSACTION = 100_000
#: Waves of ranges whose rating keys the reader reads ahead of the writers.
KEYS_AHEAD = 4
_EXACT = Context(prec=60)


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
        ledgers = {
            ledger.seller_id: ledger.id for ledger in _ensure_ledgers(session, journal) if ledger.status == "Rating"
        }
        bounds = RatingRepository(session).seq_bounds(journal.id)
        rater = charge_rater(session, journal.vendor_id, journal.id)

    lease = timedelta(seconds=settings.worker.lease_s)
    width = LINES_PER_TRANSACTION * 100  # seq = line × 100 + child
    lows = list(range(bounds[0], bounds[1] + 1, width)) if bounds else []
    # PostgreSQL rates ranges on several connections at once; SQLite has one writer
    parallel = settings.worker.rating_connections if database.dialect == "postgresql" else 1
    sums = _RatedSums()
    # The reads run beside the writes, on a connection of their own: each range's rating keys ahead of its
    # UPDATE, its groups after its commit. On SQLite, whose one writer is CPU-bound, this is the second core.
    reader = ThreadPoolExecutor(1, thread_name_prefix="rating-read")
    try:
        keys: dict[int, Future[list[tuple[str | None, ...]]]] = {}
        groups: deque[Future[list[Any]]] = deque()
        rate = partial(_rate_lines, database, claim)
        with ThreadPoolExecutor(parallel, thread_name_prefix="rating") as writers:
            for first in range(0, len(lows), parallel):
                with database.session_scope() as session:
                    if not WorkRepository(session).renew(claim, lease):
                        raise RuntimeError("rating lease lost")  # another worker owns the journal now
                for low in lows[first : first + KEYS_AHEAD * parallel]:  # read ahead, a bounded number of ranges
                    if low not in keys:
                        keys[low] = reader.submit(_range_keys, database, claim.object_id, low, low + width)
                wave = lows[first : first + parallel]
                plans = [rater.plan(keys.pop(low).result(), ledgers) for low in wave]
                for low in writers.map(rate, plans, wave, [low + width for low in wave]):
                    groups.append(reader.submit(_range_groups, database, claim.object_id, low, low + width))
                while groups and groups[0].done():  # summed as they come: memory stays flat
                    sums.add(groups.popleft().result())
        while groups:
            sums.add(groups.popleft().result())
    finally:
        reader.shutdown(cancel_futures=True)

    with database.session_scope() as session:
        if not WorkRepository(session).renew(claim, lease):
            raise RuntimeError("rating lease lost")
        journal = JournalRepository(session).get_any(claim.object_id, for_update=True)
        if journal is None or journal.status != "Generating":
            return
        now = utcnow()
        repository = RatingRepository(session)
        rated = [ledger for ledger in repository.ledgers_of_journal(journal.id) if ledger.status == "Rating"]
        for ledger in rated:
            _conclude(ledger, sums.totals.get(ledger.id, []), now)
        rated_ids = {ledger.id for ledger in rated}
        repository.replace_rated_agreements(
            sorted(rated_ids), [row for (lid, _), row in sums.agreements.items() if lid in rated_ids]
        )
        everything = _merge(part for parts in sums.totals.values() for part in parts)
        _apply_summary(journal, summary((s, pp, sp) for s, _, pp, sp in everything), keep_pp=True)
        journal.processing = _counters(everything)
        journal.status = "Generated"
        journal.audit = with_events(journal.audit, ["generated"], SYSTEM_ACTOR, now)
        journal.updated_at = now
        WorkRepository(session).finish(claim)
    log.info("rating.journal_rated", journal_id=claim.object_id, ledgers=len(ledgers))


class _RatedSums:
    """What a journal's rated ranges add up to: `Totals` by ledger (None: split parents), one per processing
    status, and the sums of each ledger's Ready charges per agreement (`billing.db.models.RatedAgreement` rows)."""

    def __init__(self) -> None:
        self.totals: dict[str | None, list[Totals]] = {}
        self.agreements: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, groups: Iterable[Any]) -> None:
        for group in groups:
            part = (group.processing_status, int(group.count), group.total_pp, group.total_sp)
            self.totals[group.ledger_id] = _merge([*self.totals.get(group.ledger_id, ()), part])
            if group.processing_status != "Ready" or group.ledger_id is None or group.agreement_id is None:
                continue
            key = (group.ledger_id, group.agreement_id)
            row = self.agreements.get(key)
            if row is None:
                row = self.agreements[key] = {name: getattr(group, name) for name in _RATED_AGREEMENT_FIELDS}
                row["total_pp"], row["total_sp"] = row["total_pp"] or 0, row["total_sp"] or 0
                continue
            for name in _PARTIES:
                row[name] = min((v for v in (row[name], getattr(group, name)) if v is not None), default=None)
            row["count"] += group.count
            row["total_pp"] = _add(row["total_pp"], group.total_pp)
            row["total_sp"] = _add(row["total_sp"], group.total_sp)


#: The agreement's parties and currencies in a `RatedAgreement` (the same on every charge of the agreement).
_PARTIES = (
    "client_id",
    "buyer_id",
    "seller_id",
    "licensee_id",
    "product_id",
    "vendor_id",
    "currency_purchase",
    "currency_sale",
)
_RATED_AGREEMENT_FIELDS = ("ledger_id", "agreement_id", *_PARTIES, "count", "total_pp", "total_sp")


def _rate_lines(database: Database, claim: Claim, plan: list[dict[str, Any]], low: int, high: int) -> int:
    """Rate the journal's charges of the lines whose ``seq`` is in [low, high) in one transaction, fenced by the
    lease (a takeover waits for this transaction; a range begun after it writes nothing); returns ``low``."""
    with database.session_scope() as session:
        if not WorkRepository(session).holds(claim):
            raise RuntimeError("rating lease lost")
        repository = RatingRepository(session)
        repository.rate(repository.of_lines(claim.object_id, low, high) & repository.assignable(), plan, utcnow())
    return low


def _range_keys(database: Database, journal_id: str, low: int, high: int) -> list[tuple[str | None, ...]]:
    """The rating keys of the journal's billable charges of the lines whose ``seq`` is in [low, high)."""
    with database.read_scope() as session, one_pass_reads(session):
        repository = RatingRepository(session)
        return repository.rating_keys(repository.of_lines(journal_id, low, high) & repository.assignable())


def _range_groups(database: Database, journal_id: str, low: int, high: int) -> list[Any]:
    """The `RatingRepository.groups` of the journal's charges of the lines whose ``seq`` is in [low, high), read
    once their rating committed (while the journal is rated, nothing else writes them)."""
    with database.read_scope() as session, one_pass_reads(session):
        repository = RatingRepository(session)
        return repository.groups(repository.of_lines(journal_id, low, high))


def rerate_ledger(database: Database, settings: Settings, claim: Claim) -> None:
    """Work handler for ``ledger.rate`` (ledger recalculate): re-rate with current reference data (§9.1), in
    one transaction."""
    with database.session_scope() as session:
        if not WorkRepository(session).renew(claim, timedelta(seconds=settings.worker.lease_s)):
            raise RuntimeError("rating lease lost")
        ledger = session.get(Ledger, claim.object_id, with_for_update=True)
        if ledger is None or ledger.status != "Rating":
            WorkRepository(session).finish(claim)
            return
        repository = RatingRepository(session)
        now = utcnow()
        rate_charges(session, ledger, repository.of_ledger(ledger), now, statements=True)
        sums = _RatedSums()
        sums.add(repository.groups(in_ledger(ledger.id)))
        repository.replace_rated_agreements([ledger.id], list(sums.agreements.values()))
        _conclude(ledger, sums.totals.get(ledger.id, []), now)
        WorkRepository(session).finish(claim)


def rate_charges(
    session: Session, ledger: Ledger, charges: ColumnElement[bool], now: datetime, *, statements: bool
) -> None:
    """Rate some of a ledger's charges (all of them; a statement's when it is recalculated) in one UPDATE, naming
    their statements too when ``statements`` (a recalculated statement keeps its charges)."""
    repository = RatingRepository(session)
    rater = charge_rater(session, ledger.vendor_id, ledger.journal_id)
    plan = rater.plan(repository.rating_keys(charges), {ledger.seller_id: ledger.id})
    repository.rate(charges, plan, now, statements=statements)


def charge_rater(session: Session, vendor_id: str, journal_id: str) -> ChargeRater:
    references = ReferenceRepository(session)
    world = {entity: references.docs(entity) for entity in ("agreements", "subscriptions", "assets", "items")}
    policies = list(references.docs("pricing-policies").values())
    manual = frozenset(OverrideRepository(session).active_pairs())
    return ChargeRater(world, policies, manual, vendor_id, journal_id)


class ChargeRater:
    """Decides §9.2 once per rating key, with reference data and overrides read once per run."""

    def __init__(
        self,
        world: dict[str, dict[str, dict[str, Any]]],
        policies: list[dict[str, Any]],
        manual: frozenset[tuple[str, str]],
        vendor_id: str,
        journal_id: str,
    ) -> None:
        self.world = world
        self.manual = manual
        self.vendor_id = vendor_id
        self.journal_id = journal_id
        sources = {**world["subscriptions"], **world["assets"]}
        self.markups = MarkupResolver(world["agreements"], sources, policies)
        self._outcomes: dict[tuple[str | None, ...], dict[str, Any]] = {}

    def plan(self, keys: Iterable[tuple[str | None, ...]], ledgers: Mapping[str, str]) -> list[dict[str, Any]]:
        """The plan rows of the distinct (seller, client, agreement, subscription, asset, item) keys whose seller
        has a ledger in ``ledgers`` (seller → ledger id); the charges of other sellers are left alone."""
        rows = []
        for seller_id, *rest in keys:
            if seller_id is not None and seller_id in ledgers:
                outcome = self._outcomes.get(tuple(rest))
                if outcome is None:
                    outcome = self._outcomes[tuple(rest)] = self.outcome(*rest)
                rows.append({"seller_id": seller_id, "ledger_id": ledgers[seller_id], **outcome})
        return rows

    def outcome(
        self,
        client_id: str | None,
        agreement_id: str | None,
        subscription_id: str | None,
        asset_id: str | None,
        item_id: str | None,
    ) -> dict[str, Any]:
        """Billing type, processing status and errors, stored markup and ``1 + markup/100`` and the statement that
        will bill the charge (None unless Ready)."""
        keys = {
            "client_id": client_id,
            "agreement_id": agreement_id,
            "subscription_id": subscription_id,
            "asset_id": asset_id,
            "item_id": item_id,
        }
        unrated = {"errors": None, "markup": None, "factor": None, "statement_id": None}
        if (client_id, self.vendor_id) in self.manual:
            return {**keys, **unrated, "billing_type": "Manual", "status": "Skipped"}
        missing = self._missing(agreement_id, subscription_id, asset_id, item_id)
        if missing:
            return {**keys, **unrated, "billing_type": "Automated", "status": "Error", "errors": [missing]}
        markup = self.markups.markup_for(agreement_id=agreement_id or "", source_id=subscription_id or asset_id)
        return {
            **keys,
            "billing_type": "Automated",
            "status": "Ready",
            "errors": None,
            "markup": round6(markup),
            "factor": factor(markup),
            "statement_id": statement_id(self.journal_id, agreement_id) if agreement_id else None,
        }

    def _missing(self, *ids: str | None) -> str | None:
        for (label, entity), object_id in zip(_REFERENCES, ids, strict=True):
            if object_id and object_id not in self.world[entity]:
                return f"{label} '{object_id}' no longer exists."
        return None


#: What `ChargeRater._missing` checks, in order: (label, reference entity).
_REFERENCES = (("Agreement", "agreements"), ("Subscription", "subscriptions"), ("Asset", "assets"), ("Item", "items"))


def _ensure_ledgers(session: Session, journal: Journal) -> list[Ledger]:
    """One ledger per seller (created once; a resumed run finds them), split parents marked. Charges are
    assigned to their ledger when they are rated."""
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
        existing[seller_id] = ledger
    session.flush()
    repository.mark_split_parents(journal.id)
    return sorted(existing.values(), key=lambda ledger: ledger.id)


def _conclude(ledger: Ledger, totals: list[Totals], now: datetime) -> None:
    """A rated ledger's summary, counters and status: Review, or Error when a charge failed (§7.2)."""
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


def _merge(parts: Iterable[Totals]) -> list[Totals]:
    """`Totals` of several sets of charges, added up by processing status."""
    merged: dict[str | None, Totals] = {}
    for status, count, pp, sp in parts:
        _, n, p, s = merged.get(status, (status, 0, None, None))
        merged[status] = (status, n + count, _add(p, pp), _add(s, sp))
    return list(merged.values())


def _add(left: Decimal | None, right: Decimal | None) -> Decimal | None:
    return right if left is None else left if right is None else _EXACT.add(left, right)


def _counters(totals: list[Totals]) -> dict[str, int]:
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
