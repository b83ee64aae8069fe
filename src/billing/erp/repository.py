"""All SQL of the ERP push: outbox claims and fenced finishes, attempts, the pause switch, plan inputs.

Lease and due-time comparisons use the database clock (`db_now`), so replicas on several hosts agree. Claims
skip locked rows on PostgreSQL (``FOR UPDATE SKIP LOCKED``); on SQLite the write transaction is ``BEGIN
IMMEDIATE``, which serialises them. Every finish is fenced by ``lease_token`` and ``state = 'pending'``: zero
rows means the lease was lost and nothing may change.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, and_, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from billing.charges.repository import in_statement
from billing.db.models import (
    Charge,
    CreditMemo,
    ErpAttempt,
    ErpBalance,
    ErpControl,
    ErpCursor,
    ErpOutbox,
    Invoice,
    Statement,
)
from billing.db.query import ListSpec
from billing.db.types import Money
from billing.erp.plan import ChargeLine, ItemTotal, StatementFacts
from billing.kit.rql import Field, FieldType
from billing.kit.timeutil import utcnow


def db_now_sql(session: Session) -> Any:
    """The database's current time inside a statement (PostgreSQL: its clock, no extra round trip)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.timezone("utc", func.clock_timestamp())
    return utcnow()


def db_now(session: Session) -> datetime:
    """The database's current time as naive UTC (PostgreSQL: its clock; SQLite: this host's, the same host)."""
    if session.get_bind().dialect.name == "postgresql":
        value = session.execute(text("SELECT timezone('utc', clock_timestamp())")).scalar_one()
        return value.replace(tzinfo=None) if value.tzinfo else value
    return utcnow()


@dataclass(frozen=True, slots=True)
class OutboxClaim:
    id: int
    statement_id: str
    op: str
    doc_type: str
    claims: int
    failures: int
    stage: str
    erp_document_no: str | None
    token: str
    lease_until: datetime
    claimed_at: datetime  # the database clock at the claim: lease time left is measured from it


# the hot statements below are Core, on the tables: no ORM bulk path, no session synchronisation
OUTBOX = cast(Table, ErpOutbox.__table__)
ATTEMPT = cast(Table, ErpAttempt.__table__)


class OutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def claim(self, replica: str, limit: int, lease: timedelta) -> list[OutboxClaim]:
        """Lease up to ``limit`` due rows (§3.2); first-time claims move their statement Queued → Pending."""
        if limit <= 0:
            return []
        now = db_now(self.session)
        due = (
            select(ErpOutbox.id)
            .where(
                ErpOutbox.state == "pending",
                ErpOutbox.next_attempt_at <= now,
                or_(ErpOutbox.lease_until.is_(None), ErpOutbox.lease_until < now),
            )
            .order_by(ErpOutbox.next_attempt_at, ErpOutbox.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list(self.session.execute(due).scalars())
        if not ids:
            return []
        token = secrets.token_hex(8)
        until = now + lease
        columns = OUTBOX.c
        rows = self.session.execute(
            update(OUTBOX)
            .where(columns.id.in_(ids))
            .values(
                lease_owner=replica,
                lease_token=token,
                lease_until=until,
                claims=columns.claims + 1,
                updated_at=now,
            )
            .returning(
                columns.id,
                columns.statement_id,
                columns.op,
                columns.doc_type,
                columns.claims,
                columns.failures,
                columns.stage,
                columns.erp_document_no,
            )
        ).all()
        claims = [
            OutboxClaim(
                id=row.id,
                statement_id=row.statement_id,
                op=row.op,
                doc_type=row.doc_type,
                claims=row.claims,
                failures=row.failures,
                stage=row.stage,
                erp_document_no=row.erp_document_no,
                token=token,
                lease_until=until,
                claimed_at=now,
            )
            for row in rows
        ]
        return sorted(claims, key=lambda claim: claim.id)

    def renew(self, claim: OutboxClaim, lease: timedelta) -> datetime | None:
        """Extend a live lease; None when it was lost (another holder, or the row finished)."""
        now = db_now(self.session)
        return now + lease if self.fenced(claim, lease_until=now + lease, updated_at=now) else None

    def fenced(self, claim: OutboxClaim, **values: Any) -> bool:
        """Update the claimed row only while the claim holds it (§3.2 "Finish")."""
        values.setdefault("updated_at", db_now_sql(self.session))
        columns = OUTBOX.c
        result = self.session.execute(
            update(OUTBOX)
            .where(columns.id == claim.id, columns.lease_token == claim.token, columns.state == "pending")
            .values(**values)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def release(self, claim: OutboxClaim) -> bool:
        """Give an unworked row back (shutdown, breaker, pause): lease cleared, the claim not counted."""
        return self.fenced(claim, lease_owner=None, lease_token=None, lease_until=None, claims=OUTBOX.c.claims - 1)

    def reap(self, grace: timedelta) -> list[tuple[int, str, str | None]]:
        """Clear leases expired for over ``grace``; returns (row id, statement id, owner) of each."""
        cutoff = db_now(self.session) - grace
        rows = self.session.execute(
            update(ErpOutbox)
            .where(ErpOutbox.lease_until.is_not(None), ErpOutbox.lease_until < cutoff)
            .values(lease_owner=None, lease_token=None, lease_until=None)
            .returning(ErpOutbox.id, ErpOutbox.statement_id, ErpOutbox.lease_owner)
        ).all()
        return [(row[0], row[1], row[2]) for row in rows]

    def of_statement(self, statement_id: str, *, for_update: bool = False) -> ErpOutbox | None:
        stmt = select(ErpOutbox).where(ErpOutbox.statement_id == statement_id)
        if for_update:
            stmt = stmt.with_for_update()
        return self.session.execute(stmt).scalar_one_or_none()

    def counts(self) -> dict[str, int]:
        """Rows by §5.5 state: due, waiting, leased, dead."""
        now = db_now(self.session)
        leased = and_(ErpOutbox.lease_until.is_not(None), ErpOutbox.lease_until >= now)
        rows = self.session.execute(
            select(
                func.count().filter(and_(ErpOutbox.state == "pending", leased)),
                func.count().filter(and_(ErpOutbox.state == "pending", ~leased, ErpOutbox.next_attempt_at <= now)),
                func.count().filter(and_(ErpOutbox.state == "pending", ~leased, ErpOutbox.next_attempt_at > now)),
                func.count().filter(ErpOutbox.state == "dead"),
            )
        ).one()
        return {"leased": rows[0], "due": rows[1], "waiting": rows[2], "dead": rows[3]}


OUTCOMES = (
    "ok",
    "retryable",
    "throttled",
    "uncertain",
    "permanent",
    "auth",
    "config",
    "lease_lost",
    "abandoned",
    "manual",
)
ATTEMPT_LIST_SPEC = ListSpec(
    registry={
        "id": Field(ErpAttempt.id, FieldType.INTEGER),
        "claimno": Field(ErpAttempt.claim_no, FieldType.INTEGER),
        "replica": Field(ErpAttempt.replica, FieldType.STRING),
        "correlationid": Field(ErpAttempt.correlation_id, FieldType.STRING),
        "operation": Field(ErpAttempt.operation, FieldType.STRING),
        "startedat": Field(ErpAttempt.started_at, FieldType.DATETIME),
        "durationms": Field(ErpAttempt.duration_ms, FieldType.INTEGER),
        "httpstatus": Field(ErpAttempt.http_status, FieldType.INTEGER),
        "outcome": Field(ErpAttempt.outcome, FieldType.ENUM, OUTCOMES),
        "faultcode": Field(ErpAttempt.fault_code, FieldType.STRING),
    },
    default_order="id",
    tiebreak=ErpAttempt.id,
)


class AttemptRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, **values: Any) -> None:
        self.add_many([values])

    def add_many(self, rows: list[dict[str, Any]]) -> None:
        """Attempt rows in one executemany (no ORM objects: this runs for every ERP call)."""
        if rows:
            self.session.execute(insert(ATTEMPT), rows)  # Core executemany: column defaults, no ORM objects

    def of_statement(self, statement_id: str) -> Select[Any]:
        return select(ErpAttempt).where(ErpAttempt.statement_id == statement_id)

    def purge(self, before: datetime) -> int:
        result = self.session.execute(delete(ErpAttempt).where(ErpAttempt.started_at < before))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class ControlRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, *, for_update: bool = False) -> ErpControl:
        """The one control row (created when missing)."""
        control = self.session.get(ErpControl, 1, with_for_update=for_update)
        if control is None:  # the migration seeds it; concurrent first users may both insert
            dialect_insert = (
                postgresql_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
            )
            self.session.execute(dialect_insert(ErpControl).values(id=1, paused=False).on_conflict_do_nothing())
            control = self.session.get(ErpControl, 1, with_for_update=for_update)
            assert control is not None
        return control


STATEMENT = cast(Table, Statement.__table__)


@dataclass(frozen=True, slots=True)
class StatementState:
    """What finishing a claim reads of its statement before changing it (locked on PostgreSQL)."""

    status: str
    audit: dict[str, Any] | None
    ledger_id: str | None
    custom_ledger_id: str | None


class PlanRepository:
    """The statement and charges a statement's ERP document is built from (§1.7), and the statement's finish.

    The per-push reads and writes are Core statements on columns, not ORM objects (they run for every push)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def facts(self, statement_id: str) -> StatementFacts | None:
        columns = STATEMENT.c
        row = self.session.execute(
            select(
                columns.id,
                columns.type,
                columns.seller_id,
                columns.buyer_id,
                columns.licensee_id,
                columns.agreement_id,
                columns.currency_sale,
                columns.currency_purchase,
                columns.queued_at,
            ).where(columns.id == statement_id)
        ).first()
        return StatementFacts(*row) if row is not None else None

    def state(self, statement_id: str) -> StatementState | None:
        """The statement's status, audit and parents, locked for the caller's update (PostgreSQL)."""
        columns = STATEMENT.c
        row = self.session.execute(
            select(columns.status, columns.audit, columns.ledger_id, columns.custom_ledger_id)
            .where(columns.id == statement_id)
            .with_for_update()
        ).first()
        return StatementState(*row) if row is not None else None

    def update_statement(self, statement_id: str, **values: Any) -> None:
        self.session.execute(update(STATEMENT).where(STATEMENT.c.id == statement_id).values(**values))

    def charge_lines(self, statement_id: str, *, limit: int | None = None) -> list[ChargeLine]:
        """The statement's charges in id order (at most ``limit``: the caller learns whether there are more)."""
        rows = self.session.execute(
            select(
                Charge.id,
                Charge.item_id,
                Charge.erp_item_id,
                Charge.cco,
                Charge.description1,
                Charge.description2,
                Charge.quantity,
                Charge.unit_sp,
                Charge.unit_pp,
                Charge.period_start,
                Charge.period_end,
            )
            .where(in_statement(statement_id))
            .order_by(Charge.id)
            .limit(limit)
        )
        return [ChargeLine(*row) for row in rows]

    def item_totals(self, statement_id: str) -> list[ItemTotal]:
        rows = self.session.execute(
            select(
                Charge.item_id,
                Charge.erp_item_id,
                func.min(Charge.cco),
                func.count(),
                func.coalesce(func.sum(Charge.spx1, type_=Money), 0),
                func.coalesce(func.sum(Charge.ppx1, type_=Money), 0),
                func.min(Charge.period_start),
                func.max(Charge.period_end),
            )
            .where(in_statement(statement_id))
            .group_by(Charge.item_id, Charge.erp_item_id)
        )
        return [ItemTotal(*row) for row in rows]

    def statements(self, statement_ids: list[str], *, for_update: bool = False) -> list[Statement]:
        stmt = select(Statement).where(Statement.id.in_(statement_ids))
        if for_update:
            stmt = stmt.with_for_update()
        return list(self.session.execute(stmt).scalars())

    def statement(self, statement_id: str, *, for_update: bool = False) -> Statement | None:
        return self.session.get(Statement, statement_id, with_for_update=for_update, populate_existing=for_update)


class CursorRepository:
    """Pull stream cursors (§4.1): read and moved only inside the transaction that commits the rows they cover."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, stream: str) -> ErpCursor:
        """The stream's cursor, created empty when missing, locked for the caller's update (PostgreSQL)."""
        cursor = self.session.get(ErpCursor, stream, with_for_update=True)
        if cursor is None:
            dialect_insert = (
                postgresql_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
            )
            self.session.execute(
                dialect_insert(ErpCursor)
                .values(stream=stream, run_pages=0, updated_at=utcnow())
                .on_conflict_do_nothing()
            )
            cursor = self.session.get(ErpCursor, stream, with_for_update=True)
            assert cursor is not None
        return cursor

    def watermark(self, stream: str) -> str | None:
        """The committed watermark, read without creating or locking the row (safe in a read-only scope)."""
        return self.session.execute(select(ErpCursor.watermark).where(ErpCursor.stream == stream)).scalar()

    def all(self) -> list[ErpCursor]:
        return list(self.session.execute(select(ErpCursor).order_by(ErpCursor.stream)).scalars())


class BalanceRepository:
    """Ledger-entry observations of posted documents (§4.3): the newest entry of a document wins."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def observe(self, rows: list[dict[str, Any]]) -> None:
        """Upsert observations ``{doc_type, document_no, entry_no, customer_no, remaining, open, observed_at}``."""
        if not rows:
            return
        dialect = self.session.get_bind().dialect.name
        table = cast(Table, ErpBalance.__table__)
        statement = (postgresql_insert if dialect == "postgresql" else sqlite_insert)(table)
        self.session.execute(
            statement.on_conflict_do_update(
                index_elements=["doc_type", "document_no"],
                set_={
                    "entry_no": statement.excluded.entry_no,
                    "customer_no": statement.excluded.customer_no,
                    "remaining": statement.excluded.remaining,
                    "open": statement.excluded.open,
                    "observed_at": statement.excluded.observed_at,
                },
            ),
            rows,
        )

    def open_invoices_of(self, customer_no: str) -> list[str]:
        """Invoice numbers of the customer with an open entry (a payment applied to none of them may close one)."""
        return list(
            self.session.execute(
                select(ErpBalance.document_no).where(
                    ErpBalance.doc_type == "invoice", ErpBalance.customer_no == customer_no, ErpBalance.open.is_(True)
                )
            ).scalars()
        )

    def unpaid_invoice_numbers(self) -> list[str]:
        """Imported invoices with a balance due: ``erp.refresh_open`` re-reads their ledger entries."""
        return list(self.session.execute(select(Invoice.document_no).where(Invoice.balance_due > 0)).scalars())

    def live_credit_memo_numbers(self) -> list[str]:
        """Imported credit memos not Deleted: ``erp.refresh_open`` checks the ERP still has them."""
        return list(
            self.session.execute(select(CreditMemo.document_no).where(CreditMemo.status != "Deleted")).scalars()
        )
