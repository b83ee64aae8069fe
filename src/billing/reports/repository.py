"""SQL of the reconciliation report: statements against their posted ERP documents, set-based.

Every section is one aggregate (its count) and one bounded, ordered select (its rows); the database joins,
counts the document lines (a correlated count on the lines' ``(document id, line_no)`` index) and compares the
totals. Rows come back as plain tuples bound to small dataclasses, never as ORM objects.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, literal, or_, select, type_coerce, union_all
from sqlalchemy.orm import Session

from billing.db.models import CreditMemo, Invoice, Statement
from billing.db.types import InstantText, Money
from billing.posted_documents.kinds import KINDS, DocKind

#: The one document status that means "no longer in the ERP" (a credit memo the re-read did not find, §4.4).
DELETED = "Deleted"


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)``; ``None`` leaves that side open."""

    start: datetime | None = None
    end: datetime | None = None

    def bounds(self, column: Any) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if self.start is not None:
            conditions.append(column >= self.start)
        if self.end is not None:
            conditions.append(column < self.end)
        return conditions


@dataclass(frozen=True, slots=True)
class TotalMismatch:
    statement_id: str
    statement_type: str
    statement_status: str
    statement_total: Decimal
    document_type: str  # invoice | creditMemo
    document_id: str
    document_no: str
    document_status: str
    document_total: Decimal
    currency: str
    lines: int
    tolerance: Decimal
    difference: Decimal  # |statement totalSP| − |document totalSP|


@dataclass(frozen=True, slots=True)
class UnlinkedDocument:
    document_type: str
    document_id: str
    document_no: str
    erp_id: str
    status: str
    posting_date: datetime | None
    currency: str
    total_sp: Decimal
    statement_id: str | None  # a statement id the document names but that does not exist


@dataclass(frozen=True, slots=True)
class IssuedNotPosted:
    statement_id: str
    statement_type: str
    erp_id: str
    currency: str
    total_sp: Decimal
    queued_at: datetime | None
    issued_at: datetime | None
    created_at: datetime
    document_id: str | None  # the link the statement still holds (to a Deleted or vanished document)
    document_status: str | None

    def age_days(self, now: datetime) -> int:
        """Whole days since the statement became Issued (else queued, else created)."""
        since = self.issued_at or self.queued_at or self.created_at
        return max((now - since).days, 0)


def statement_instant() -> Any:
    return func.coalesce(Statement.queued_at, Statement.created_at)


def document_instant(model: Any) -> Any:
    return func.coalesce(model.posting_date, model.created_at)


class ReconciliationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def begin_snapshot(self) -> None:
        """PostgreSQL: read every section from one snapshot (REPEATABLE READ) so counts and rows agree. SQLite's
        deferred read transaction is a snapshot already. A transaction already begun is left as it is."""
        if self.session.get_bind().dialect.name == "postgresql" and not self.session.in_transaction():
            self.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})

    # --- (1) statement totals against their linked documents ---------------------------------------------------

    def compared_counts(self, period: Period, rounding_per_line: Decimal) -> tuple[int, int]:
        """(linked statements compared, of which beyond rounding) in one aggregate."""
        compared = _comparison(period, rounding_per_line)
        row = self.session.execute(
            select(func.count(), func.coalesce(func.sum(case((compared.c.beyond == 1, 1), else_=0)), 0))
        ).one()
        return int(row[0]), int(row[1])

    def total_mismatches(self, period: Period, rounding_per_line: Decimal, limit: int) -> list[TotalMismatch]:
        """The largest differences first."""
        compared = _comparison(period, rounding_per_line)
        columns = [compared.c[item.name] for item in fields(TotalMismatch)]
        stmt = (
            select(*columns)
            .where(compared.c.beyond == 1)
            .order_by(func.abs(compared.c.difference).desc(), compared.c.statement_id)
            .limit(limit)
        )
        return [TotalMismatch(*row) for row in self.session.execute(stmt)]

    # --- (2) ERP documents linked to no statement --------------------------------------------------------------

    def unlinked_count(self, period: Period) -> int:
        unlinked = union_all(*(_unlinked(kind, period) for kind in KINDS.values())).subquery()
        return int(self.session.execute(select(func.count()).select_from(unlinked)).scalar_one())

    def unlinked_documents(self, period: Period, limit: int) -> list[UnlinkedDocument]:
        unlinked = union_all(*(_unlinked(kind, period) for kind in KINDS.values())).subquery()
        columns = [unlinked.c[item.name] for item in fields(UnlinkedDocument)]
        stmt = select(*columns).order_by(unlinked.c.instant, unlinked.c.document_no).limit(limit)
        return [UnlinkedDocument(*row) for row in self.session.execute(stmt)]

    # --- (3) Issued statements with no posted document --------------------------------------------------------

    def issued_not_posted_count(self, period: Period, queued_before: datetime | None = None) -> int:
        stmt = _issued_not_posted(period, queued_before).with_only_columns(func.count(), maintain_column_froms=True)
        return int(self.session.execute(stmt).scalar_one())

    def issued_not_posted(
        self, period: Period, limit: int, queued_before: datetime | None = None
    ) -> list[IssuedNotPosted]:
        """The oldest first (by the Issued audit event, whose ISO text sorts chronologically)."""
        issued_text = Statement.audit[("issued", "at")].as_string()
        stmt = (
            _issued_not_posted(period, queued_before)
            .order_by(issued_text.is_(None), issued_text, statement_instant(), Statement.id)
            .limit(limit)
        )
        return [IssuedNotPosted(*row) for row in self.session.execute(stmt)]


