"""Custom ledger routes (billing-api.md §5.3): Operations only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session
from starlette.responses import Response

from billing.api.body import JsonBodyDep
from billing.api.deps import Ctx, CtxDep, path_id
from billing.api.routing import BASE_PATH, add
from billing.api.views import collection_response, item_response, no_content
from billing.attachments.storage import AttachmentStorage
from billing.charges import endpoints as charges
from billing.charges.render import ParentRefs
from billing.custom_ledgers.lifecycle import LABEL
from billing.custom_ledgers.repository import LIST_SPEC, CustomLedgerRepository
from billing.custom_ledgers.schemas import CUSTOM_LEDGER_VIEW, CustomLedgerCreate, CustomLedgerUpdate
from billing.custom_ledgers.service import CustomLedgerService
from billing.db.models import CustomLedger
from billing.errors import UnsupportedMediaType
from billing.journals.endpoints import ChargeFileDep, charge_file
from billing.reference.refs import RefResolver
from billing.reference.repository import ReferenceRepository


def render(ledger: CustomLedger, refs: RefResolver) -> dict[str, Any]:
    return {
        "id": ledger.id,
        "name": ledger.name,
        "description": ledger.description,
        "notes": ledger.notes,
        "externalIds": {"vendor": ledger.external_vendor, "operations": ledger.external_operations},
        "seller": refs.seller(ledger.seller_id),
        "vendor": refs.account(ledger.vendor_id),
        "billingStartDate": ledger.billing_start_date,
        "billingEndDate": ledger.billing_end_date,
        "status": ledger.status,
        "assignee": refs.user(ledger.assignee["id"]) if ledger.assignee else None,
        "price": {
            "currency": {"purchase": ledger.currency_purchase, "sale": ledger.currency_sale, "rate": 1},
            "totalPP": ledger.total_pp,
            "totalSP": ledger.total_sp,
            "markup": ledger.markup,
            "margin": ledger.margin,
        },
        "upload": {
            "total": ledger.upload_total,
            "ready": ledger.upload_ready,
            "split": 0,
            "skipped": 0,
            "error": ledger.upload_error,
        },
        "processing": ledger.processing,
        "error": ledger.error,
        "audit": ledger.audit,
    }


def _renderer(session: Session) -> Callable[[CustomLedger], dict[str, Any]]:
    refs = RefResolver(ReferenceRepository(session))
    return lambda ledger: render(ledger, refs)


def _service(ctx: Ctx) -> CustomLedgerService:
    return CustomLedgerService(ctx.session, ctx.principal)


def _item(ctx: Ctx, ledger: CustomLedger, **kwargs: Any) -> Response:
    return item_response(ctx, CUSTOM_LEDGER_VIEW, _renderer(ctx.session)(ledger), **kwargs)


def _get(ctx: Ctx, raw_id: str, *, for_update: bool = False) -> CustomLedger:
    return _service(ctx).get(path_id(raw_id, LABEL), for_update=for_update)


def list_custom_ledgers(ctx: CtxDep) -> Response:
    stmt = CustomLedgerRepository(ctx.session).list_statement()
    return collection_response(ctx, CUSTOM_LEDGER_VIEW, stmt, LIST_SPEC, _renderer)


def get_custom_ledger(customLedgerId: str, ctx: CtxDep) -> Response:
    return _item(ctx, _get(ctx, customLedgerId))


def create_custom_ledger(ctx: CtxDep, body: JsonBodyDep) -> Response:
    ledger = _service(ctx).create(body.bind(CustomLedgerCreate))
    return _item(ctx, ledger, status_code=201, location=f"{BASE_PATH}/custom-ledgers/{ledger.id}")


def update_custom_ledger(customLedgerId: str, ctx: CtxDep, body: JsonBodyDep) -> Response:
    ledger = _get(ctx, customLedgerId, for_update=True)
    return _item(ctx, _service(ctx).update(ledger, body.bind(CustomLedgerUpdate)))


def delete_custom_ledger(customLedgerId: str, ctx: CtxDep) -> Response:
    _service(ctx).delete(_get(ctx, customLedgerId).id)
    return no_content()


def upload_custom_ledger(customLedgerId: str, ctx: CtxDep, form: ChargeFileDep) -> Response:
    """Multipart part ``file``: an XLSX workbook only (§8.7); anything else is 415."""
    ledger_id = _get(ctx, customLedgerId).id  # 404 first (§2.5)
    file, file_format = charge_file(ctx, form)
    limit = ctx.settings.api.max_charge_file_bytes
    if file_format != "xlsx":
        raise UnsupportedMediaType("A custom ledger file must be an XLSX workbook (§8.7).")
    ledger = _service(ctx).upload(
        ledger_id,
        stream=file.file,
        filename=file.filename,
        limit=limit,
        storage=AttachmentStorage.from_settings(ctx.settings),
    )
    ctx.wake_worker_after_commit()
    return _item(ctx, ledger)


def accept_custom_ledger(customLedgerId: str, ctx: CtxDep) -> Response:
    ledger = _service(ctx).accept(_get(ctx, customLedgerId).id)
    ctx.wake_worker_after_commit()
    return _item(ctx, ledger)


def queue_custom_ledger(customLedgerId: str, ctx: CtxDep) -> Response:
    return _item(ctx, _service(ctx).queue(_get(ctx, customLedgerId).id))


def _parents(ledger: CustomLedger) -> ParentRefs:
    def parents(kind: str, object_id: str | None) -> dict[str, Any] | None:
        if object_id is None:
            return None
        if kind == "custom_ledger" and object_id == ledger.id:
            return {"id": ledger.id, "name": ledger.name}
        return {"id": object_id}

    return parents


def list_custom_ledger_charges(customLedgerId: str, ctx: CtxDep) -> Response:
    ledger = _get(ctx, customLedgerId)
    stmt = CustomLedgerRepository(ctx.session).charges(ledger.id)
    return charges.list_charges(ctx, stmt, ledger.id, _parents(ledger))


def get_custom_ledger_charge(customLedgerId: str, chargeId: str, ctx: CtxDep) -> Response:
    ledger = _get(ctx, customLedgerId)
    stmt = CustomLedgerRepository(ctx.session).charges(ledger.id)
    return charges.get_charge(ctx, stmt, chargeId, _parents(ledger))


def register(router: APIRouter) -> None:
    add(router, "custom-ledger.list", list_custom_ledgers)
    add(router, "custom-ledger.get", get_custom_ledger)
    add(router, "custom-ledger.create", create_custom_ledger, status_code=201, request_model=CustomLedgerCreate)
    add(router, "custom-ledger.update", update_custom_ledger, request_model=CustomLedgerUpdate)
    add(router, "custom-ledger.delete", delete_custom_ledger, status_code=204)
    add(router, "custom-ledger.upload", upload_custom_ledger)
    add(router, "custom-ledger.accept", accept_custom_ledger)
    add(router, "custom-ledger.queue", queue_custom_ledger)
    add(router, "custom-ledger.charges.list", list_custom_ledger_charges)
    add(router, "custom-ledger.charges.get", get_custom_ledger_charge)
