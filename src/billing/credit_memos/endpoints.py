"""Credit memo routes (billing-api.md §5.6): Client (own credit memos, read) and Operations."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from billing.api.body import JsonBodyDep
from billing.api.deps import CtxDep
from billing.api.routing import add
from billing.credit_memos.repository import LINE_LIST_SPEC, LIST_SPEC
from billing.credit_memos.schemas import LINE_VIEW, VIEW
from billing.credit_memos.service import CreditMemoService
from billing.posted_documents import endpoints as documents
from billing.posted_documents.kinds import CREDIT_MEMO

API = documents.DocumentApi(CREDIT_MEMO, "credit-memos", VIEW, LINE_VIEW, LIST_SPEC, LINE_LIST_SPEC, CreditMemoService)


def list_credit_memos(ctx: CtxDep) -> Response:
    return documents.list_documents(ctx, API)


def get_credit_memo(creditMemoId: str, ctx: CtxDep) -> Response:
    return documents.get_document(ctx, API, creditMemoId)


def create_credit_memo(ctx: CtxDep, body: JsonBodyDep) -> Response:
    return documents.create_document(ctx, API, body)


def update_credit_memo(creditMemoId: str, ctx: CtxDep, body: JsonBodyDep) -> Response:
    return documents.update_document(ctx, API, creditMemoId, body)


def list_credit_memo_lines(creditMemoId: str, ctx: CtxDep) -> Response:
    return documents.list_lines(ctx, API, creditMemoId)


def get_credit_memo_line(creditMemoId: str, lineId: str, ctx: CtxDep) -> Response:
    return documents.get_line(ctx, API, creditMemoId, lineId)


def register(router: APIRouter) -> None:
    add(router, "credit-memo.list", list_credit_memos)
    add(router, "credit-memo.create", create_credit_memo, status_code=201)
    add(router, "credit-memo.get", get_credit_memo)
    add(router, "credit-memo.update", update_credit_memo)
    add(router, "credit-memo.lines.list", list_credit_memo_lines)
    add(router, "credit-memo.lines.get", get_credit_memo_line)
