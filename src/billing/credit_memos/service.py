"""Credit memo rules: the shared posted-document service bound to credit memos (PUT is Operations only)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from billing.auth.capabilities import Scope
from billing.auth.principal import Principal
from billing.posted_documents.kinds import CREDIT_MEMO
from billing.posted_documents.service import PostedDocumentService


class CreditMemoService(PostedDocumentService):
    def __init__(self, session: Session, principal: Principal, scope: Scope) -> None:
        super().__init__(session, principal, scope, CREDIT_MEMO)
