"""The credit memo query allow-lists; the SQL itself is shared with credit memos/invoices in
`billing.posted_documents.repository`."""

from __future__ import annotations

from billing.posted_documents.kinds import CREDIT_MEMO
from billing.posted_documents.lifecycle import CREDIT_MEMO_STATUSES
from billing.posted_documents.repository import document_list_spec, line_list_spec

LIST_SPEC = document_list_spec(CREDIT_MEMO, CREDIT_MEMO_STATUSES)
LINE_LIST_SPEC = line_list_spec(CREDIT_MEMO)
