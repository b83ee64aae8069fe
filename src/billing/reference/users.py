"""Assignees: users of an Operations account (billing-api.md §11.2)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from billing.errors import ValidationFailed
from billing.reference.repository import ReferenceRepository


def operations_user(session: Session, user_id: str | None) -> dict[str, Any] | None:
    """The stored assignee reference for ``user_id`` (None clears it); 400 unless an Operations user."""
    if user_id is None:
        return None
    user_id = user_id.strip().upper()
    references = ReferenceRepository(session)
    user = references.get_doc("users", user_id)
    account = references.get_doc("accounts", user["account"]) if user else None
    if user is None or account is None or account.get("type") != "Operations":
        raise ValidationFailed.one("assignee.id", f"User '{user_id}' was not found among Operations users.")
    return {"id": user_id}
