"""All SQL of rendering: finding parents whose documents may be stale, claiming render tasks, the rendered
versions, and the rows the document views are built from.

Discovery needs no hook in the code paths that change statements, invoices and credit memos: every change bumps
the parent's indexed ``updated_at``, and a render task is due whenever that moves past the task's
``source_updated_at``. Each tick looks back ``discovery_overlap_s`` from the newest change it knows (commits can land
out of ``updated_at`` order) and skips parents already known at that version, so the look-back costs no renders.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, Table, and_, case, func, literal, or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from billing.charges.repository import in_ledger, in_statement
from billing.db.models import (
    Charge,
    CreditMemo,
    CreditMemoLine,
    DocumentOutput,
    DocumentTask,
    Invoice,
    InvoiceLine,
    Ledger,
    Statement,
)
from billing.erp.repository import db_now

PARENTS: dict[str, Any] = {"statement": Statement, "invoice": Invoice, "credit_memo": CreditMemo}
LINES: dict[str, Any] = {
    "invoice": (InvoiceLine, InvoiceLine.invoice_id),
    "credit_memo": (CreditMemoLine, CreditMemoLine.credit_memo_id),
}
#: a statement gets its documents once the ERP has issued it; posted documents from the start
RENDERABLE = {"statement": (Statement.status == "Issued",), "invoice": (), "credit_memo": ()}
TASK = cast(Table, DocumentTask.__table__)
CHARGE_BATCH = 2000


@dataclass(frozen=True, slots=True)
class RenderClaim:
    id: int
    parent_type: str
    parent_id: str
    source_updated_at: datetime
    attempts: int
    token: str


class DocumentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- discovery ----------------------------------------------------------------------------------------
    def discover(self, parent_type: str, overlap: timedelta, limit: int) -> int:
        """Make render tasks due for parents changed since (newest known change − overlap); the count made due."""
        model = PARENTS[parent_type]
        newest = self.session.execute(
            select(func.max(DocumentTask.source_updated_at)).where(DocumentTask.parent_type == parent_type)
        ).scalar_one()
        task = DocumentTask.__table__.alias("known")
        changed = (
            select(model.id, model.updated_at)
            .outerjoin(task, and_(task.c.parent_type == parent_type, task.c.parent_id == model.id))
            .where(*RENDERABLE[parent_type], or_(task.c.id.is_(None), task.c.source_updated_at < model.updated_at))
            .order_by(model.updated_at, model.id)
            .limit(limit)
        )
        if newest is not None:
            changed = changed.where(model.updated_at >= newest - overlap)
        rows = self.session.execute(changed).all()
        if not rows:
            return 0
        now = db_now(self.session)
        insert = pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        statement = insert(TASK).values(
            [
                {"parent_type": parent_type, "parent_id": row.id, "source_updated_at": row.updated_at}
                | {"due_at": now, "attempts": 0}
                for row in rows
            ]
        )
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[TASK.c.parent_type, TASK.c.parent_id],
                set_={"source_updated_at": statement.excluded.source_updated_at, "due_at": now, "attempts": 0},
                where=TASK.c.source_updated_at < statement.excluded.source_updated_at,
            )
        )
        return len(rows)

    # --- claims -------------------------------------------------------------------------------------------
    def claim(self, owner: str, limit: int, lease: timedelta) -> list[RenderClaim]:
        now = db_now(self.session)
        ids = list(
            self.session.execute(
                select(DocumentTask.id)
                .where(
                    DocumentTask.due_at <= now,
                    or_(DocumentTask.lease_until.is_(None), DocumentTask.lease_until < now),
                )
                .order_by(DocumentTask.due_at, DocumentTask.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).scalars()
        )
        if not ids:
            return []
        token = secrets.token_hex(8)
        rows = self.session.execute(
            update(TASK)
            .where(TASK.c.id.in_(ids))
            .values(lease_owner=f"{owner}:{token}", lease_until=now + lease)
            .returning(TASK.c.id, TASK.c.parent_type, TASK.c.parent_id, TASK.c.source_updated_at, TASK.c.attempts)
        ).all()
        return [RenderClaim(r.id, r.parent_type, r.parent_id, r.source_updated_at, r.attempts, token) for r in rows]

    def finish(self, claim: RenderClaim, owner: str, *, error: str | None, retry_in: timedelta | None) -> bool:
        """Done (no error) or due again later; fenced by the lease, and a newer change keeps the task due."""
        now = db_now(self.session)
        done = error is None
        result = self.session.execute(
            update(TASK)
            .where(TASK.c.id == claim.id, TASK.c.lease_owner == f"{owner}:{claim.token}")
            .values(
                lease_owner=None,
                lease_until=None,
                last_error=error,
                attempts=0 if done else TASK.c.attempts + 1,
                rendered_at=now if done else TASK.c.rendered_at,
                # a change that arrived while rendering (source moved on) leaves the task due
                due_at=case((TASK.c.source_updated_at <= claim.source_updated_at, None), else_=TASK.c.due_at)
                if done
                else now + (retry_in or timedelta(0)),
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def release(self, claim: RenderClaim, owner: str) -> None:
        self.session.execute(
            update(TASK)
            .where(TASK.c.id == claim.id, TASK.c.lease_owner == f"{owner}:{claim.token}")
            .values(lease_owner=None, lease_until=None)
        )

    def backlog(self) -> int:
        return self.session.execute(
            select(func.count()).select_from(DocumentTask).where(DocumentTask.due_at.is_not(None))
        ).scalar_one()

    # --- outputs ------------------------------------------------------------------------------------------
    def output(self, parent_type: str, parent_id: str, kind: str, checksum: str) -> DocumentOutput | None:
        return self.session.execute(
            select(DocumentOutput).where(
                DocumentOutput.parent_type == parent_type,
                DocumentOutput.parent_id == parent_id,
                DocumentOutput.kind == kind,
                DocumentOutput.checksum == checksum,
            )
        ).scalar_one_or_none()

    def add_output(self, **values: Any) -> DocumentOutput:
        output = DocumentOutput(created_at=db_now(self.session), **values)
        self.session.add(output)
        self.session.flush()
        return output

    # --- sources ------------------------------------------------------------------------------------------
    def statement(self, statement_id: str) -> Statement | None:
        return self.session.get(Statement, statement_id)

    def posted_document(self, parent_type: str, document_id: str) -> Any:
        return self.session.get(PARENTS[parent_type], document_id)

    def posted_lines(self, parent_type: str, document_id: str) -> list[Any]:
        model, parent = LINES[parent_type]
        return list(self.session.execute(select(model).where(parent == document_id).order_by(model.line_no)).scalars())

    def charge_digest(self, statement_id: str) -> Row[Any]:
        """A statement's charges in one row: count, sale total, newest change (for the checksum) and the period."""
        return self.session.execute(
            select(
                func.count().label("charges"),
                func.coalesce(func.sum(Charge.spx1), 0).label("total"),
                func.max(Charge.updated_at).label("changed"),
                func.min(Charge.period_start).label("start"),
                func.max(Charge.period_end).label("end"),
            ).where(in_statement(statement_id))
        ).one()

    def ledger_digest(self, ledger_id: str) -> Row[Any]:
        return self.session.execute(
            select(func.count(), func.sum(Charge.ppx1), func.sum(Charge.spx1), func.max(Charge.updated_at)).where(
                in_ledger(ledger_id)
            )
        ).one()

    def party_ids(self, parent_type: str, parent_id: str) -> tuple[str | None, str | None]:
        """(seller, client) of a parent, for delivery rules."""
        model = Ledger if parent_type == "ledger" else PARENTS[parent_type]
        client = getattr(model, "client_id", None)
        row = self.session.execute(
            select(model.seller_id, client if client is not None else literal(None)).where(model.id == parent_id)
        ).first()
        return (row[0], row[1]) if row is not None else (None, None)

    def charges(self, statement_id: str) -> Iterator[Row[Any]]:
        """The statement's charges in file order, in keyset batches (flat memory for millions of rows)."""
        columns = (
            Charge.seq,
            Charge.id,
            Charge.description1,
            Charge.description2,
            Charge.period_start,
            Charge.period_end,
            Charge.quantity,
            Charge.unit_sp,
            Charge.spx1,
            Charge.item_id,
            Charge.subscription_id,
        )
        query = select(*columns).where(in_statement(statement_id)).order_by(Charge.seq, Charge.id)
        batch = self.session.execute(query.limit(CHARGE_BATCH)).all()
        while True:
            yield from batch
            if len(batch) < CHARGE_BATCH:
                return
            last = batch[-1]
            after = tuple_(Charge.seq, Charge.id) > tuple_(literal(last.seq), literal(last.id))
            batch = self.session.execute(query.where(after).limit(CHARGE_BATCH)).all()
