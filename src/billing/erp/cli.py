"""``billing erp status|lookup|attempts|pull|pause|resume`` and ``billing statements retry|cancel|mark-sent``
(erp-integration.md §3.9), as Operations."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import select

from billing.auth.capabilities import Scope
from billing.db.engine import Database
from billing.db.models import ErpAttempt, ErpOutbox
from billing.db.query import filtered
from billing.erp.errors import ErpError
from billing.erp.pages import service_url
from billing.erp.plan import doc_type_of
from billing.erp.pull import LEDGER_STREAM, STREAMS, Puller, PullStats
from billing.erp.repository import ControlRepository, OutboxRepository, PlanRepository, db_now
from billing.erp.soap import SoapGateway, gateway_for
from billing.errors import AppError
from billing.jobs.leases import JobLeaseRepository, ReplicaRepository
from billing.kit.rql import parse_query_string
from billing.reports.repository import Period, ReconciliationRepository
from billing.settings import Settings
from billing.statements.cli import operations
from billing.statements.repository import LIST_SPEC, StatementRepository
from billing.statements.schemas import StatementUpdate
from billing.statements.service import StatementService

STUCK_LISTED = 20  # statements listed by `billing erp status` as Issued but not posted in time


def status(database: Database, console: Console, unposted_alert: timedelta) -> int:
    """Queue depth, oldest age, pause, replicas, job leases, and statements Issued but not posted in time."""
    with database.read_scope() as session:
        now = db_now(session)
        stuck = ReconciliationRepository(session).issued_not_posted(Period(), STUCK_LISTED, now - unposted_alert)
        counts = OutboxRepository(session).counts()
        control = ControlRepository(session).get()
        oldest = session.execute(
            select(ErpOutbox.queued_at).where(ErpOutbox.state == "pending").order_by(ErpOutbox.queued_at).limit(1)
        ).scalar()
        age = (now - oldest).total_seconds() if oldest else 0.0
        live = ReplicaRepository(session).live_ids()
        leases = JobLeaseRepository(session).all()
    paused = f"[red]paused[/red] by {control.paused_by}: {control.pause_reason}" if control.paused else "running"
    console.print(f"ERP queue: {paused}")
    console.print(
        f"outbox: {counts['due']} due, {counts['waiting']} waiting, {counts['leased']} leased, "
        f"{counts['dead']} dead; oldest pending {age:.0f} s"
    )
    console.print(f"live daemon replicas: {', '.join(live) or 'none'}")
    table = Table("job", "owner", "lease until", "last status", "last finished")
    for lease in leases:
        table.add_row(
            lease.name,
            lease.owner or "",
            str(lease.lease_until or ""),
            lease.last_status or "",
            str(lease.last_finished_at or ""),
        )
    console.print(table)
    if stuck:
        days = unposted_alert.total_seconds() / 86400
        listed = Table("statement", "ERP id", "type", "age (days)", title=f"Issued over {days:g} days ago, not posted")
        for row in stuck:
            listed.add_row(row.statement_id, row.erp_id or "", row.statement_type, str(row.age_days(now)))
        console.print(listed)
    return 0


def fetch_wsdl(settings: Settings, out: Path, console: Console) -> int:
    """Download each configured page's WSDL from the ERP into ``out`` (then set ``erp.wsdl_dir`` to it)."""
    out.mkdir(parents=True, exist_ok=True)
    session = SoapGateway(settings.erp).new_session()
    failures = 0
    for role, name in settings.erp.services.model_dump().items():
        url = service_url(settings.erp.base_url, name)
        try:
            response = session.get(url, timeout=(settings.erp.timeouts.connect_s, settings.erp.timeouts.operation_s))
        except requests.RequestException as exc:
            console.print(f"[red]{role}: {url}: {exc}[/red]")
            failures += 1
            continue
        if response.status_code != 200 or b"definitions" not in response.content[:2000]:
            console.print(f"[red]{role}: {url} answered HTTP {response.status_code}, not a WSDL.[/red]")
            failures += 1
            continue
        (out / f"{name}.wsdl").write_bytes(response.content)
        console.print(f"{role}: {out / f'{name}.wsdl'}")
    return 1 if failures else 0


def pull(database: Database, settings: Settings, stream: str, since: datetime | None, console: Console) -> int:
    """One run of a pull stream, pages counted on a progress bar; 1 when a document could not be read."""
    if stream not in STREAMS:
        console.print(f"[red]Unknown stream {stream!r}[/red]: one of {', '.join(STREAMS)}.")
        return 2
    if since is not None and stream == LEDGER_STREAM:
        console.print("[red]--since applies to the document streams[/red] (ledger entries follow Entry_No).")
        return 2
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console, transient=False
    ) as progress:
        task = progress.add_task(f"{stream}: starting", total=None)

        def on_page(stats: PullStats) -> None:
            progress.update(task, description=f"{stream}: {stats.pages} pages, {stats.read} records")

        try:
            stats = Puller(database, settings.erp, gateway_for(settings.erp), on_page=on_page).run(stream, since=since)
        except ErpError as exc:
            console.print(f"[red]ERP error[/red] ({type(exc).__name__}): {exc.message}")
            return 1
    actions = ", ".join(f"{count} {action}" for action, count in sorted(stats.actions.items())) or "nothing new"
    console.print(f"{stream}: {stats.read} records in {stats.pages} pages: {actions}")
    for error in stats.errors:
        console.print(f"[red]not imported[/red]: {error}")
    return 1 if stats.errors else 0


