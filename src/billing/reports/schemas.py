"""The reconciliation report's query (``from``, ``to``, ``limit``) and its JSON representation.

Period: the half-open interval ``[from, to)`` over each row's period instant. ``from`` and ``to`` take an ISO 8601
date or date-time (billing-api.md §3.4); a plain-date ``to`` covers that whole day (``to=2025-06-30`` ends at
``2025-07-01T00:00:00Z``). Statements are placed by ``queued_at`` (``created_at`` for one that was never queued),
ERP documents linked to no statement by their posting date (``created_at`` when the ERP gave none).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from billing.errors import InvalidQuery
from billing.kit.pagination import MAX_LIMIT
from billing.kit.timeutil import parse_instant
from billing.reports.repository import IssuedNotPosted, Period, TotalMismatch, UnlinkedDocument
from billing.reports.service import ROUNDING_PER_LINE, ReconciliationReport

DEFAULT_LIMIT = 100
PARAMETERS = ("from", "to", "limit")
_DIGITS = re.compile(r"[0-9]+")
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class ReconciliationQuery:
    period: Period
    limit: int  # listed rows per section (counts are always complete)

    @classmethod
    def parse(cls, params: Iterable[tuple[str, str]]) -> ReconciliationQuery:
        """Bind the query parameters (the last occurrence wins, like §4.1); anything wrong is a 400."""
        values: dict[str, str] = {}
        for name, value in params:
            key = name.strip().lower()
            if key not in PARAMETERS:
                raise InvalidQuery(f"Unknown query parameter '{name}'; the report accepts from, to and limit.")
            values[key] = value
        start = _instant("from", values["from"]) if "from" in values else None
        end = _instant("to", values["to"], end_of_day=True) if "to" in values else None
        if start is not None and end is not None and start >= end:
            raise InvalidQuery(f"'from' ({values['from']}) must be before 'to' ({values['to']}).")
        return cls(Period(start, end), _limit(values.get("limit")))


def _instant(name: str, raw: str, *, end_of_day: bool = False) -> datetime:
    try:
        value = parse_instant(raw)
    except (ValueError, OverflowError):
        raise InvalidQuery(f"'{name}' must be an ISO 8601 date or date-time, got '{raw}'.") from None
    if end_of_day and _DATE_ONLY.fullmatch(raw.strip()):
        value = value + timedelta(days=1) if value.date() < date.max else datetime.max
    return value


def _limit(raw: str | None) -> int:
    """A non-negative integer; larger than 1000 is reduced to 1000 (as §4.7 does for collections)."""
    if raw is None:
        return DEFAULT_LIMIT
    if not _DIGITS.fullmatch(raw.strip()):
        raise InvalidQuery(f"'limit' must be a non-negative integer, got '{raw}'.")
    return min(int(raw.strip()), MAX_LIMIT)


# --- representation -------------------------------------------------------------------------------------------


def report_document(report: ReconciliationReport) -> dict[str, Any]:
    return {
        "$meta": {"omitted": []},
        "generatedAt": report.generated_at,
        "period": {"from": report.period.start, "to": report.period.end},
        "tolerance": {"perLine": ROUNDING_PER_LINE, "minimum": ROUNDING_PER_LINE},
        "limit": report.limit,
        "summary": {
            "statementsCompared": report.compared,
            "totalMismatches": report.mismatches.total,
            "unlinkedDocuments": report.unlinked.total,
            "issuedNotPosted": report.issued_not_posted.total,
            "clean": report.clean,
        },
        "totalMismatches": [_mismatch(row) for row in report.mismatches.items],
        "unlinkedDocuments": [_unlinked(row) for row in report.unlinked.items],
        "issuedNotPosted": [_issued(row, report.generated_at) for row in report.issued_not_posted.items],
    }


def _mismatch(row: TotalMismatch) -> dict[str, Any]:
    return {
        "statement": {
            "id": row.statement_id,
            "type": row.statement_type,
            "status": row.statement_status,
            "totalSP": row.statement_total,
        },
        "document": {
            "id": row.document_id,
            "type": row.document_type,
            "documentNo": row.document_no,
            "status": row.document_status,
            "totalSP": row.document_total,
            "lines": row.lines,
        },
        "currency": row.currency,
        "difference": row.difference,
        "tolerance": row.tolerance,
    }


def _unlinked(row: UnlinkedDocument) -> dict[str, Any]:
    return {
        "id": row.document_id,
        "type": row.document_type,
        "documentNo": row.document_no,
        "erpId": row.erp_id,
        "status": row.status,
        "postingDate": row.posting_date,
        "currency": row.currency,
        "totalSP": row.total_sp,
        "statement": {"id": row.statement_id} if row.statement_id else None,
    }


def _issued(row: IssuedNotPosted, now: datetime) -> dict[str, Any]:
    return {
        "id": row.statement_id,
        "type": row.statement_type,
        "externalIds": {"erpId": row.erp_id},
        "currency": row.currency,
        "totalSP": row.total_sp,
        "queuedAt": row.queued_at,
        "issuedAt": row.issued_at,
        "ageDays": row.age_days(now),
        "document": {"id": row.document_id, "status": row.document_status} if row.document_id else None,
    }
