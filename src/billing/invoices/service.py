"""Invoice rules: the shared posted-document service bound to invoices. A client's PUT returns the invoice
unchanged and records no event (§5.5: no field is client-writable in this version)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from billing.auth.capabilities import Scope
from billing.auth.principal import Principal
from billing.posted_documents.kinds import INVOICE
from billing.posted_documents.service import PostedDocumentService


class InvoiceService(PostedDocumentService):
    def __init__(self, session: Session, principal: Principal, scope: Scope) -> None:
        super().__init__(session, principal, scope, INVOICE)
