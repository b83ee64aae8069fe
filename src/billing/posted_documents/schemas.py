"""The views invoices and credit memos share (billing-api.md §6.8–6.11; §4.8: lists return the full document,
lines included). Each resource binds them to its own visibility, labels and parent field."""

from __future__ import annotations

from billing.api.views import ResourceView

DOCUMENT_FIELDS = (
    "id",
    "status",
    "statement",
    "billingType",
    "client",
    "vendor",
    "buyer",
    "seller",
    "licensee",
    "product",
    "agreement",
    "erpData",
    "price",
    "lines",
    "audit",
)
LINE_FIELDS = ("id", "lineNo", "documentNo", "itemNo", "description", "description2", "period", "erpData", "price")


def document_views(visibility: str, label: str, parent_field: str) -> tuple[ResourceView, ResourceView]:
    """The document view and its line view (the line sub-resource names its document in ``parent_field``)."""
    document = ResourceView(fields=DOCUMENT_FIELDS, visibility=visibility, label=label)
    line = ResourceView(
        fields=(LINE_FIELDS[0], parent_field, *LINE_FIELDS[1:]), visibility="document_line", label=f"{label} line"
    )
    return document, line
