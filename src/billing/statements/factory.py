"""A new statement from one agreement group of a ledger or custom ledger (billing-api.md §9.5)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billing.auth.principal import SYSTEM_ACTOR
from billing.db.models import Statement
from billing.kit.audit import created
from billing.kit.ids import digits_of
from billing.rating.pricing import summary


def statement_id(parent_id: str, agreement_id: str) -> str:
    """``SOM-`` + journal (or custom ledger) digits + agreement digits (§12.1)."""
    return f"SOM-{digits_of(parent_id)}-{digits_of(agreement_id)}"


def new_statement(
    group: Any, *, statement_id: str, name: str, billing_type: str, now: datetime, **parent: Any
) -> Statement:
    """``group`` holds the agreement's references, currencies, count and PP/SP sums of its Ready charges;
    ``parent`` names ``journal_id`` and ``ledger_id``, or ``custom_ledger_id``. Debit when totalSP ≥ 0."""
    totals = summary([("Ready", group.total_pp, group.total_sp)])
    return Statement(
        id=statement_id,
        name=name[:255],
        type="Debit" if (group.total_sp or 0) >= 0 else "Credit",
        billing_type=billing_type,
        status="Generated",
        client_id=group.client_id,
        vendor_id=group.vendor_id,
        buyer_id=group.buyer_id,
        seller_id=group.seller_id,
        licensee_id=group.licensee_id,
        product_id=group.product_id,
        agreement_id=group.agreement_id,
        currency_purchase=group.currency_purchase,
        currency_sale=group.currency_sale or group.currency_purchase,
        total_pp=totals.total_pp,
        total_sp=totals.total_sp or 0,
        markup=totals.markup,
        margin=totals.margin,
        processing={"total": group.count, "ready": group.count, "split": 0, "skipped": 0, "error": 0},
        audit=created(SYSTEM_ACTOR, now, "generating", "generated"),
        created_at=now,
        updated_at=now,
        **parent,
    )
