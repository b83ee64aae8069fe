"""Journals and journal sellers as the API shows them (billing-api.md §6.2, §6.4)."""

from __future__ import annotations

from typing import Any

from billing.db.models import Journal
from billing.reference.refs import RefResolver


def journal_ref(journal: Journal) -> dict[str, Any]:
    """JournalRef: ``id, name, dueDate``."""
    return {"id": journal.id, "name": journal.name, "dueDate": journal.due_date}


def render_journal(journal: Journal, refs: RefResolver) -> dict[str, Any]:
    return {
        "id": journal.id,
        "name": journal.name,
        "description": journal.description,
        "notes": journal.notes,
        "externalIds": {"vendor": journal.external_vendor, "operations": journal.external_operations},
        "status": journal.status,
        "vendor": refs.account(journal.vendor_id),
        "owner": refs.seller(journal.owner_id),
        "product": refs.product(journal.product_id),
        "authorization": refs.authorization(journal.authorization_id),
        "dueDate": journal.due_date,
        "assignee": refs.user(journal.assignee["id"]) if journal.assignee else None,
        "price": {
            "currency": journal.currency,
            "totalPP": journal.total_pp,
            "totalSP": journal.total_sp,
            "markup": journal.markup,
            "margin": journal.margin,
        },
        "upload": {
            "total": journal.upload_total,
            "ready": journal.upload_ready,
            "split": journal.upload_split,
            "skipped": journal.upload_skipped,
            "error": journal.upload_error,
        },
        "processing": journal.processing,
        "error": journal.error,
        "audit": journal.audit,
    }


def render_seller(seller_id: str, journal: Journal, refs: RefResolver, ledger: dict[str, Any] | None) -> dict[str, Any]:
    doc = refs.doc("sellers", seller_id) or {}
    return {
        "id": seller_id,
        "name": doc.get("name", ""),
        "icon": doc.get("icon", ""),
        "externalId": doc.get("externalId"),
        "status": doc.get("status"),
        "address": {"country": (doc.get("address") or {}).get("country")},
        "currencies": doc.get("currencies") or [],
        "erpLink": doc.get("erpLink"),
        "journal": journal_ref(journal),
        "ledger": ledger,
    }
