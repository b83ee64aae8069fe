"""``billing erp reconcile [--from DATE] [--to DATE] [--limit N] [--json]``: the reconciliation report as a rich
summary and tables of the differences (or the API's JSON document). Exit 0 when clean, 1 when any difference is
found, 2 for invalid options."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console
from rich.table import Table

from billing.db.engine import Database
from billing.errors import AppError
from billing.kit.jsonout import dumps
from billing.kit.money import format_decimal
from billing.kit.timeutil import format_instant
from billing.reports.schemas import ReconciliationQuery, report_document
from billing.reports.service import ReconciliationReport, ReconciliationService


def reconcile(
    database: Database,
    unposted_alert: timedelta,
    start: str | None,
    end: str | None,
    limit: int | None,
    as_json: bool,
    console: Console,
) -> int:
    params = [(name, value) for name, value in (("from", start), ("to", end)) if value is not None]
    if limit is not None:
        params.append(("limit", str(limit)))
    try:
        query = ReconciliationQuery.parse(params)
    except AppError as error:
        console.print(f"[red]{error.detail}[/red]")
        return 2
    with database.read_scope() as session:
        report = ReconciliationService(session).reconcile(query.period, query.limit, unposted_alert)
    if as_json:
        console.out(dumps(report_document(report)).decode(), highlight=False)
    else:
        show(report, console)
    return 0 if report.clean else 1


def show(report: ReconciliationReport, console: Console) -> None:
    start = format_instant(report.period.start) if report.period.start else "the beginning"
    end = format_instant(report.period.end) if report.period.end else "now"
    console.print(f"Reconciliation from {start} to {end} (rounding: 0.01 per document line, at least 0.01)")
    summary = Table("section", "count", title="Summary")
    summary.add_row("statements compared with their document", str(report.compared))
    summary.add_row("totals beyond rounding", _count(report.mismatches.total))
    summary.add_row("ERP documents linked to no statement", _count(report.unlinked.total))
    summary.add_row("Issued statements with no posted document", _count(report.issued_not_posted.total))
    console.print(summary)

    if report.mismatches.items:
        table = Table("statement", "type", "totalSP", "document", "document no", "totalSP", "lines", "difference")
        table.title = _title("Totals beyond rounding", report.mismatches.total, len(report.mismatches.items))
        for row in report.mismatches.items:
            table.add_row(
                row.statement_id,
                row.statement_type,
                format_decimal(row.statement_total),
                row.document_id,
                row.document_no,
                format_decimal(row.document_total),
                str(row.lines),
                format_decimal(row.difference),
            )
        console.print(table)
    if report.unlinked.items:
        table = Table("document", "type", "document no", "ERP id", "status", "posted", "currency", "totalSP")
        table.title = _title("ERP documents linked to no statement", report.unlinked.total, len(report.unlinked.items))
        for doc in report.unlinked.items:
            table.add_row(
                doc.document_id,
                doc.document_type,
                doc.document_no,
                doc.erp_id,
                doc.status,
                format_instant(doc.posting_date)[:10] if doc.posting_date else "",
                doc.currency,
                format_decimal(doc.total_sp),
            )
        console.print(table)
    if report.issued_not_posted.items:
        table = Table("statement", "type", "ERP id", "totalSP", "issued (else queued)", "age (days)", "linked document")
        table.title = _title(
            "Issued statements with no posted document",
            report.issued_not_posted.total,
            len(report.issued_not_posted.items),
        )
        for statement in report.issued_not_posted.items:
            since = statement.issued_at or statement.queued_at
            table.add_row(
                statement.statement_id,
                statement.statement_type,
                statement.erp_id,
                format_decimal(statement.total_sp),
                format_instant(since) if since else "",
                str(statement.age_days(report.generated_at)),
                f"{statement.document_id} ({statement.document_status or 'missing'})" if statement.document_id else "",
            )
        console.print(table)
    console.print("[green]Clean.[/green]" if report.clean else "[red]Differences found.[/red]")


def _count(value: int) -> str:
    return f"[red]{value}[/red]" if value else "0"


def _title(name: str, total: int, listed: int) -> str:
    return f"{name} ({listed} of {total})" if listed < total else name
