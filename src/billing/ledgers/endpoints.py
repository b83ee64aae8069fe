"""Ledger routes (Operations only). This release serves list, get and charges; the actions arrive with statements."""

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
from billing.db.models import Journal, Ledger
from billing.errors import NotFound
from billing.journals.render import journal_ref
from billing.ledgers.repository import LIST_SPEC, LedgerRepository
from billing.ledgers.schemas import LedgerUpdate
from billing.ledgers.service import LedgerService
from billing.reference.refs import RefResolver
from billing.reference.repository import ReferenceRepository

LABEL = "Ledger"
LEDGER_VIEW = ResourceView(
    fields=(
        "id",
        "name",
        "notes",
        "journal",
        "status",
        "authorization",
        "owner",
        "seller",
        "product",
        "vendor",
        "assignee",
        "price",
        "processing",
        "error",
        "audit",
    ),
    non_core=frozenset({"audit", "processing"}),
    label=LABEL,
)


def render(ledger: Ledger, journal: Journal | None, refs: RefResolver) -> dict[str, Any]:
    return {
        "id": ledger.id,
        "name": ledger.name,
        "notes": ledger.notes,
        "journal": journal_ref(journal) if journal else {"id": ledger.journal_id},
        "status": ledger.status,
        "authorization": refs.authorization(ledger.authorization_id),
        "owner": refs.seller(ledger.owner_id),
        "seller": refs.seller(ledger.seller_id),
        "product": refs.product(ledger.product_id),
        "vendor": refs.account(ledger.vendor_id),
        "assignee": refs.user(ledger.assignee["id"]) if ledger.assignee else None,
        "price": {
            "currency": ledger.currency,
            "totalPP": ledger.total_pp,
            "totalSP": ledger.total_sp,
            "markup": ledger.markup,
            "margin": ledger.margin,
        },
        "processing": ledger.processing,
        "error": ledger.error,
        "audit": ledger.audit,
    }


def _renderer(session: Session) -> Callable[[Ledger], dict[str, Any]]:
    refs = RefResolver(ReferenceRepository(session))
    journals: dict[str, Journal | None] = {}

    def one(ledger: Ledger) -> dict[str, Any]:
        if ledger.journal_id not in journals:
            journals[ledger.journal_id] = session.get(Journal, ledger.journal_id)
        return render(ledger, journals[ledger.journal_id], refs)

    return one


def _get(ctx: Ctx, raw_id: str) -> Ledger:
    ledger_id = path_id(raw_id, LABEL)
    ledger = LedgerRepository(ctx.session).get(ledger_id)
    if ledger is None:
        raise NotFound.object(LABEL, ledger_id)
    return ledger


def _parents(ctx: Ctx, ledger: Ledger) -> ParentRefs:
    journal = ctx.session.get(Journal, ledger.journal_id)

    def parents(kind: str, object_id: str | None) -> dict[str, Any] | None:
        if object_id is None:
            return None
        if kind == "journal" and journal is not None and object_id == journal.id:
            return journal_ref(journal)
        if kind == "ledger" and object_id == ledger.id:
            return {"id": ledger.id, "name": ledger.name}
        return {"id": object_id}

    return parents


def list_ledgers(ctx: CtxDep) -> Response:
    return collection_response(ctx, LEDGER_VIEW, LedgerRepository(ctx.session).list_statement(), LIST_SPEC, _renderer)


def get_ledger(ledgerId: str, ctx: CtxDep) -> Response:
    return item_response(ctx, LEDGER_VIEW, _renderer(ctx.session)(_get(ctx, ledgerId)))


def list_ledger_charges(ledgerId: str, ctx: CtxDep) -> Response:
    ledger = _get(ctx, ledgerId)
    return charges.list_charges(ctx, LedgerRepository(ctx.session).charges(ledger.id), ledger.id, _parents(ctx, ledger))


def get_ledger_charge(ledgerId: str, chargeId: str, ctx: CtxDep) -> Response:
    ledger = _get(ctx, ledgerId)
    return charges.get_charge(ctx, LedgerRepository(ctx.session).charges(ledger.id), chargeId, _parents(ctx, ledger))


def accept_ledger(ledgerId: str, ctx: CtxDep) -> Response:
    ledger = LedgerService(ctx.session, ctx.principal).accept(_get(ctx, ledgerId).id)
    ctx.wake_worker_after_commit()
    return item_response(ctx, LEDGER_VIEW, _renderer(ctx.session)(ledger))


def update_ledger(ledgerId: str, ctx: CtxDep, body: JsonBodyDep) -> Response:
    service = LedgerService(ctx.session, ctx.principal)
    ledger = service.update(service.get(_get(ctx, ledgerId).id, for_update=True), body.bind(LedgerUpdate))
    return item_response(ctx, LEDGER_VIEW, _renderer(ctx.session)(ledger))


def recalculate_ledger(ledgerId: str, ctx: CtxDep) -> Response:
    ledger = LedgerService(ctx.session, ctx.principal).recalculate(_get(ctx, ledgerId).id)
    ctx.wake_worker_after_commit()
    return item_response(ctx, LEDGER_VIEW, _renderer(ctx.session)(ledger))


def queue_ledger(ledgerId: str, ctx: CtxDep) -> Response:
    ledger = LedgerService(ctx.session, ctx.principal).queue(_get(ctx, ledgerId).id)
    return item_response(ctx, LEDGER_VIEW, _renderer(ctx.session)(ledger))


def register(router: APIRouter) -> None:
    add(router, "ledger.update", update_ledger, request_model=LedgerUpdate)
    add(router, "ledger.recalculate", recalculate_ledger)
    add(router, "ledger.accept", accept_ledger)
    add(router, "ledger.queue", queue_ledger)
    add(router, "ledger.list", list_ledgers)
    add(router, "ledger.get", get_ledger)
    add(router, "ledger.charges.list", list_ledger_charges)
    add(router, "ledger.charges.get", get_ledger_charge)
