"""Statement routes (billing-api.md §5.4): Client (own statements, read) and Operations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session
from starlette.responses import Response

from billing.api.body import JsonBodyDep
from billing.api.deps import Ctx, CtxDep, path_id
from billing.api.routing import add
from billing.api.views import ResourceView, collection_response, item_response
from billing.charges import endpoints as charges
from billing.charges.render import ParentRefs
from billing.db.models import Journal, Statement
from billing.erp.repository import ATTEMPT_LIST_SPEC, AttemptRepository
from billing.erp.schemas import ATTEMPT_VIEW, render_attempt
from billing.erp.soap import gateway_for
from billing.errors import NotFound
from billing.journals.render import journal_ref
from billing.reference.refs import RefResolver
from billing.reference.repository import ReferenceRepository
from billing.statements.repository import LIST_SPEC, StatementRepository
from billing.statements.schemas import StatementUpdate
from billing.statements.service import StatementService

LABEL = "Statement"
STATEMENT_VIEW = ResourceView(
    fields=(
        "id",
        "name",
        "notes",
        "externalIds",
        "type",
        "billingType",
        "status",
        "journal",
        "ledger",
        "customLedger",
        "client",
        "vendor",
        "buyer",
        "seller",
        "licensee",
        "product",
        "agreement",
        "price",
        "processing",
        "error",
        "statusNotes",
        "invoice",
        "creditMemo",
        "audit",
    ),
    non_core=frozenset({"audit", "processing"}),
    visibility="statement",
    label=LABEL,
)


def render(statement: Statement, refs: RefResolver, journal: Journal | None) -> dict[str, Any]:
    return {
        "id": statement.id,
        "name": statement.name,
        "notes": statement.notes,
        "externalIds": {"erpId": statement.external_erp_id, "operations": statement.external_operations},
        "type": statement.type,
        "billingType": statement.billing_type,
        "status": statement.status,
        "journal": journal_ref(journal) if journal else None,
        "ledger": {"id": statement.ledger_id} if statement.ledger_id else None,
        "customLedger": {"id": statement.custom_ledger_id} if statement.custom_ledger_id else None,
        "client": refs.account(statement.client_id),
        "vendor": refs.account(statement.vendor_id),
        "buyer": refs.buyer(statement.buyer_id),
        "seller": refs.seller(statement.seller_id),
        "licensee": refs.licensee(statement.licensee_id),
        "product": refs.product(statement.product_id),
        "agreement": refs.agreement(statement.agreement_id),
        "price": {
            "currency": {"purchase": statement.currency_purchase, "sale": statement.currency_sale, "rate": 1},
            "totalPP": statement.total_pp,
            "totalSP": statement.total_sp,
            "totalST": statement.total_st,
            "totalGT": statement.total_gt,
            "markup": statement.markup,
            "margin": statement.margin,
        },
        "processing": statement.processing,
        "error": statement.error,
        "statusNotes": statement.status_notes,
        "invoice": {"id": statement.invoice_id} if statement.invoice_id else None,
        "creditMemo": {"id": statement.credit_memo_id} if statement.credit_memo_id else None,
        "audit": statement.audit,
    }


def _renderer(session: Session) -> Callable[[Statement], dict[str, Any]]:
    refs = RefResolver(ReferenceRepository(session))
    journals: dict[str, Journal | None] = {}

    def one(statement: Statement) -> dict[str, Any]:
        journal_id = statement.journal_id
        if journal_id and journal_id not in journals:
            journals[journal_id] = session.get(Journal, journal_id)
        return render(statement, refs, journals.get(journal_id) if journal_id else None)

    return one


def _get(ctx: Ctx, raw_id: str) -> Statement:
    statement_id = path_id(raw_id, LABEL)
    statement = StatementRepository(ctx.session).get(statement_id, ctx.principal, ctx.scope)
    if statement is None:
        raise NotFound.object(LABEL, statement_id)
    return statement


def _parents(statement: Statement, ctx: Ctx) -> ParentRefs:
    journal = ctx.session.get(Journal, statement.journal_id) if statement.journal_id else None

    def parents(kind: str, object_id: str | None) -> dict[str, Any] | None:
        if object_id is None:
            return None
        if kind == "journal" and journal is not None:
            return journal_ref(journal)
        return {"id": object_id}

    return parents


def list_statements(ctx: CtxDep) -> Response:
    stmt = StatementRepository(ctx.session).scoped(ctx.principal, ctx.scope)
    return collection_response(ctx, STATEMENT_VIEW, stmt, LIST_SPEC, _renderer)


def get_statement(statementId: str, ctx: CtxDep) -> Response:
    return item_response(ctx, STATEMENT_VIEW, _renderer(ctx.session)(_get(ctx, statementId)))


def list_statement_charges(statementId: str, ctx: CtxDep) -> Response:
    statement = _get(ctx, statementId)
    stmt = StatementRepository(ctx.session).charges(statement.id)
    return charges.list_charges(ctx, stmt, statement.id, _parents(statement, ctx))


def get_statement_charge(statementId: str, chargeId: str, ctx: CtxDep) -> Response:
    statement = _get(ctx, statementId)
    stmt = StatementRepository(ctx.session).charges(statement.id)
    return charges.get_charge(ctx, stmt, chargeId, _parents(statement, ctx))


def list_erp_attempts(statementId: str, ctx: CtxDep) -> Response:
    """The ERP calls and operator actions recorded for the statement, oldest first (erp-integration.md §3.6)."""
    statement = _get(ctx, statementId)
    stmt = AttemptRepository(ctx.session).of_statement(statement.id)
    return collection_response(ctx, ATTEMPT_VIEW, stmt, ATTEMPT_LIST_SPEC, lambda _session: render_attempt)


def _service(ctx: Ctx) -> StatementService:
    return StatementService(ctx.session, ctx.principal, ctx.scope)


def update_statement(statementId: str, ctx: CtxDep, body: JsonBodyDep) -> Response:
    service = _service(ctx)
    statement = service.get(_get(ctx, statementId).id, for_update=True)
    updated = service.update(statement, body.bind(StatementUpdate))
    return item_response(ctx, STATEMENT_VIEW, _renderer(ctx.session)(updated))


def _action(action: str) -> Callable[..., Response]:
    def act(statementId: str, ctx: CtxDep, body: JsonBodyDep) -> Response:
        statement_id = _get(ctx, statementId).id  # 404 before body checks (§2.5)
        statement = _service(ctx).act(statement_id, action, body.bind_optional(StatementUpdate))
        return item_response(ctx, STATEMENT_VIEW, _renderer(ctx.session)(statement))

    act.__name__ = f"{action}_statement"
    return act


def issue_statement(statementId: str, ctx: CtxDep, body: JsonBodyDep, verify: bool = True) -> Response:
    """Mark as sent: ``externalIds.erpId`` in the body or already set; ``?verify=false`` skips the ERP lookup."""
    statement_id = _get(ctx, statementId).id
    erp = ctx.settings.erp
    service = StatementService(
        ctx.session, ctx.principal, ctx.scope, gateway=(lambda: gateway_for(erp)) if erp.enabled else None
    )
    statement = service.act(statement_id, "issue", body.bind_optional(StatementUpdate), verify=verify)
    return item_response(ctx, STATEMENT_VIEW, _renderer(ctx.session)(statement))


def register(router: APIRouter) -> None:
    add(router, "statement.update", update_statement, request_model=StatementUpdate)
    add(router, "statement.issue", issue_statement, request_model=StatementUpdate)
    for action in ("queue", "pending", "error", "retry", "cancel", "recalculate"):
        add(router, f"statement.{action}", _action(action), request_model=StatementUpdate)
    add(router, "statement.list", list_statements)
    add(router, "statement.get", get_statement)
    add(router, "statement.charges.list", list_statement_charges)
    add(router, "statement.charges.get", get_statement_charge)
    add(router, "statement.erp-attempts", list_erp_attempts)
