"""``billing documents render|deliver|resend|status|resume`` (as Operations)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import select

from billing.attachments.storage import AttachmentStorage
from billing.auth.capabilities import Scope
from billing.db.engine import Database
from billing.db.query import filtered
from billing.documents.service import DocumentRenderer, UnknownDocument
from billing.documents.templating import TemplateError, Templates
from billing.errors import AppError
from billing.kit.rql import parse_query_string
from billing.posted_documents.kinds import CREDIT_MEMO, INVOICE
from billing.settings import Settings
from billing.statements.cli import operations

#: id prefix → parent type
PREFIXES = {"SOM": "statement", INVOICE.prefix: "invoice", CREDIT_MEMO.prefix: "credit_memo", "BLE": "ledger"}


def parent_type_of(parent_id: str) -> str | None:
    return PREFIXES.get(parent_id.split("-", 1)[0].upper())


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    )


def _selection(database: Database, parent_type: str, rql: str) -> list[str]:
    """The ids of the parents an RQL filter selects, with the API's list semantics for that resource."""
    from billing.credit_memos.repository import LIST_SPEC as CREDIT_MEMO_SPEC
    from billing.invoices.repository import LIST_SPEC as INVOICE_SPEC
    from billing.posted_documents.kinds import CREDIT_MEMO, INVOICE
    from billing.posted_documents.repository import PostedDocumentRepository
    from billing.statements.repository import LIST_SPEC as STATEMENT_SPEC
    from billing.statements.repository import StatementRepository

    query = parse_query_string(rql)
    with database.read_scope() as session:
        stmt: Any
        if parent_type == "statement":
            stmt = filtered(StatementRepository(session).scoped(operations(), Scope.ALL), STATEMENT_SPEC, query)
        else:
            kind, spec = (INVOICE, INVOICE_SPEC) if parent_type == "invoice" else (CREDIT_MEMO, CREDIT_MEMO_SPEC)
            stmt = filtered(PostedDocumentRepository(session).scoped(kind, operations(), Scope.ALL), spec, query)
        ids = select(stmt.subquery().c.id)
        return list(session.execute(ids).scalars())


def render(
    database: Database,
    settings: Settings,
    ids: list[str],
    parent_type: str | None,
    rql: str | None,
    console: Console,
) -> int:
    """Render now (what the daemon's documents.render would do), showing progress; exit 1 if any failed."""
    try:
        templates = Templates.from_settings(settings.documents)
        work: list[tuple[str, str]] = []
        for parent_id in ids:
            found = parent_type_of(parent_id)
            if found is None:
                console.print(f"[red]{parent_id}: not a statement, invoice, credit memo or ledger id.[/red]")
                return 2
            work.append((found, parent_id.upper()))
        if rql is not None:
            if parent_type not in ("statement", "invoice", "credit_memo"):
                console.print("[red]--filter needs --type statement, invoice or credit_memo.[/red]")
                return 2
            work += [(parent_type, parent_id) for parent_id in _selection(database, parent_type, rql)]
    except (AppError, TemplateError) as error:
        console.print(f"[red]{getattr(error, 'detail', error)}[/red]")
        return 2
    storage = AttachmentStorage.from_settings(settings)
    table = Table("parent", "document", "attachment", "version")
    failed = 0
    with _progress(console) as progress:
        task = progress.add_task("Rendering", total=len(work))
        for kind, parent_id in work:
            try:
                with database.session_scope() as session:
                    renderer = DocumentRenderer(session, templates, storage, settings.documents)
                    for output in renderer.render(kind, parent_id):
                        version = "new" if output.new else "unchanged"
                        table.add_row(parent_id, output.kind, output.attachment_id, version)
            except (UnknownDocument, TemplateError, ValueError) as error:
                failed += 1
                console.print(f"[red]{parent_id}: {error}[/red]")
            progress.advance(task)
    console.print(table)
    console.print(f"{len(work) - failed} of {len(work)} rendered.")
    return 1 if failed else 0


