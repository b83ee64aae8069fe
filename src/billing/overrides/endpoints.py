"""Manual override routes (Operations only), also served under ``/overrides``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session
from starlette.responses import Response

from billing.api.body import JsonBodyDep
from billing.api.deps import CtxDep, path_id
from billing.api.routing import add
from billing.api.views import collection_response, item_response
from billing.db.models import ManualOverride
from billing.overrides.repository import LIST_SPEC, OverrideRepository
from billing.overrides.schemas import OVERRIDE_VIEW, OverrideCreate, OverrideUpdate
from billing.overrides.service import LABEL, OverrideService
from billing.reference.refs import RefResolver
from billing.reference.repository import ReferenceRepository


def render(override: ManualOverride, refs: RefResolver) -> dict[str, Any]:
    return {
        "id": override.id,
        "name": override.name,
        "client": refs.account(override.client_id),
        "vendor": refs.account(override.vendor_id),
        "status": override.status,
        "externalId": override.external_id,
        "notes": override.notes,
        "audit": override.audit,
    }


def _item(ctx: CtxDep, override: ManualOverride, **kwargs: Any) -> Response:
    refs = RefResolver(ReferenceRepository(ctx.session))
    return item_response(ctx, OVERRIDE_VIEW, render(override, refs), **kwargs)


def list_overrides(ctx: CtxDep) -> Response:
    stmt = OverrideRepository(ctx.session).list_statement()
    return collection_response(ctx, OVERRIDE_VIEW, stmt, LIST_SPEC, _renderer)


def _renderer(session: Session) -> Callable[[ManualOverride], dict[str, Any]]:
    refs = RefResolver(ReferenceRepository(session))
    return lambda row: render(row, refs)


def get_override(overrideId: str, ctx: CtxDep) -> Response:
    return _item(ctx, OverrideService(ctx.session, ctx.principal).get(path_id(overrideId, LABEL)))


def create_override(ctx: CtxDep, body: JsonBodyDep) -> Response:
    override = OverrideService(ctx.session, ctx.principal).create(body.bind(OverrideCreate))
    return _item(ctx, override, status_code=201, location=f"/public/v1/billing/manual-overrides/{override.id}")


def update_override(overrideId: str, ctx: CtxDep, body: JsonBodyDep) -> Response:
    service = OverrideService(ctx.session, ctx.principal)
    override = service.get(path_id(overrideId, LABEL), for_update=True)
    return _item(ctx, service.update(override, body.bind(OverrideUpdate)))


def disable_override(overrideId: str, ctx: CtxDep, body: JsonBodyDep) -> Response:
    return _act(overrideId, "disable", ctx, body)


def enable_override(overrideId: str, ctx: CtxDep, body: JsonBodyDep) -> Response:
    return _act(overrideId, "enable", ctx, body)


def _act(override_id: str, action: str, ctx: CtxDep, body: JsonBodyDep) -> Response:
    service = OverrideService(ctx.session, ctx.principal)
    override_id = path_id(override_id, LABEL)
    service.get(override_id)  # 404 before body checks (§2.5)
    return _item(ctx, service.act(override_id, action, body.bind_optional(OverrideUpdate)))


def register(router: APIRouter) -> None:
    add(router, "override.list", list_overrides)
    add(router, "override.get", get_override)
    add(router, "override.create", create_override, status_code=201, request_model=OverrideCreate)
    add(router, "override.update", update_override, request_model=OverrideUpdate)
    add(router, "override.disable", disable_override, request_model=OverrideUpdate)
    add(router, "override.enable", enable_override, request_model=OverrideUpdate)
