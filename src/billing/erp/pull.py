"""Pull of posted invoices, credit memos and customer ledger entries (erp-integration.md §4).

Posted documents (§4.2): a run reads ``SystemModifiedAt`` in [watermark − overlap, now − settle] page by page
(bookmarks); each page is one transaction that upserts its documents (`upsert_page`: one query per look-up and
one executemany per table for the page) and stores the run's checkpoint (bounds, bookmark), so a crash resumes
where the last commit left off. The watermark moves to the upper bound only with the run's last page: results
come in number order, not time order. Re-reads (crash, overlap) are harmless because the upsert skips what is not
newer. While a page is upserted, the run's one reader thread already fetches and maps the next one (its bookmark,
the page's last Key, is known before the upsert); every ERP call of a document run is made on that thread, and a
read ahead is discarded when the run stops or fails.

Ledger entries (§4.3): ``Entry_No`` after the watermark, in order, so the watermark moves with every page. Each
page's entries mark documents whose balance may have changed; their own entries are re-read in the same run and
the remaining amounts stored (`erp_balance`) and applied to imported documents.

``lease`` (optional) renews the job lease inside each page's transaction; False means another replica holds the
job now: the page rolls back and the run stops.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from sqlalchemy.orm import Session

from billing.db.engine import Database
from billing.erp import criteria
from billing.erp.errors import ErpError
from billing.erp.gateway import ErpGateway
from billing.erp.mapping import MappingError, posted_document
from billing.erp.repository import BalanceRepository, CursorRepository, db_now
from billing.erp.settings import ErpSettings
from billing.kit.timeutil import utcnow
from billing.posted_documents.data import DocType, PostedDocumentData
from billing.posted_documents.lifecycle import apply_balance, mark_deleted
from billing.posted_documents.upsert import upsert_page

log = structlog.get_logger("billing.erp.pull")

#: stream → (document type, page role)
DOCUMENT_STREAMS: dict[str, tuple[DocType, str]] = {
    "posted_invoices": ("invoice", "posted_sales_invoice"),
    "posted_credit_memos": ("credit_memo", "posted_sales_credit_memo"),
}
LEDGER_STREAM = "ledger_entries"
STREAMS = (*DOCUMENT_STREAMS, LEDGER_STREAM)
NUMBERS_PER_READ = 50  # document numbers per ledger re-read (§4.3)
LeaseRenewal = Callable[[Session], bool]


class LeaseLostError(Exception):
    """The job lease moved to another replica during the run: the page was rolled back."""


@dataclass
class _Page:
    """A page of a document stream as the reader thread hands it over: how many records, the last one's Key and
    the highest Row_Version, each record mapped (or the reason it cannot be), or the error the mapping's own ERP
    reads raised (re-raised once the page is taken). The raw records are not kept."""

    size: int
    last_key: str | None
    highest_version: int
    mapped: list[PostedDocumentData | MappingError] = field(default_factory=list)
    error: BaseException | None = None


@dataclass
class PullStats:
    stream: str
    pages: int = 0
    read: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    finished: bool = False

    def count(self, action: str, n: int = 1) -> None:
        self.actions[action] = self.actions.get(action, 0) + n


class Puller:
    def __init__(
        self,
        database: Database,
        settings: ErpSettings,
        reader: ErpGateway,
        *,
        lease: LeaseRenewal | None = None,
        stopping: Callable[[], bool] = lambda: False,
        on_page: Callable[[PullStats], None] | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.reader = reader
        self.lease = lease
        self.stopping = stopping
        self.on_page = on_page
        self._customers: dict[str, tuple[float, Mapping[str, Any] | None]] = {}

    def run(self, stream: str, *, since: datetime | None = None) -> PullStats:
        if stream == LEDGER_STREAM:
            return self.ledger()
        return self.documents(stream, since=since)

    # --- posted documents (§4.2) ------------------------------------------------------------------------
    def documents(self, stream: str, *, since: datetime | None = None) -> PullStats:
        """One run of a document stream; ``since`` catches up from an explicit bound without touching the cursor."""
        doc_type, role = DOCUMENT_STREAMS[stream]
        stats = PullStats(stream)
        pull = self.settings.pull
        by_version = since is None and pull.watermark_field == "Row_Version"
        with self.database.session_scope() as session:
            if since is not None:
                lower, upper, bookmark = since, db_now(session) - timedelta(seconds=pull.settle_s), None
            elif by_version:
                first_version, highest, bookmark = self._start_by_version(session, stream)
            else:
                lower, upper, bookmark = self._start(session, stream)
        if by_version:
            window = {"Row_Version": criteria.at_least(first_version)}
        else:
            # criteria have whole seconds: the lower bound rounds down, the upper one up (re-reads are harmless)
            window = {"SystemModifiedAt": criteria.between(_aware(lower), _aware(_next_second(upper)))}
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="erp-pull") as reader:
            ahead: Future[_Page] | None = None  # the read of the page after ``bookmark``
            try:
                while not self.stopping():
                    if ahead is None:
                        ahead = reader.submit(self._read_page, doc_type, role, window, bookmark)
                    try:
                        page = ahead.result()
                    except ErpError as exc:
                        if bookmark and "bookmark" in exc.message.lower():  # the ERP rejects it: restart the pages
                            log.warning("erp.pull.bookmark_rejected", stream=stream, message=exc.message)
                            bookmark = None
                            continue
                        raise
                    finally:
                        ahead = None
                    if page.error is not None:
                        raise page.error
                    last_page = page.size < pull.page_size
                    if page.size:
                        bookmark = page.last_key
                    if not last_page:
                        ahead = reader.submit(self._read_page, doc_type, role, window, bookmark)
                    with self.database.session_scope() as session:
                        now = utcnow()
                        self._upsert_page(session, doc_type, page, now, stats)
                        if by_version:
                            highest = max(highest, page.highest_version)
                        if since is None:
                            cursor = CursorRepository(session).get(stream)
                            if by_version:  # the highest version read so far survives a crash in the checkpoint
                                cursor.run_upper = str(highest)
                            if last_page:
                                cursor.watermark = str(highest) if by_version else _iso(upper)
                                cursor.run_lower = cursor.run_upper = cursor.run_bookmark = None
                                cursor.run_pages = 0
                            else:
                                cursor.run_bookmark = bookmark
                                cursor.run_pages += 1
                            cursor.updated_at = now
                        self._renew(session)
                    stats.pages += 1
                    stats.read += page.size
                    if self.on_page:
                        self.on_page(stats)
                    if last_page:
                        stats.finished = True
                        break
            finally:
                if ahead is not None:  # stopped or failed: a read ahead is not used (leaving waits for it to end)
                    ahead.cancel()
        return stats

    def _read_page(self, doc_type: DocType, role: str, window: dict[str, str], bookmark: str | None) -> _Page:
        """On the reader thread: one page of records, each mapped (the mapping reads Customer records)."""
        records = self.reader.read_page(role, window, self.settings.pull.page_size, bookmark)
        page = _Page(
            size=len(records),
            last_key=str(records[-1].get("Key") or "") or None if records else None,
            highest_version=max((int(record.get("Row_Version") or 0) for record in records), default=0),
        )
        try:
            for record in records:
                try:
                    page.mapped.append(posted_document(doc_type, record, self.settings, self._customer))
                except MappingError as exc:
                    page.mapped.append(exc)
        except Exception as exc:  # a Customer read failed: raised by the run when it takes this page
            page.error = exc
        return page

    def _upsert_page(self, session: Session, doc_type: DocType, page: _Page, now: datetime, stats: PullStats) -> None:
        documents: list[PostedDocumentData] = []
        for item in page.mapped:
            if isinstance(item, MappingError):  # one unreadable document does not hold back the stream: reported
                log.error("erp.pull.unreadable_document", doc_type=doc_type, error=str(item))
                stats.errors.append(str(item))
                stats.count("error")
            else:
                documents.append(item)
        results = upsert_page(session, documents, import_unlinked=self.settings.pull.import_unlinked, now=now)
        for result in results:
            stats.count(result.outcome)

    def _start(self, session: Session, stream: str) -> tuple[datetime, datetime, str | None]:
        """Resume the unfinished run, or start one from watermark − overlap to now − settle (stored)."""
        cursor = CursorRepository(session).get(stream)
        if cursor.run_lower and cursor.run_upper and not cursor.run_lower.isdigit():
            return (
                datetime.fromisoformat(cursor.run_lower),
                datetime.fromisoformat(cursor.run_upper),
                cursor.run_bookmark,
            )
        pull = self.settings.pull
        lower = (  # a Row_Version watermark (the other mode) starts over: re-reads are harmless
            datetime.fromisoformat(cursor.watermark) - timedelta(seconds=pull.overlap_s)
            if cursor.watermark and not cursor.watermark.isdigit()
            else pull.start_from
        )
        upper = db_now(session) - timedelta(seconds=pull.settle_s)
        cursor.run_lower, cursor.run_upper, cursor.run_bookmark, cursor.run_pages = _iso(lower), _iso(upper), None, 0
        cursor.updated_at = utcnow()
        return lower, upper, None

    def _start_by_version(self, session: Session, stream: str) -> tuple[int, int, str | None]:
        """Resume the unfinished run, or start one above the watermark version: (first version to read, highest
        version read so far, bookmark). Versions are numbers; a time watermark left by the other mode starts over
        from the first version (re-reads are harmless)."""
        cursor = CursorRepository(session).get(stream)
        if cursor.run_lower and cursor.run_lower.isdigit():
            return int(cursor.run_lower), int(cursor.run_upper or 0), cursor.run_bookmark
        watermark = int(cursor.watermark) if cursor.watermark and cursor.watermark.isdigit() else 0
        cursor.run_lower, cursor.run_upper, cursor.run_bookmark, cursor.run_pages = str(watermark + 1), None, None, 0
        cursor.updated_at = utcnow()
        return watermark + 1, watermark, None

    def _customer(self, no: str) -> Mapping[str, Any] | None:
        """The Customer record (licenseTo), cached for ``customer_cache_ttl_s``."""
        cached = self._customers.get(no)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        records = self.reader.read_page("customer", {"No": criteria.equals(no)}, 1)
        customer = records[0] if records else None
        self._customers[no] = (time.monotonic() + self.settings.pull.customer_cache_ttl_s, customer)
        return customer

    # --- ledger entries (§4.3) --------------------------------------------------------------------------
    def ledger(self) -> PullStats:
        stats = PullStats(LEDGER_STREAM)
        page_size = self.settings.pull.page_size
        while not self.stopping():
            with self.database.read_scope() as session:  # a read: creating the row here would be a write
                watermark = int(CursorRepository(session).watermark(LEDGER_STREAM) or 0)
            entries = self.reader.read_page(
                "customer_ledger_entries", {"Entry_No": criteria.at_least(watermark + 1)}, page_size
            )
            if not entries:
                stats.finished = True
                break
            observations = self._observations(entries)
            with self.database.session_scope() as session:
                self._apply(session, observations, stats)
                cursor = CursorRepository(session).get(LEDGER_STREAM)
                cursor.watermark = str(max(int(entry.get("Entry_No") or 0) for entry in entries))
                cursor.updated_at = utcnow()
                self._renew(session)
            stats.pages += 1
            stats.read += len(entries)
            if self.on_page:
                self.on_page(stats)
            if len(entries) < page_size:
                stats.finished = True
                break
        return stats

    def refresh_open(self, invoice_numbers: Iterable[str], credit_memo_numbers: Iterable[str] = ()) -> PullStats:
        """``erp.refresh_open`` (§4.3, §4.4): re-read the ledger entries of these unpaid invoices (later
        applications, reversals), and look for these credit memos in the ERP: those it no longer has are Deleted."""
        stats = PullStats("open_documents")
        observations = self._reread("invoice", sorted(set(invoice_numbers)))
        wanted = sorted(set(credit_memo_numbers))
        existing = self._existing("posted_sales_credit_memo", wanted)
        missing = [no for no in wanted if no not in existing]
        with self.database.session_scope() as session:
            self._apply(session, observations, stats)
            stats.count("deleted", mark_deleted(session, "credit_memo", missing, utcnow()))
            self._renew(session)
        stats.finished = True
        return stats

    def _existing(self, role: str, numbers: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(numbers), NUMBERS_PER_READ):
            chunk = numbers[start : start + NUMBERS_PER_READ]
            records = self.reader.read_page(role, {"No": criteria.any_of(chunk)}, len(chunk))
            found.update(str(record.get("No") or "") for record in records)
        return found

    def _observations(self, entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The entries' own documents observed, plus a re-read of the documents they apply to."""
        observations: dict[tuple[str, str], dict[str, Any]] = {}
        affected: set[str] = set()
        customers: set[str] = set()
        for entry in entries:
            kind = entry.get("Document_Type") or ""
            if kind in ("Invoice", "Credit_Memo"):
                observation = _observation(entry)
                observations[(observation["doc_type"], observation["document_no"])] = observation
            if kind in ("Payment", "Refund", "Credit_Memo"):
                if entry.get("Applies_to_Doc_No"):
                    affected.add(str(entry["Applies_to_Doc_No"]))
                elif kind != "Credit_Memo" and entry.get("Customer_No"):
                    customers.add(str(entry["Customer_No"]))
        if customers:
            with self.database.read_scope() as session:
                balances = BalanceRepository(session)
                for customer in sorted(customers):
                    affected.update(balances.open_invoices_of(customer))
        for observation in self._reread("invoice", sorted(affected)):
            observations[(observation["doc_type"], observation["document_no"])] = observation
        return list(observations.values())

    def _reread(self, doc_type: DocType, numbers: list[str]) -> list[dict[str, Any]]:
        kind = "Invoice" if doc_type == "invoice" else "Credit_Memo"
        found: list[dict[str, Any]] = []
        for start in range(0, len(numbers), NUMBERS_PER_READ):
            chunk = numbers[start : start + NUMBERS_PER_READ]
            entries = self.reader.read_page(
                "customer_ledger_entries",
                {"Document_Type": criteria.equals(kind), "Document_No": criteria.any_of(chunk)},
                len(chunk) * 2,
            )
            found.extend(_observation(entry) for entry in entries)
        return found

    def _apply(self, session: Session, observations: list[dict[str, Any]], stats: PullStats) -> None:
        BalanceRepository(session).observe(observations)
        now = utcnow()
        for observation in observations:
            applied = apply_balance(
                session, observation["doc_type"], observation["document_no"], observation["remaining"], now
            )
            stats.count("balance_applied" if applied else "balance_stored")

    def _renew(self, session: Session) -> None:
        if self.lease is not None and not self.lease(session):
            raise LeaseLostError("the job lease was lost; the page was rolled back")


def _observation(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "doc_type": "invoice" if entry.get("Document_Type") == "Invoice" else "credit_memo",
        "document_no": str(entry.get("Document_No") or ""),
        "entry_no": int(entry.get("Entry_No") or 0),
        "customer_no": str(entry.get("Customer_No") or "") or None,
        "remaining": Decimal(str(entry.get("Remaining_Amount") or "0")),
        "open": str(entry.get("Open") or "").lower() == "true",
        "observed_at": utcnow(),
    }


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _next_second(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)
