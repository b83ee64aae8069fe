"""The reconciliation report (service extension, Operations only): do the service's statements and the ERP's
posted documents tell the same story?

1. **Totals** — each statement linked to an invoice or credit memo against that document's net total (``totalSP``,
   the ERP's ``Amount``). Absolute values are compared: a Credit statement carries a negative total, its credit
   memo a positive one. The ERP computes and rounds its own line amounts, so a difference up to **0.01 per
   document line** (at least 0.01) is rounding — the threshold of ``erp.push.total_mismatch`` (erp-integration.md
   §1.7) — and is not reported.
2. **Unlinked documents** — invoices and credit memos linked to no statement (imported unlinked, duplicates).
3. **Issued, not posted** — statements Issued with ``externalIds.erpId`` but with no linked posted document (never
   posted, or Deleted in the ERP), with their age (§4.5).

The report is *clean* when all three are empty.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from billing.erp.repository import db_now
from billing.reports.repository import (
    IssuedNotPosted,
    Period,
    ReconciliationRepository,
    TotalMismatch,
    UnlinkedDocument,
)

ROUNDING_PER_LINE = Decimal("0.01")

T = TypeVar("T")


@dataclass(frozen=True)
class Section(Generic[T]):
    total: int  # every matching row in the period
    items: list[T] = field(default_factory=list)  # the first `limit` of them


@dataclass(frozen=True)
class ReconciliationReport:
    period: Period
    limit: int
    generated_at: datetime
    compared: int
    mismatches: Section[TotalMismatch]
    unlinked: Section[UnlinkedDocument]
    issued_not_posted: Section[IssuedNotPosted]

    @property
    def clean(self) -> bool:
        return not (self.mismatches.total or self.unlinked.total or self.issued_not_posted.total)


class ReconciliationService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.repository = ReconciliationRepository(session)

    def reconcile(self, period: Period, limit: int, unposted_alert: timedelta = timedelta(0)) -> ReconciliationReport:
        """``unposted_alert``: an Issued statement counts as never posted only once it was queued this long ago
        (the ERP's posting run has had its time)."""
        repository = self.repository
        repository.begin_snapshot()
        compared, beyond = repository.compared_counts(period, ROUNDING_PER_LINE)
        now = db_now(self.session)  # the database's clock: ages agree across replicas
        queued_before = now - unposted_alert
        return ReconciliationReport(
            period=period,
            limit=limit,
            generated_at=now,
            compared=compared,
            mismatches=_section(beyond, lambda: repository.total_mismatches(period, ROUNDING_PER_LINE, limit)),
            unlinked=_section(repository.unlinked_count(period), lambda: repository.unlinked_documents(period, limit)),
            issued_not_posted=_section(
                repository.issued_not_posted_count(period, queued_before),
                lambda: repository.issued_not_posted(period, limit, queued_before),
            ),
        )


def _section(total: int, rows: Callable[[], list[T]]) -> Section[T]:
    """The rows are read only when there are some."""
    return Section(total, rows() if total else [])
