"""Charge collections under any parent: paged JSON, JSONL export, streaming and CSV (§3.10, §3.12, §5.8)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from starlette.responses import Response, StreamingResponse

from billing.api.deps import Ctx, path_id
from billing.api.negotiation import collection_format
from billing.api.views import collection_response, item_response
from billing.charges.csvexport import csv_rows
from billing.charges.render import ChargeRenderer, ParentRefs
from billing.charges.repository import LIST_SPEC, ChargeRepository
from billing.db.query import ListSpec, count, filtered, stream_rows
from billing.errors import NotFound, PayloadTooLarge
from billing.journals.schemas import CHARGE_VIEW
from billing.kit.pagination import Page
from billing.reference.refs import RefResolver
from billing.reference.repository import ReferenceRepository

LABEL = "Charge"


def list_charges(ctx: Ctx, stmt: Select[Any], parent_id: str, parents: ParentRefs) -> Response:
    if collection_format(ctx.request, csv=True) == "csv":
        return _csv(ctx, stmt, parent_id)
    return collection_response(
        ctx,
        CHARGE_VIEW,
        stmt,
        LIST_SPEC,
        lambda session: ChargeRenderer(RefResolver(ReferenceRepository(session)), parents),
    )


def get_charge(ctx: Ctx, stmt: Select[Any], raw_id: str, parents: ParentRefs) -> Response:
    charge_id = path_id(raw_id, LABEL)
    charge = ChargeRepository(ctx.session).get_in(stmt, charge_id)
    if charge is None:
        raise NotFound.object(LABEL, charge_id)
    render = ChargeRenderer(RefResolver(ReferenceRepository(ctx.session)), parents)
    return item_response(ctx, CHARGE_VIEW, render(charge))


def _csv(ctx: Ctx, stmt: Select[Any], parent_id: str) -> Response:
    """All matching charges (limit, offset and select ignored), streamed from one snapshot."""
    spec = LIST_SPEC
    registry = CHARGE_VIEW.registry(ctx, spec.registry)
    ordered = filtered(stmt, ListSpec(registry, spec.default_order, spec.tiebreak), ctx.query)
    database = ctx.request.app.state.database
    scope = database.read_scope()
    session = scope.__enter__()
    try:
        total = count(session, ordered)
        if total > ctx.settings.api.export_max_records:
            raise PayloadTooLarge(
                f"The export has {total} records; the limit is {ctx.settings.api.export_max_records}."
            )
    except BaseException:
        scope.__exit__(None, None, None)
        raise
    export_refs = RefResolver(ReferenceRepository(session))

    def item_vendor_id(item_id: str | None) -> str | None:
        item = export_refs.item(item_id)
        return item["externalIds"]["vendor"] if item else None

    def body() -> Any:
        try:
            yield from csv_rows(stream_rows(session, ordered, Page(None, 0)), ctx.principal.role, item_vendor_id)
        finally:
            scope.__exit__(None, None, None)

    headers = {"Content-Disposition": f'attachment; filename="{parent_id}-charges.csv"'}
    return StreamingResponse(body(), media_type="text/csv", headers=headers)
