"""All SQL of the ERP push: outbox claims and fenced finishes, attempts, the pause switch, plan inputs.

Lease and due-time comparisons use the database clock (`db_now`), so replicas on several hosts agree. Claims
skip locked rows on PostgreSQL (``FOR UPDATE SKIP LOCKED``); on SQLite the write transaction is ``BEGIN
IMMEDIATE``, which serialises them. Every finish is fenced by ``lease_token`` and ``state = 'pending'``: zero
rows means the lease was lost and nothing may change.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Select,
    Table,
    Update,
    and_,
    bindparam,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from billing.charges.repository import in_statement
from billing.db.engine import Executor, dialect_of, orm
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

_PG_NOW = func.timezone("utc", func.clock_timestamp())
_SELECT_PG_NOW = text("SELECT timezone('utc', clock_timestamp())")


def db_now(session: Executor) -> datetime:
    """The database's current time as naive UTC (PostgreSQL: its clock; SQLite: this host's, the same host)."""
    if dialect_of(session) == "postgresql":
        value = session.execute(_SELECT_PG_NOW).scalar_one()
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

# Statements of the push's hot path are built once with bind parameters: building one per call (and its cache
# key) cost ~0.2 ms, several times its execution. Parameters are named ``b_*`` (SET clauses reserve column names).
_O = OUTBOX.c
_DUE_IDS = (
    select(_O.id)
    .where(
        _O.state == "pending",
        _O.next_attempt_at <= bindparam("b_now"),
        or_(_O.lease_until.is_(None), _O.lease_until < bindparam("b_now")),
    )
    .order_by(_O.next_attempt_at, _O.id)
    .limit(bindparam("b_limit"))
    .with_for_update(skip_locked=True)
)
_LEASE = (
    update(OUTBOX)
    .where(_O.id.in_(bindparam("b_ids", expanding=True)))
    .values(
        lease_owner=bindparam("b_owner"),
        lease_token=bindparam("b_token"),
        lease_until=bindparam("b_until"),
        claims=_O.claims + 1,
        updated_at=bindparam("b_now"),
    )
    .returning(_O.id, _O.statement_id, _O.op, _O.doc_type, _O.claims, _O.failures, _O.stage, _O.erp_document_no)
)
_FENCE = update(OUTBOX).where(_O.id == bindparam("b_id"), _O.lease_token == bindparam("b_token"), _O.state == "pending")
_ADD_ATTEMPTS = insert(ATTEMPT)


@functools.cache
def _fenced(names: tuple[str, ...], db_clock: bool) -> Update:
    """The fenced update setting ``names`` from ``b_{name}`` parameters (and ``updated_at`` from the database clock
    when ``db_clock``), one per set of names."""
    values: dict[str, Any] = {name: bindparam(f"b_{name}") for name in names}
    if db_clock:
        values["updated_at"] = _PG_NOW
    return _FENCE.values(**values)


class OutboxRepository:
    def __init__(self, session: Executor) -> None:
        self.session = session

    def claim(self, replica: str, limit: int, lease: timedelta) -> list[OutboxClaim]:
        """Lease up to ``limit`` due rows (§3.2)."""
        if limit <= 0:
            return []
        now = db_now(self.session)
        ids = list(self.session.execute(_DUE_IDS, {"b_now": now, "b_limit": limit}).scalars())
        if not ids:
            return []
        token = secrets.token_hex(8)
        until = now + lease
        lease_values = {"b_ids": ids, "b_owner": replica, "b_token": token, "b_until": until, "b_now": now}
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
            for row in self.session.execute(_LEASE, lease_values)
        ]
        return sorted(claims, key=lambda claim: claim.id)

    def renew(self, claim: OutboxClaim, lease: timedelta) -> datetime | None:
        """Extend a live lease; None when it was lost (another holder, or the row finished)."""
        now = db_now(self.session)
        return now + lease if self.fenced(claim, lease_until=now + lease, updated_at=now) else None

    def fenced(self, claim: OutboxClaim, **values: Any) -> bool:
        """Update the claimed row only while the claim holds it (§3.2 "Finish")."""
        fence = {"b_id": claim.id, "b_token": claim.token}
        db_clock = "updated_at" not in values and dialect_of(self.session) == "postgresql"
        if "updated_at" not in values and not db_clock:
            values["updated_at"] = utcnow()
        fence.update({f"b_{name}": value for name, value in values.items()})
        statement = _fenced(tuple(values), db_clock)
        return self.session.execute(statement, fence).rowcount == 1  # type: ignore[attr-defined]

    def release(self, claim: OutboxClaim) -> bool:
        """Give an unworked row back (shutdown, breaker, pause): lease cleared, the claim not counted."""
        # while the fence holds, the row's claim count is still this claim's (a re-claim changes the token)
        return self.fenced(claim, lease_owner=None, lease_token=None, lease_until=None, claims=claim.claims - 1)

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
        return orm(self.session).execute(stmt).scalar_one_or_none()

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
    def __init__(self, session: Executor) -> None:
        self.session = session

    def add(self, **values: Any) -> None:
        self.add_many([values])

    def add_many(self, rows: list[dict[str, Any]]) -> None:
        """Attempt rows in one executemany (no ORM objects: this runs for every ERP call)."""
        if rows:
            self.session.execute(_ADD_ATTEMPTS, rows)  # Core executemany: column defaults, no ORM objects

    def of_statement(self, statement_id: str) -> Select[Any]:
        return select(ErpAttempt).where(ErpAttempt.statement_id == statement_id)

    def purge(self, before: datetime) -> int:
        result = self.session.execute(delete(ErpAttempt).where(ErpAttempt.started_at < before))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


CONTROL = cast(Table, ErpControl.__table__)
_PAUSED = select(CONTROL.c.paused).where(CONTROL.c.id == 1)


class ControlRepository:
    def __init__(self, session: Executor) -> None:
        self.session = session

    def paused(self) -> bool:
        """Whether the queue is paused (a missing control row is not)."""
        return bool(self.session.execute(_PAUSED).scalar())

    def get(self, *, for_update: bool = False) -> ErpControl:
        """The one control row (created when missing)."""
        session = orm(self.session)
        control = session.get(ErpControl, 1, with_for_update=for_update)
        if control is None:  # the migration seeds it; concurrent first users may both insert
            dialect_insert = postgresql_insert if dialect_of(session) == "postgresql" else sqlite_insert
            session.execute(dialect_insert(ErpControl).values(id=1, paused=False).on_conflict_do_nothing())
            control = session.get(ErpControl, 1, with_for_update=for_update)
            assert control is not None
        return control


STATEMENT = cast(Table, Statement.__table__)


_S = STATEMENT.c
_FACTS = select(
    _S.id,
    _S.type,
    _S.seller_id,
    _S.buyer_id,
    _S.licensee_id,
    _S.agreement_id,
    _S.currency_sale,
    _S.currency_purchase,
    _S.queued_at,
).where(_S.id == bindparam("b_id"))
_STATE = (
    select(_S.status, _S.audit, _S.ledger_id, _S.custom_ledger_id).where(_S.id == bindparam("b_id")).with_for_update()
)
_QUEUED_AUDITS = (
    select(_S.id, _S.audit)
    .where(_S.id.in_(bindparam("b_ids", expanding=True)), _S.status == "Queued")
    .with_for_update()
)
_CHARGE_LINES = (
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
    .where(in_statement(bindparam("b_id")))
    .order_by(Charge.id)
    .limit(bindparam("b_limit"))
)


@functools.cache
def _statement_update(names: tuple[str, ...]) -> Update:
    """``UPDATE statement SET {name} = :b_{name}, … WHERE id = :b_id``, built once per set of names."""
    return update(STATEMENT).where(_S.id == bindparam("b_id")).values({name: bindparam(f"b_{name}") for name in names})


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

    def __init__(self, session: Executor) -> None:
        self.session = session

    def facts(self, statement_id: str) -> StatementFacts | None:
        row = self.session.execute(_FACTS, {"b_id": statement_id}).first()
        return StatementFacts(*row) if row is not None else None

    def state(self, statement_id: str) -> StatementState | None:
        """The statement's status, audit and parents, locked for the caller's update (PostgreSQL)."""
        row = self.session.execute(_STATE, {"b_id": statement_id}).first()
        return StatementState(*row) if row is not None else None

    def update_statement(self, statement_id: str, **values: Any) -> None:
        self.update_statements({statement_id: values})

    def update_statements(self, changes: dict[str, dict[str, Any]]) -> None:
        """Set each statement's columns (every change names the same columns): one executemany."""
        if changes:
            names = tuple(next(iter(changes.values())))
            rows = [{"b_id": id_, **{f"b_{name}": values[name] for name in names}} for id_, values in changes.items()]
            self.session.execute(_statement_update(names), rows)

    def queued_audits(self, statement_ids: list[str]) -> list[tuple[str, dict[str, Any] | None]]:
        """(id, audit) of those statements still Queued, locked for the caller's update (PostgreSQL)."""
        return [(row[0], row[1]) for row in self.session.execute(_QUEUED_AUDITS, {"b_ids": statement_ids})]

    def charge_lines(self, statement_id: str, *, limit: int) -> list[ChargeLine]:
        """The statement's charges in id order (at most ``limit``: the caller learns whether there are more)."""
        return [
            ChargeLine(*row) for row in self.session.execute(_CHARGE_LINES, {"b_id": statement_id, "b_limit": limit})
        ]

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

    def statement(self, statement_id: str, *, for_update: bool = False) -> Statement | None:
        return orm(self.session).get(Statement, statement_id, with_for_update=for_update, populate_existing=for_update)


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
