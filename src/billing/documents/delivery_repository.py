"""All SQL of document delivery: claims and fenced finishes of deliveries, their attempts, target health.

Due times and leases use the database clock (`db_now`), so replicas on several hosts agree. A claim skips rows
locked by another replica on PostgreSQL (``FOR UPDATE SKIP LOCKED``); on SQLite the write transaction is ``BEGIN
IMMEDIATE``, which serialises claims. A claim is named by ``(lease_owner, lease_until)``: a row is claimed again
only after its lease ran out, so a later claim always has a later ``lease_until``. Every change of a claimed row
is fenced by both and by ``status = 'Pending'``: zero rows means the lease was lost and nothing may change.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, and_, case, func, insert, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from billing.db.models import (
    Attachment,
    CreditMemo,
    DeliveryTarget,
    DocumentDelivery,
    DocumentDeliveryAttempt,
    DocumentOutput,
    Invoice,
    Ledger,
    Statement,
)
from billing.erp.repository import db_now

PENDING, SENT, FAILED = "Pending", "Sent", "Failed"

DELIVERY = cast(Table, DocumentDelivery.__table__)
ATTEMPT = cast(Table, DocumentDeliveryAttempt.__table__)
TARGET = cast(Table, DeliveryTarget.__table__)


@dataclass(frozen=True, slots=True)
class DeliveryClaim:
    id: int
    output_id: int
    target: str
    owner: str
    lease_until: datetime


@dataclass(frozen=True, slots=True)
class StartedAttempt:
    """A claim whose attempt has begun: the lease renewed, ``attempts`` counted, an attempt row open."""

    claim: DeliveryClaim
    attempt_id: int
    attempts: int  # since the delivery was queued (or retried): drives backoff and the give-up


@dataclass(frozen=True, slots=True)
class OutputFile:
    """The stored file of one output and the facts of its parent an e-mail tells about."""

    parent_type: str
    parent_id: str
    kind: str
    filename: str
    content_type: str
    sha256: str
    size: int
    label: str  # invoice / credit memo number, else the parent's id
    seller_id: str | None
    client_id: str | None


@dataclass(frozen=True, slots=True)
class TargetCounts:
    pending: int = 0
    sent: int = 0
    failed: int = 0


class DeliveryRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def now(self) -> datetime:
        return db_now(self.session)

    # --- queueing ---------------------------------------------------------------------------------------
    def add(self, output_id: int, targets: Iterable[str], now: datetime) -> list[int]:
        """Pending deliveries of ``output_id``, due at once; their ids in ``targets`` order."""
        values = {"output_id": output_id, "status": PENDING, "attempts": 0, "next_attempt_at": now, "created_at": now}
        return [
            self.session.execute(insert(DELIVERY).values(**values, target=target).returning(DELIVERY.c.id)).scalar_one()
            for target in targets
        ]

    def targets_of(self, output_id: int, statuses: Collection[str]) -> list[str]:
        """Targets with a delivery of ``output_id`` in one of ``statuses``, by name."""
        rows = self.session.execute(
            select(DocumentDelivery.target)
            .where(DocumentDelivery.output_id == output_id, DocumentDelivery.status.in_(statuses))
            .distinct()
            .order_by(DocumentDelivery.target)
        )
        return list(rows.scalars())

    def get(self, delivery_id: int, *, for_update: bool = False) -> DocumentDelivery | None:
        return self.session.get(DocumentDelivery, delivery_id, with_for_update=for_update)

    def output(self, output_id: int) -> DocumentOutput | None:
        return self.session.get(DocumentOutput, output_id)

    def of_parent(self, parent_type: str, parent_id: str) -> list[tuple[DocumentDelivery, DocumentOutput]]:
        """Every delivery of a parent's documents, oldest first (``billing documents deliver|resend``)."""
        rows = self.session.execute(
            select(DocumentDelivery, DocumentOutput)
            .join(DocumentOutput, DocumentOutput.id == DocumentDelivery.output_id)
            .where(DocumentOutput.parent_type == parent_type, DocumentOutput.parent_id == parent_id)
            .order_by(DocumentDelivery.id)
        )
        return [(delivery, output) for delivery, output in rows]

    def make_due(self, delivery_ids: Collection[int], now: datetime) -> None:
        """Pending deliveries waiting for their back-off: due now (``billing documents deliver ID``)."""
        self.session.execute(
            update(DELIVERY)
            .where(DELIVERY.c.id.in_(delivery_ids), DELIVERY.c.status == PENDING)
            .values(next_attempt_at=now)
        )

    def requeue(self, delivery_id: int, now: datetime) -> None:
        """A Failed delivery back to Pending, due now, with a fresh attempt budget (its history stays)."""
        self.session.execute(
            update(DELIVERY)
            .where(DELIVERY.c.id == delivery_id, DELIVERY.c.status == FAILED)
            .values(status=PENDING, attempts=0, next_attempt_at=now, lease_owner=None, lease_until=None)
        )

    # --- claims -----------------------------------------------------------------------------------------
    def claim(self, owner: str, targets: Collection[str], limit: int, lease: timedelta) -> list[DeliveryClaim]:
        """Lease up to ``limit`` due Pending deliveries to ``targets`` (the configured ones) not paused."""
        if limit <= 0 or not targets:
            return []
        now = self.now()
        paused = select(DeliveryTarget.name).where(DeliveryTarget.paused_at.is_not(None))
        due = (
            select(DocumentDelivery.id)
            .where(
                DocumentDelivery.status == PENDING,
                DocumentDelivery.next_attempt_at <= now,
                DocumentDelivery.target.in_(targets),
                DocumentDelivery.target.not_in(paused),
                or_(DocumentDelivery.lease_until.is_(None), DocumentDelivery.lease_until < now),
            )
            .order_by(DocumentDelivery.next_attempt_at, DocumentDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True, of=DocumentDelivery)
        )
        ids = list(self.session.execute(due).scalars())
        if not ids:
            return []
        until = now + lease
        rows = self.session.execute(
            update(DELIVERY)
            .where(DELIVERY.c.id.in_(ids))
            .values(lease_owner=owner, lease_until=until)
            .returning(DELIVERY.c.id, DELIVERY.c.output_id, DELIVERY.c.target)
        ).all()
        return sorted(
            (DeliveryClaim(row.id, row.output_id, row.target, owner, until) for row in rows), key=lambda claim: claim.id
        )

    def start(self, claim: DeliveryClaim, lease: timedelta) -> StartedAttempt | None:
        """Begin an attempt right before sending: renew the lease, count the attempt, open its row. None when the
        lease was lost or the target was paused meanwhile (the claim is then given back)."""
        paused = self.session.execute(
            select(DeliveryTarget.paused_at).where(DeliveryTarget.name == claim.target)
        ).scalar_one_or_none()
        if paused is not None:
            self.release(claim)
            return None
        now = self.now()
        until = now + lease
        attempts = self.session.execute(
            update(DELIVERY)
            .where(*self._fence(claim))
            .values(lease_until=until, attempts=DELIVERY.c.attempts + 1)
            .returning(DELIVERY.c.attempts)
        ).scalar_one_or_none()
        if attempts is None:
            return None
        # an attempt still open belongs to a replica that died while sending (its lease ran out before it
        # recorded an outcome): close it, so the history says so; whether that send arrived is unknown (e-mail
        # may arrive twice; a drop folder finds the same content and does not write it again)
        self.session.execute(
            update(ATTEMPT)
            .where(ATTEMPT.c.delivery_id == claim.id, ATTEMPT.c.finished_at.is_(None))
            .values(
                finished_at=now,
                outcome="abandoned",
                error="The replica sending it stopped before recording an outcome; its lease ran out.",
            )
        )
        number = self.session.execute(
            select(func.coalesce(func.max(ATTEMPT.c.number), 0) + 1).where(ATTEMPT.c.delivery_id == claim.id)
        ).scalar_one()
        attempt_id = self.session.execute(
            insert(ATTEMPT)
            .values(delivery_id=claim.id, number=number, replica=claim.owner, started_at=now)
            .returning(ATTEMPT.c.id)
        ).scalar_one()
        return StartedAttempt(replace(claim, lease_until=until), attempt_id, attempts)

    def finish(self, claim: DeliveryClaim, **values: Any) -> bool:
        """Apply ``values`` and end the lease, only while ``claim`` holds the row."""
        result = self.session.execute(
            update(DELIVERY).where(*self._fence(claim)).values(**values, lease_owner=None, lease_until=None)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def release(self, claim: DeliveryClaim) -> bool:
        """Give an unstarted claim back (stopping, paused target)."""
        return self.finish(claim)

    def close_attempt(self, attempt_id: int, now: datetime, outcome: str, error: str | None) -> None:
        self.session.execute(
            update(ATTEMPT).where(ATTEMPT.c.id == attempt_id).values(finished_at=now, outcome=outcome, error=error)
        )

    @staticmethod
    def _fence(claim: DeliveryClaim) -> tuple[Any, ...]:
        columns = DELIVERY.c
        return (
            columns.id == claim.id,
            columns.status == PENDING,
            columns.lease_owner == claim.owner,
            columns.lease_until == claim.lease_until,
        )

    # --- what is sent -----------------------------------------------------------------------------------
    def output_file(self, output_id: int) -> OutputFile | None:
        """The output's attachment and its parent's number, seller and client (a vanished parent: its id)."""
        row = self.session.execute(
            select(
                DocumentOutput.parent_type,
                DocumentOutput.parent_id,
                DocumentOutput.kind,
                Attachment.filename,
                Attachment.content_type,
                Attachment.sha256,
                Attachment.size,
            )
            .join(Attachment, Attachment.id == DocumentOutput.attachment_id)
            .where(DocumentOutput.id == output_id)
        ).first()
        if row is None:
            return None
        label, seller_id, client_id = self._parent(row.parent_type, row.parent_id) or (row.parent_id, None, None)
        return OutputFile(*row, label=label, seller_id=seller_id, client_id=client_id)

    def _parent(self, parent_type: str, parent_id: str) -> tuple[str, str | None, str | None] | None:
        """(label, seller, client): a posted document's number, else the parent's id."""
        query: Select[Any, Any, Any]
        if parent_type in ("invoice", "credit_memo"):
            model = Invoice if parent_type == "invoice" else CreditMemo
            query = select(model.document_no, model.seller_id, model.client_id).where(model.id == parent_id)
        elif parent_type == "statement":
            query = select(Statement.id, Statement.seller_id, Statement.client_id).where(Statement.id == parent_id)
        elif parent_type == "ledger":
            query = select(Ledger.id, Ledger.seller_id, literal(None)).where(Ledger.id == parent_id)
        else:
            return None
        found = self.session.execute(query).first()
        return (found[0], found[1], found[2]) if found is not None else None

    # --- target health ----------------------------------------------------------------------------------
    def _ensure_target(self, name: str) -> None:
        dialect_insert = postgresql_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        self.session.execute(dialect_insert(TARGET).values(name=name, consecutive_failures=0).on_conflict_do_nothing())

    def target_succeeded(self, name: str, now: datetime) -> None:
        self._ensure_target(name)
        self.session.execute(
            update(TARGET).where(TARGET.c.name == name).values(consecutive_failures=0, last_success_at=now)
        )

    def target_failed(self, name: str, error: str, pause_after: int, now: datetime) -> bool:
        """Count a failure (one atomic update, no lost counts between replicas); True when it paused the target."""
        self._ensure_target(name)
        columns = TARGET.c
        pausing = and_(columns.paused_at.is_(None), columns.consecutive_failures + 1 >= pause_after)
        paused_at = self.session.execute(
            update(TARGET)
            .where(columns.name == name)
            .values(
                consecutive_failures=columns.consecutive_failures + 1,
                paused_at=case((pausing, now), else_=columns.paused_at),
                pause_reason=case((pausing, error), else_=columns.pause_reason),
            )
            .returning(columns.paused_at)
        ).scalar_one()
        return bool(paused_at == now)

    def resume(self, name: str, now: datetime) -> bool:
        """Lift a pause (failures forgotten) and make the target's waiting deliveries due now; False if not paused."""
        result = self.session.execute(
            update(TARGET)
            .where(TARGET.c.name == name, TARGET.c.paused_at.is_not(None))
            .values(paused_at=None, pause_reason=None, consecutive_failures=0)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        self.session.execute(
            update(DELIVERY)
            .where(DELIVERY.c.target == name, DELIVERY.c.status == PENDING, DELIVERY.c.next_attempt_at > now)
            .values(next_attempt_at=now)
        )
        return True

    def targets(self) -> list[DeliveryTarget]:
        return list(self.session.execute(select(DeliveryTarget).order_by(DeliveryTarget.name)).scalars())

    def counts_by_target(self) -> dict[str, TargetCounts]:
        rows = self.session.execute(
            select(
                DocumentDelivery.target,
                func.count().filter(DocumentDelivery.status == PENDING),
                func.count().filter(DocumentDelivery.status == SENT),
                func.count().filter(DocumentDelivery.status == FAILED),
            ).group_by(DocumentDelivery.target)
        )
        return {row[0]: TargetCounts(row[1], row[2], row[3]) for row in rows}
