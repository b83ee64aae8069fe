"""Invoice routes (billing-api.md §5.5): Client (own invoices: read, PUT without effect) and Operations."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from billing.api.body import JsonBodyDep
from billing.api.deps import CtxDep
from billing.api.routing import add
from billing.invoices.repository import LINE_LIST_SPEC, LIST_SPEC
from billing.invoices.schemas import LINE_VIEW, VIEW
from billing.invoices.service import InvoiceService
from billing.posted_documents import endpoints as documents
from billing.posted_documents.kinds import INVOICE

API = documents.DocumentApi(INVOICE, "invoices", VIEW, LINE_VIEW, LIST_SPEC, LINE_LIST_SPEC, InvoiceService)


def list_invoices(ctx: CtxDep) -> Response:
    return documents.list_documents(ctx, API)


def get_invoice(invoiceId: str, ctx: CtxDep) -> Response:
    return documents.get_document(ctx, API, invoiceId)


def create_invoice(ctx: CtxDep, body: JsonBodyDep) -> Response:
    return documents.create_document(ctx, API, body)


def update_invoice(invoiceId: str, ctx: CtxDep, body: JsonBodyDep) -> Response:
    return documents.update_document(ctx, API, invoiceId, body)


def list_invoice_lines(invoiceId: str, ctx: CtxDep) -> Response:
    return documents.list_lines(ctx, API, invoiceId)


def get_invoice_line(invoiceId: str, lineId: str, ctx: CtxDep) -> Response:
    return documents.get_line(ctx, API, invoiceId, lineId)


def register(router: APIRouter) -> None:
    add(router, "invoice.list", list_invoices)
    add(router, "invoice.create", create_invoice, status_code=201)
    add(router, "invoice.get", get_invoice)
    add(router, "invoice.update", update_invoice)
    add(router, "invoice.lines.list", list_invoice_lines)
    add(router, "invoice.lines.get", get_invoice_line)