def _comparison(period: Period, rounding_per_line: Decimal) -> Any:
    """Statements linked to an invoice or a credit memo, with both net totals, the document's line count, the
    tolerance (``rounding_per_line`` × lines, at least one line's worth) and whether the difference is beyond it.

    Money is a NUMERIC on PostgreSQL and an integer of millionths on SQLite: the totals are compared as stored, and
    the tolerance is built from a ``Money``-typed bound value so it is scaled the same way on both."""
    linked = union_all(*(_linked(kind, period) for kind in KINDS.values())).subquery("linked")
    tolerance = case((linked.c.lines < 1, 1), else_=linked.c.lines) * literal(rounding_per_line, Money)
    return select(
        *linked.c,
        type_coerce(tolerance, Money).label("tolerance"),
        case((func.abs(linked.c.difference) > tolerance, 1), else_=0).label("beyond"),
    ).subquery("compared")


def _linked(kind: DocKind, period: Period) -> Select[Any]:
    doc = kind.model
    lines = (
        select(func.count())
        .select_from(kind.line_model)
        .where(kind.line_parent_column() == doc.id)
        .correlate(doc)
        .scalar_subquery()
    )
    return (
        select(
            Statement.id.label("statement_id"),
            Statement.type.label("statement_type"),
            Statement.status.label("statement_status"),
            Statement.total_sp.label("statement_total"),
            literal(kind.parent_ref).label("document_type"),
            doc.id.label("document_id"),
            doc.document_no.label("document_no"),
            doc.status.label("document_status"),
            doc.total_sp.label("document_total"),
            doc.currency.label("currency"),
            lines.label("lines"),
            type_coerce(func.abs(Statement.total_sp) - func.abs(doc.total_sp), Money).label("difference"),
        )
        .join_from(Statement, doc, doc.id == getattr(Statement, kind.statement_field))
        .where(*period.bounds(statement_instant()))
    )


def _unlinked(kind: DocKind, period: Period) -> Select[Any]:
    """``kind`` documents whose statement is absent (never linked, a duplicate, or a statement that is gone);
    documents Deleted in the ERP are left out: there is nothing left to reconcile."""
    doc = kind.model
    return (
        select(
            literal(kind.parent_ref).label("document_type"),
            doc.id.label("document_id"),
            doc.document_no.label("document_no"),
            doc.erp_id.label("erp_id"),
            doc.status.label("status"),
            doc.posting_date.label("posting_date"),
            doc.currency.label("currency"),
            doc.total_sp.label("total_sp"),
            doc.statement_id.label("statement_id"),
            document_instant(doc).label("instant"),
        )
        .outerjoin(Statement, Statement.id == doc.statement_id)
        .where(Statement.id.is_(None), doc.status != DELETED, *period.bounds(document_instant(doc)))
    )


def _issued_not_posted(period: Period, queued_before: datetime | None) -> Select[Any]:
    """Issued statements with an ERP id (pushed, or marked as sent) whose posted document never arrived or has
    since been deleted in the ERP: no linked row, or a linked row that is Deleted. ``queued_before`` leaves out
    statements still within the time the ERP is given to post them (``erp.pull.unposted_alert_days``)."""
    waited = [] if queued_before is None else [statement_instant() < queued_before]
    return (
        select(
            Statement.id,
            Statement.type,
            Statement.external_erp_id,
            Statement.currency_sale,
            Statement.total_sp,
            Statement.queued_at,
            type_coerce(Statement.audit[("issued", "at")].as_string(), InstantText),
            Statement.created_at,
            func.coalesce(Statement.invoice_id, Statement.credit_memo_id),
            func.coalesce(Invoice.status, CreditMemo.status),
        )
        .outerjoin(Invoice, Invoice.id == Statement.invoice_id)
        .outerjoin(CreditMemo, CreditMemo.id == Statement.credit_memo_id)
        .where(
            Statement.status == "Issued",
            Statement.external_erp_id.is_not(None),
            Statement.external_erp_id != "",
            or_(Invoice.id.is_(None), Invoice.status == DELETED),
            or_(CreditMemo.id.is_(None), CreditMemo.status == DELETED),
            *period.bounds(statement_instant()),
            *waited,
        )
    )
