"""Mark-as-sent verification (erp-integration.md §3.9): does the ERP hold the document an operator names?"""

from __future__ import annotations

from billing.erp.errors import ErpError
from billing.erp.gateway import DocType, ErpDocument, ErpGateway
from billing.errors import Conflict, ErpDocumentNotFound, Unavailable


def verify_document(gateway: ErpGateway, doc_type: DocType, erp_id: str, statement_id: str) -> ErpDocument:
    """The unposted document ``erp_id``, else the posted one numbered so or pre-assigned so.

    422 when the ERP has none; 409 when its External_Document_No names another statement; 503 when the ERP
    cannot be asked now.
    """
    try:
        document = gateway.read_unposted(doc_type, erp_id)
        if document is None:
            posted = gateway.find_posted(doc_type, no=erp_id) or gateway.find_posted(doc_type, pre_assigned_no=erp_id)
            document = posted[0] if posted else None
    except ErpError as exc:
        raise Unavailable(f"The ERP could not be asked about document '{erp_id}': {exc.message}", 60) from exc
    label = "sales invoice" if doc_type == "invoice" else "sales credit memo"
    if document is None:
        raise ErpDocumentNotFound(f"The ERP has no {label} '{erp_id}' (unposted or posted).")
    external = (document.external_document_no or "").upper()
    if external and external != statement_id.upper():
        raise Conflict(f"ERP {label} '{erp_id}' belongs to {external}, not to statement {statement_id}.")
    return document