def deliver(database: Database, settings: Settings, parent_id: str | None, console: Console) -> int:
    """Send due deliveries now (a parent's waiting and failed ones first, when one is named); exit 1 if any
    attempt failed."""
    from billing.documents.delivery import deliver_due, retry
    from billing.documents.delivery_repository import FAILED, PENDING, DeliveryRepository

    if parent_id is not None:
        parent_type = parent_type_of(parent_id)
        if parent_type is None:
            console.print(f"[red]{parent_id}: not a statement, invoice, credit memo or ledger id.[/red]")
            return 2
        with database.session_scope() as session:
            repository = DeliveryRepository(session)
            deliveries = [delivery for delivery, _ in repository.of_parent(parent_type, parent_id.upper())]
            for delivery in deliveries:
                if delivery.status == FAILED:
                    retry(session, delivery.id)
            repository.make_due([d.id for d in deliveries if d.status == PENDING], repository.now())
        if not deliveries:
            console.print(f"{parent_id.upper()} has no deliveries (no rendered document, or no rule matches it).")
            return 0
    sent = failed = 0
    with _progress(console) as progress:
        task = progress.add_task("Delivering", total=None)
        while True:
            stats = deliver_due(database, settings, "cli")
            sent, failed = sent + stats.sent, failed + stats.failed
            progress.update(task, completed=sent + failed)
            if stats.claimed == 0 or stats.sent == 0:
                break
    console.print(f"{sent} delivered, {failed} failed attempt(s) (retried with back-off by the daemon).")
    _print_targets(database, settings, console)
    return 1 if failed else 0


def resend(database: Database, settings: Settings, ref: str, target: str | None, console: Console) -> int:
    """Deliver a parent's latest documents (or one delivery, by its number) again."""
    from billing.documents.delivery import resend as resend_output
    from billing.documents.delivery_repository import DeliveryRepository

    try:
        with database.session_scope() as session:
            if ref.isdigit():
                created = resend_output(session, settings.documents, delivery_id=int(ref), target=target)
            else:
                parent_type = parent_type_of(ref)
                if parent_type is None:
                    console.print(f"[red]{ref}: not a delivery number or a document's parent id.[/red]")
                    return 2
                latest: dict[str, int] = {}
                for _, output in DeliveryRepository(session).of_parent(parent_type, ref.upper()):
                    latest[output.kind] = max(latest.get(output.kind, 0), output.id)
                created = [
                    delivery_id
                    for output_id in latest.values()
                    for delivery_id in resend_output(session, settings.documents, output_id=output_id, target=target)
                ]
    except AppError as error:
        console.print(f"[red]{error.detail}[/red]")
        return 1
    console.print(f"{len(created)} new deliveries queued: {', '.join(map(str, created)) or '-'}.")
    return 0


def status(database: Database, settings: Settings, console: Console) -> int:
    """Delivery targets (paused?, failures, counts) and the render backlog; exit 1 when a target is paused."""
    from billing.documents.repository import DocumentRepository

    with database.read_scope() as session:
        backlog = DocumentRepository(session).backlog()
    paused = _print_targets(database, settings, console)
    console.print(f"Render backlog: {backlog} parent(s) due.")
    return 1 if paused else 0


def resume(database: Database, name: str, console: Console) -> int:
    from billing.documents.delivery import resume_target

    with database.session_scope() as session:
        resumed = resume_target(session, name)
    console.print(f"Target {name} resumed." if resumed else f"Target {name} was not paused.")
    return 0


def _print_targets(database: Database, settings: Settings, console: Console) -> int:
    from billing.documents.delivery import target_report

    with database.read_scope() as session:
        report = target_report(session, settings.documents)
    table = Table("target", "type", "state", "failures in a row", "pending", "sent", "failed", "last success")
    for row in report:
        state = f"[red]paused[/red] {row.pause_reason or ''}" if row.paused else "active"
        last = row.last_success_at.isoformat(timespec="seconds") if row.last_success_at else ""
        table.add_row(
            row.name,
            row.type or "(not configured)",
            state,
            str(row.consecutive_failures),
            str(row.pending),
            str(row.sent),
            str(row.failed),
            last,
        )
    console.print(table if report else "No delivery targets are configured (documents.targets).")
    return sum(row.paused for row in report)
