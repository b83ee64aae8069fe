"""Reference data routes (service extension, billing-api.md §11; Operations only)."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from billing.api.body import JsonBodyDep, RawBody, read_capped
from billing.api.deps import CtxDep, path_id
from billing.api.negotiation import require_json
from billing.api.routing import add
from billing.api.views import ResourceView, collection_response, item_response, no_content
from billing.db.models import ReferenceObject
from billing.errors import NotFound, UnsupportedMediaType, ValidationFailed
from billing.kit.binding import parse_json
from billing.kit.jsonout import JsonResponse
from billing.reference.entities import ENTITIES
from billing.reference.repository import ReferenceRepository, list_spec
from billing.reference.service import Mode, ReferenceService

YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
SECRET_FIELDS = ("secret", "secretSha256")


@cache
def view_of(entity: str) -> ResourceView:
    label = ENTITIES[entity].label.capitalize()
    return ResourceView(fields=(*ENTITIES[entity].fields, "audit"), non_core=frozenset({"audit"}), label=label)


def entity_of(raw: str) -> str:
    if raw not in ENTITIES:
        raise NotFound(f"Reference entity '{raw}' does not exist; expected one of {', '.join(ENTITIES)}.")
    return raw


def render(row: ReferenceObject) -> dict[str, Any]:
    doc = {key: value for key, value in row.doc.items() if key not in SECRET_FIELDS}
    return {**doc, "audit": row.audit}


async def import_body(request: Request) -> RawBody:
    return await read_capped(request, request.app.state.settings.api.max_charge_file_bytes)


def parse_document(body: RawBody) -> Any:
    """JSON or YAML by ``Content-Type`` (§11.1)."""
    if body.media_type in YAML_TYPES:
        body.check_size()
        try:
            return yaml.load(body.content, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as exc:
            raise ValidationFailed({"body": [f"The request body is not valid YAML: {exc}."]}) from None
    if body.media_type in ("application/json", "text/json"):
        body.check_size()
        return parse_json(body.content)
    raise UnsupportedMediaType(f"Reference data is JSON or YAML, not '{body.content_type or 'none'}'.")


def import_reference(ctx: CtxDep, body: Annotated[RawBody, Depends(import_body)], mode: str = "merge") -> Response:
    require_json(ctx.request)
    if mode not in ("merge", "replace"):
        raise ValidationFailed({"mode": [f"'mode' must be merge or replace, not '{mode}'."]}, "The query is invalid.")
    chosen: Mode = "merge" if mode == "merge" else "replace"
    return JsonResponse(ReferenceService(ctx.session, ctx.principal).import_document(parse_document(body), chosen))


def export_reference(ctx: CtxDep) -> Response:
    require_json(ctx.request)
    return JsonResponse(ReferenceService(ctx.session, ctx.principal).export())


def list_entity(entity: str, ctx: CtxDep) -> Response:
    entity = entity_of(entity)
    stmt = ReferenceRepository(ctx.session).list_statement(entity)
    return collection_response(ctx, view_of(entity), stmt, list_spec(entity), lambda _session: render)


def get_entity(entity: str, referenceId: str, ctx: CtxDep) -> Response:
    entity = entity_of(entity)
    row = ReferenceService(ctx.session, ctx.principal).get(entity, path_id(referenceId, view_of(entity).label))
    return item_response(ctx, view_of(entity), render(row))


def create_entity(entity: str, ctx: CtxDep, body: JsonBodyDep) -> Response:
    entity = entity_of(entity)
    row = ReferenceService(ctx.session, ctx.principal).create(entity, body.json())
    location = f"/public/v1/billing/reference/{entity}/{row.id}"
    return item_response(ctx, view_of(entity), render(row), status_code=201, location=location)


def update_entity(entity: str, referenceId: str, ctx: CtxDep, body: JsonBodyDep) -> Response:
    entity = entity_of(entity)
    service = ReferenceService(ctx.session, ctx.principal)
    object_id = path_id(referenceId, view_of(entity).label)
    service.get(entity, object_id)
    return item_response(ctx, view_of(entity), render(service.update(entity, object_id, body.json())))


def delete_entity(entity: str, referenceId: str, ctx: CtxDep) -> Response:
    entity = entity_of(entity)
    ReferenceService(ctx.session, ctx.principal).delete(entity, path_id(referenceId, view_of(entity).label))
    return no_content()


def register(router: APIRouter) -> None:
    add(router, "reference.import", import_reference)
    add(router, "reference.export", export_reference)
    add(router, "reference.list", list_entity)
    add(router, "reference.create", create_entity, status_code=201)
    add(router, "reference.get", get_entity)
    add(router, "reference.update", update_entity)
    add(router, "reference.delete", delete_entity, status_code=204)
