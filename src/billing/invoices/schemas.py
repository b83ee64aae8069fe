"""The views of invoices and their lines."""

from __future__ import annotations

from billing.posted_documents.schemas import document_views

VIEW, LINE_VIEW = document_views("invoice", "Invoice", "invoice")
