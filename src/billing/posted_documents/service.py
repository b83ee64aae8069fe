"""Rules of the invoice and credit memo API (billing-api.md §5.5, §5.6, §10.3), shared by both resources.

Reads are scoped (a client sees its own documents). ``POST`` runs the ERP pull's upsert for one document given
as its representation; ``PUT`` merges ``erpData`` and ``price``, replaces ``lines`` (ids kept per ``lineNo``) and
recomputes the status from the written balance. A client's ``PUT`` on an invoice changes nothing (§5.5).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from billing.auth.capabilities import Scope
from billing.auth.principal import Principal, Role
from billing.errors import Conflict, NotFound, ValidationFailed
from billing.kit.audit import with_events
from billing.kit.timeutil import utcnow
from billing.posted_documents.kinds import DocKind
from billing.posted_documents.lifecycle import evaluate
from billing.posted_documents.repository import PostedDocumentRepository
from billing.posted_documents.representation import (
    bind_shape,
    document_shape,
    merge,
    stored_representation,
    to_data,
)
from billing.posted_documents.upsert import content_differs, statement_totals, upsert_posted, write_content
from billing.reference.repository import ReferenceRepository


class PostedDocumentService:
    def __init__(self, session: Session, principal: Principal, scope: Scope, kind: DocKind) -> None:
        self.session = session
        self.principal = principal
        self.scope = scope
        self.kind = kind
        self.documents = PostedDocumentRepository(session)

    def get(self, document_id: str, *, for_update: bool = False) -> Any:
        document = self.documents.get(self.kind, document_id, self.principal, self.scope, for_update=for_update)
        if document is None:
            raise NotFound.object(self.kind.label, document_id)
        return document

    def lines(self, document: Any) -> list[Any]:
        return self.documents.lines(self.kind, document.id)

    def create(self, body: Any) -> Any:
        """§10.3: the representation without id, status and audit; ``erpData.documentNo`` and ``seller.id``
        required; 409 when a document with that number exists."""
        bound = bind_shape(document_shape(self.kind), body)
        seller_id = ((bound.get("seller") or {}).get("id") or "").strip().upper()
        if not seller_id:
            raise ValidationFailed.one("seller.id", "The property is required.")
        seller = ReferenceRepository(self.session).get_doc("sellers", seller_id)
        if seller is None:
            raise ValidationFailed.one("seller.id", f"Seller '{seller_id}' was not found.")
        currency = ((bound.get("price") or {}).get("currency") or "").strip().upper()
        currency = currency or next(iter(seller.get("currencies") or ()), "")
        if len(currency) != 3:
            raise ValidationFailed.one("price.currency", "The value must be a 3-letter ISO 4217 currency code.")
        data = to_data(self.kind, bound, currency=currency, seller_id=seller_id)
        existing = self.documents.by_document_no(self.kind, data.document_no)
        if existing is not None:
            raise Conflict(
                f"{self.kind.label} {data.document_no} already exists ({existing.id}).", path="erpData.documentNo"
            )
        result = upsert_posted(self.session, data, import_unlinked=True, now=utcnow(), actor=self.principal.actor)
        assert result.document_id is not None
        return self.get(result.document_id)

    def update(self, document: Any, body: Any) -> Any:
        """Operations: merge and replace as §5.5 says, status recomputed; clients: the document unchanged."""
        if self.principal.role is not Role.OPERATIONS:
            return document
        shape = {
            name: member for name, member in document_shape(self.kind).items() if name in ("erpData", "price", "lines")
        }
        patch = bind_shape(shape, body)
        erp_patch, price_patch = patch.get("erpData") or {}, patch.get("price") or {}
        total_name = "invoiceTotal" if self.kind.doc_type == "invoice" else "creditMemoTotal"
        if erp_patch.get(total_name) is not None and price_patch.get("totalGT") is None:
            patch["price"] = {**price_patch, "totalGT": erp_patch[total_name]}  # the total mirrors totalGT
        merged = merge(stored_representation(self.kind, document, self.lines(document)), patch)
        currency = ((merged.get("price") or {}).get("currency") or "").strip().upper()
        if len(currency) != 3:
            raise ValidationFailed.one("price.currency", "The value must be a 3-letter ISO 4217 currency code.")
        merged.pop("statement", None)  # the link is kept as it is
        data = to_data(self.kind, merged, currency=currency, seller_id=document.seller_id)
        if data.document_no != document.document_no and self.documents.exists(self.kind, data.document_no):
            raise Conflict(f"{self.kind.label} {data.document_no} already exists.", path="erpData.documentNo")
        now = utcnow()
        actor = self.principal.actor
        changed = content_differs(self.documents, self.kind, document, data)
        if changed:
            write_content(self.documents, self.kind, document, data)
        if data.row_version is not None and data.row_version != document.row_version:
            document.row_version, changed = data.row_version, True
        if data.balance_due != document.balance_due:
            document.balance_due, changed = data.balance_due, True
        if changed:
            document.audit = with_events(document.audit, [], actor, now)
            document.updated_at = now
            if document.statement_id:
                statement = self.documents.statement(document.statement_id)
                if statement is not None:
                    statement_totals(statement, document, data)
        evaluate(document, self.kind, actor=actor, at=now)
        self.session.flush()
        return document
