"""``billing ledgers accept|queue ID`` and ``billing statements list --filter RQL`` (as Operations)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from billing.auth.capabilities import Scope
from billing.auth.principal import Principal, Role
from billing.db.engine import Database
from billing.db.query import filtered, page_of
from billing.errors import AppError
from billing.kit.money import format_decimal
from billing.kit.pagination import parse_page
from billing.kit.rql import parse_query_string
from billing.ledgers.service import LedgerService
from billing.statements.repository import LIST_SPEC, StatementRepository

CLI_ACTOR = {"id": "USR-0000-0000", "name": "billing CLI", "icon": ""}


def operations() -> Principal:
    return Principal("ACC-0000-0000", Role.OPERATIONS, dict(CLI_ACTOR))


def ledger_action(database: Database, action: str, ledger_id: str, console: Console) -> int:
    try:
        with database.session_scope() as session:
            service = LedgerService(session, operations())
            ledger = service.accept(ledger_id.upper()) if action == "accept" else service.queue(ledger_id.upper())
            status = ledger.status
    except AppError as error:
        console.print(f"[red]{error.detail}[/red]")
        return 1
    console.print(f"Ledger {ledger_id.upper()} is {status}.")
    return 0


def list_statements(database: Database, rql: str | None, limit: int, console: Console) -> int:
    query = parse_query_string(rql or "")
    try:
        with database.read_scope() as session:
            stmt = filtered(StatementRepository(session).scoped(operations(), Scope.ALL), LIST_SPEC, query)
            rows, total = page_of(session, stmt, parse_page(str(limit), None))
            table = Table("id", "status", "type", "agreement", "client", "currency", "total SP", "ERP id")
            for row in rows:
                table.add_row(
                    row.id,
                    row.status,
                    row.type,
                    row.agreement_id,
                    row.client_id,
                    row.currency_sale,
                    format_decimal(row.total_sp),
                    row.external_erp_id or "",
                )
    except AppError as error:
        console.print(f"[red]{error.detail}[/red]")
        return 2
    console.print(table)
    console.print(f"{len(rows)} of {total} statements.")
    return 0
