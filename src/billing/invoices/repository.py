"""The invoice query allow-lists; the SQL itself is shared with credit memos/invoices in
`billing.posted_documents.repository`."""

from __future__ import annotations

from billing.posted_documents.kinds import INVOICE
from billing.posted_documents.lifecycle import INVOICE_STATUSES
from billing.posted_documents.repository import document_list_spec, line_list_spec

LIST_SPEC = document_list_spec(INVOICE, INVOICE_STATUSES)
LINE_LIST_SPEC = line_list_spec(INVOICE)
