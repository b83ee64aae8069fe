"""Route bodies shared by ``/invoices`` and ``/credit-memos`` (billing-api.md §5.5, §5.6); each domain's
``endpoints.py`` declares its routes and path parameters and calls these with its `DocumentApi`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Row
from sqlalchemy.orm import Session
from starlette.responses import Response

from billing.api.body import RawBody
from billing.api.deps import Ctx, path_id
from billing.api.routing import BASE_PATH
from billing.api.views import ResourceView, collection_response, item_response
from billing.auth.capabilities import Scope
from billing.auth.principal import Principal
from billing.db.query import ListSpec
from billing.errors import NotFound
from billing.posted_documents.kinds import DocKind
from billing.posted_documents.repository import PostedDocumentRepository, decoded_row
from billing.posted_documents.representation import render, render_line
from billing.posted_documents.service import PostedDocumentService
from billing.reference.refs import RefResolver
from billing.reference.repository import ReferenceRepository


@dataclass(frozen=True)
class DocumentApi:
    kind: DocKind
    segment: str  # "invoices"
    view: ResourceView
    line_view: ResourceView
    list_spec: ListSpec
    line_spec: ListSpec
    service: Callable[[Session, Principal, Scope], PostedDocumentService]


class _PageRenderer:
    """Documents with their lines and references. A page's (or export batch's) lines and reference objects are
    read in one query each by `prefetch`; a document rendered on its own reads them on first use.

    List rows and their lines come with their JSON documents as stored text (`stored_text_columns`), decoded only
    when rendered; `cache_key` digests everything a prefetched row's representation is made of, so that a list page
    can reuse the item it encoded for the same inputs (`billing.api.views.ITEMS`)."""

    REFERENCES = (
        ("accounts", "client_id"),
        ("accounts", "vendor_id"),
        ("buyers", "buyer_id"),
        ("sellers", "seller_id"),
        ("licensees", "licensee_id"),
        ("products", "product_id"),
        ("agreements", "agreement_id"),
    )

    def __init__(self, kind: DocKind, session: Session) -> None:
        self.kind = kind
        self.refs = RefResolver(ReferenceRepository(session))
        self.repository = PostedDocumentRepository(session)
        self.lines: dict[str, list[Any]] = {}

    def prefetch(self, documents: Sequence[Any]) -> None:
        self.lines.update(self.repository.lines_of_many(self.kind, [document.id for document in documents]))
        self.refs.prefetch_many(
            (entity, getattr(document, column)) for document in documents for entity, column in self.REFERENCES
        )

    def cache_key(self, document: Any) -> bytes | None:
        """A digest of the prefetched row as read, its lines and the reference objects it quotes (stored texts),
        None when something was not prefetched. Equal digests mean equal inputs, hence an equal representation."""
        lines = self.lines.get(document.id)
        if lines is None or not isinstance(document, Row):
            return None
        references = []
        for entity, column in self.REFERENCES:
            object_id = getattr(document, column)
            try:
                references.append(self.refs.stored_text(entity, object_id) if object_id else None)
            except KeyError:
                return None
        inputs = [self.kind.doc_type, tuple(document), [tuple(line) for line in lines], references]
        return hashlib.blake2b(orjson.dumps(inputs, default=str), digest_size=20).digest()

    def __call__(self, document: Any) -> dict[str, Any]:
        if document.id not in self.lines:
            self.lines.update(self.repository.lines_of_many(self.kind, [document.id]))
        lines = [decoded_row(self.kind.line_model, line) for line in self.lines.pop(document.id)]
        if isinstance(document, Row):
            document = decoded_row(self.kind.model, document)
        return render(self.kind, document, lines, self.refs)


def _renderer(api: DocumentApi) -> Callable[[Session], Callable[[Any], dict[str, Any]]]:
    return lambda session: _PageRenderer(api.kind, session)


def _service(ctx: Ctx, api: DocumentApi) -> PostedDocumentService:
    return api.service(ctx.session, ctx.principal, ctx.scope)


def _item(ctx: Ctx, api: DocumentApi, document: Any, **kwargs: Any) -> Response:
    return item_response(ctx, api.view, _renderer(api)(ctx.session)(document), **kwargs)


def _get(ctx: Ctx, api: DocumentApi, raw_id: str, *, for_update: bool = False) -> Any:
    return _service(ctx, api).get(path_id(raw_id, api.kind.label), for_update=for_update)


def list_documents(ctx: Ctx, api: DocumentApi) -> Response:
    stmt = PostedDocumentRepository(ctx.session).scoped_rows(api.kind, ctx.principal, ctx.scope)
    return collection_response(ctx, api.view, stmt, api.list_spec, _renderer(api))


def get_document(ctx: Ctx, api: DocumentApi, raw_id: str) -> Response:
    return _item(ctx, api, _get(ctx, api, raw_id))


def create_document(ctx: Ctx, api: DocumentApi, body: RawBody) -> Response:
    document = _service(ctx, api).create(body.json())
    return _item(ctx, api, document, status_code=201, location=f"{BASE_PATH}/{api.segment}/{document.id}")


def update_document(ctx: Ctx, api: DocumentApi, raw_id: str, body: RawBody) -> Response:
    document = _get(ctx, api, raw_id, for_update=True)
    return _item(ctx, api, _service(ctx, api).update(document, body.json()))


def _line_renderer(api: DocumentApi, document_id: str) -> Callable[[Session], Callable[[Any], dict[str, Any]]]:
    def factory(_session: Session) -> Callable[[Any], dict[str, Any]]:
        def one(line: Any) -> dict[str, Any]:
            item = render_line(api.kind, line)
            return {"id": item.pop("id"), api.kind.parent_ref: {"id": document_id}, **item}

        return one

    return factory


def list_lines(ctx: Ctx, api: DocumentApi, raw_id: str) -> Response:
    document = _get(ctx, api, raw_id)
    stmt = PostedDocumentRepository(ctx.session).lines_statement(api.kind, document.id)
    return collection_response(ctx, api.line_view, stmt, api.line_spec, _line_renderer(api, document.id))


def get_line(ctx: Ctx, api: DocumentApi, raw_id: str, raw_line_id: str) -> Response:
    document = _get(ctx, api, raw_id)
    line_id = path_id(raw_line_id, api.kind.line_label)
    line = next((line for line in _service(ctx, api).lines(document) if line.id == line_id), None)
    if line is None:
        raise NotFound.object(api.kind.line_label, line_id)
    return item_response(ctx, api.line_view, _line_renderer(api, document.id)(ctx.session)(line))
