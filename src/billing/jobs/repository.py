"""All SQL of the work queue: enqueue, claim with a lease, renew and finish (fenced by the lease token).

Claims skip locked rows on PostgreSQL (``FOR UPDATE SKIP LOCKED``); on SQLite every write transaction is
``BEGIN IMMEDIATE``, which serialises claims. A claim whose holder died is taken again once its lease expires.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from billing.db.models import WorkItem
from billing.kit.timeutil import utcnow


@dataclass(frozen=True)
class Claim:
    id: int
    kind: str
    object_id: str
    attempts: int
    payload: dict[str, Any]
    token: str


class WorkRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def enqueue(self, kind: str, object_id: str, payload: dict[str, Any] | None = None) -> WorkItem:
        """Add (or re-arm) the one open item for (kind, object); re-arming fences out a previous holder."""
        now = utcnow()
        item = self.open_item(kind, object_id)
        if item is None:
            item = WorkItem(kind=kind, object_id=object_id, state="pending", attempts=0, created_at=now)
            self.session.add(item)
        item.payload = dict(payload or {})
        item.attempts = 0
        item.lease_owner = item.lease_token = item.lease_until = None
        item.last_error = None
        item.updated_at = now
        self.session.flush()
        return item

    def open_item(self, kind: str, object_id: str) -> WorkItem | None:
        return self.session.execute(
            select(WorkItem).where(WorkItem.kind == kind, WorkItem.object_id == object_id, WorkItem.state == "pending")
        ).scalar_one_or_none()

    def claim(
        self, kind: str, owner: str, lease_for: timedelta, limit: int = 1, *, object_id: str | None = None
    ) -> list[Claim]:
        """Lease up to ``limit`` due items of ``kind`` (or the one of ``object_id``)."""
        now = utcnow()
        due = (
            select(WorkItem.id)
            .where(
                WorkItem.kind == kind,
                WorkItem.state == "pending",
                or_(WorkItem.lease_until.is_(None), WorkItem.lease_until < now),
                *([WorkItem.object_id == object_id] if object_id else []),
            )
            .order_by(WorkItem.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list(self.session.execute(due).scalars())
        claims = []
        for item_id in ids:
            token = secrets.token_hex(8)
            self.session.execute(
                update(WorkItem)
                .where(WorkItem.id == item_id)
                .values(
                    lease_owner=owner,
                    lease_token=token,
                    lease_until=now + lease_for,
                    attempts=WorkItem.attempts + 1,
                    updated_at=now,
                )
            )
            item = self.session.get(WorkItem, item_id, populate_existing=True)
            assert item is not None
            claims.append(Claim(item.id, item.kind, item.object_id, item.attempts, dict(item.payload), token))
        return claims

    def renew(self, claim: Claim, lease_for: timedelta) -> bool:
        """Extend the lease; False when it was lost (re-armed or taken over): stop without writing."""
        now = utcnow()
        result = self.session.execute(
            update(WorkItem)
            .where(WorkItem.id == claim.id, WorkItem.lease_token == claim.token, WorkItem.state == "pending")
            .values(lease_until=now + lease_for, updated_at=now)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def holds(self, claim: Claim) -> bool:
        """Whether the claim still holds its item, the item row share-locked until the transaction ends (a
        takeover, which rewrites the row, waits for it)."""
        row = self.session.execute(
            select(WorkItem.id)
            .where(WorkItem.id == claim.id, WorkItem.lease_token == claim.token, WorkItem.state == "pending")
            .with_for_update(read=True)
        ).first()
        return row is not None

    def finish(self, claim: Claim, state: str = "done", error: str | None = None) -> bool:
        result = self.session.execute(
            update(WorkItem)
            .where(WorkItem.id == claim.id, WorkItem.lease_token == claim.token, WorkItem.state == "pending")
            .values(state=state, last_error=error, lease_until=None, updated_at=utcnow())
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def release(self, claim: Claim, error: str, *, retry_at: datetime | None = None) -> bool:
        """Give the item back (still pending) after a failed attempt; it is claimed again later."""
        result = self.session.execute(
            update(WorkItem)
            .where(WorkItem.id == claim.id, WorkItem.lease_token == claim.token, WorkItem.state == "pending")
            .values(lease_owner=None, lease_token=None, lease_until=retry_at, last_error=error, updated_at=utcnow())
        )
        return result.rowcount == 1  # type: ignore[attr-defined]