def set_pause(database: Database, paused: bool, reason: str | None, console: Console) -> int:
    with database.session_scope() as session:
        control = ControlRepository(session).get(for_update=True)
        control.paused = paused
        control.pause_reason = (reason or "paused by an operator") if paused else None
        control.paused_by = operations().actor["name"] if paused else None
        control.paused_at = db_now(session) if paused else None
    console.print("ERP queue paused." if paused else "ERP queue resumed.")
    return 0


def attempts(database: Database, statement_id: str, console: Console) -> int:
    with database.read_scope() as session:
        rows = (
            session.execute(
                select(ErpAttempt).where(ErpAttempt.statement_id == statement_id.upper()).order_by(ErpAttempt.id)
            )
            .scalars()
            .all()
        )
        table = Table("claim", "seq", "started", "operation", "outcome", "HTTP", "ms", "fault")
        for row in rows:
            table.add_row(
                str(row.claim_no),
                str(row.seq),
                str(row.started_at),
                row.operation,
                row.outcome,
                str(row.http_status or ""),
                str(row.duration_ms or ""),
                (row.fault_message or "")[:80],
            )
    console.print(table)
    console.print(f"{len(rows)} attempts.")
    return 0


def lookup(database: Database, settings: Settings, statement_id: str, console: Console) -> int:
    """What the ERP holds for the statement (unposted and posted documents by External_Document_No)."""
    with database.read_scope() as session:
        statement = PlanRepository(session).statement(statement_id.upper())
        if statement is None:
            console.print(f"[red]Statement {statement_id} was not found.[/red]")
            return 1
        doc_type = doc_type_of(statement)
    gateway = gateway_for(settings.erp)
    try:
        found = [
            *gateway.find(doc_type, statement.id, posted=False),
            *gateway.find(doc_type, statement.id, posted=True),
        ]
    except ErpError as exc:
        console.print(f"[red]The ERP could not be asked: {exc.message}[/red]")
        return 2
    table = Table("document", "posted", "pre-assigned", "sell-to", "bill-to", "currency", "lines", "amount")
    for document in found:
        table.add_row(
            document.no,
            "yes" if document.posted else "no",
            document.pre_assigned_no or "",
            document.sell_to_customer_no,
            document.bill_to_customer_no,
            document.currency_code or "(LCY)",
            str(len(document.line_nos)),
            str(document.amount if document.amount is not None else ""),
        )
    console.print(table)
    console.print(f"{len(found)} ERP document(s) for {statement.id}.")
    return 0


def retry(database: Database, ids: list[str], rql: str | None, dry_run: bool, yes: bool, console: Console) -> int:
    """Retry statements by id or by RQL filter (bulk); ``dry_run`` only lists them."""
    with database.read_scope() as session:
        if rql:
            stmt = filtered(
                StatementRepository(session).scoped(operations(), Scope.ALL), LIST_SPEC, parse_query_string(rql)
            )
            ids = [row.id for row in session.execute(stmt).scalars()]
    ids = [statement_id.upper() for statement_id in ids]
    console.print(f"{len(ids)} statement(s) match: {', '.join(ids[:20])}{' …' if len(ids) > 20 else ''}")
    if dry_run or not ids:
        return 0
    if not yes and not _confirm(console, f"Retry {len(ids)} statement(s)?"):
        return 1
    return _act_each(database, ids, "retry", None, console)


def cancel(database: Database, statement_id: str, console: Console) -> int:
    return _act_each(database, [statement_id.upper()], "cancel", None, console)


def mark_sent(
    database: Database,
    settings: Settings,
    statement_id: str,
    erp_id: str,
    verify: bool,
    reason: str | None,
    console: Console,
) -> int:
    data = StatementUpdate.model_validate({"externalIds": {"erpId": erp_id}})
    return _act_each(
        database, [statement_id.upper()], "issue", data, console, settings=settings, verify=verify, reason=reason
    )


def _act_each(
    database: Database,
    ids: list[str],
    action: str,
    data: StatementUpdate | None,
    console: Console,
    *,
    settings: Settings | None = None,
    verify: bool = True,
    reason: str | None = None,
) -> int:
    failures = 0
    for statement_id in ids:
        try:
            with database.session_scope() as session:
                gateway: Any = (lambda: gateway_for(settings.erp)) if settings is not None else None
                service = StatementService(session, operations(), Scope.ALL, gateway=gateway)
                statement = service.act(statement_id, action, data, verify=verify, reason=reason)
                console.print(f"{statement.id}: {statement.status}")
        except AppError as error:
            failures += 1
            console.print(f"[red]{statement_id}: {error.detail}[/red]")
    return 1 if failures else 0


def _confirm(console: Console, question: str) -> bool:
    answer = console.input(f"{question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")
