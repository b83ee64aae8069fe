"""``GET /reports/reconciliation`` (service extension, Operations only): statements against posted ERP documents."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from billing.api.deps import CtxDep
from billing.api.negotiation import require_json
from billing.api.routing import add
from billing.kit.jsonout import JsonResponse
from billing.reports.schemas import ReconciliationQuery, report_document
from billing.reports.service import ReconciliationService

_PARAMETERS = [
    {
        "name": "from",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "format": "date-time"},
        "description": "Start (inclusive) of the period: statements by queuedAt (else createdAt), unlinked documents "
        "by postingDate (else createdAt). ISO 8601 date or date-time.",
    },
    {
        "name": "to",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "format": "date-time"},
        "description": "End (exclusive) of the period; a plain date includes that whole day.",
    },
    {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 0, "maximum": 1000, "default": 100},
        "description": "Rows listed per section (the summary counts them all).",
    },
]


def reconciliation_report(ctx: CtxDep) -> Response:
    require_json(ctx.request)
    query = ReconciliationQuery.parse(ctx.request.query_params.multi_items())
    alert = ctx.settings.erp.pull.unposted_alert
    report = ReconciliationService(ctx.session).reconcile(query.period, query.limit, alert)
    return JsonResponse(report_document(report))


def register(router: APIRouter) -> None:
    add(
        router,
        "report.reconciliation",
        reconciliation_report,
        summary="Reconciliation of statements with posted ERP documents",
        openapi_extra={"parameters": _PARAMETERS},
    )
