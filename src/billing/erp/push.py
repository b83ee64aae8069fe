"""Exactly-once push of statements to the ERP (erp-integration.md §3).

Three parts make it exactly once: the outbox row written with the Queued transition (nothing lost), a lease
with fenced finishing (one worker per statement), and a lookup by External_Document_No before anything is
created again (an uncertain outcome never makes a second document). One claim runs `ClaimRun.push`:

1. plan the document from the statement and current reference data (`PlanError` → Error ``ERP:0006``);
2. look up when the row was claimed before, has a stage, or a call in this claim had an unknown outcome;
3. Create the header (recorded as stage ``header`` with its number, fenced);
4. Update with the missing lines;
5. finish: outbox ``done``, statement Issued with ``externalIds.erpId``.

In-call retries (tenacity waits, ``erp.push.in_call``) stay inside one claim; retries across ticks are data
(``failures``, ``next_attempt_at``), never sleeps. Auth and configuration failures pause the whole queue.
"""

from __future__ import annotations

import queue
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_any,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from billing.auth.principal import SYSTEM_ACTOR
from billing.db.engine import Database, Executor
from billing.erp.breaker import CircuitBreaker, TokenBucket
from billing.erp.errors import (
    ERP_DIVERGED,
    ERP_DUPLICATE,
    ERP_RETRIES_EXHAUSTED,
    ErpAuthError,
    ErpConfigError,
    ErpError,
    ErpRejectedError,
    ErpResyncError,
    ErpRetryableError,
)
from billing.erp.gateway import DocType, ErpDocument, ErpGateway, line_batches
from billing.erp.plan import DocumentPlan, PlanError, Planner, doc_type_of
from billing.erp.repository import (
    AttemptRepository,
    ControlRepository,
    OutboxClaim,
    OutboxRepository,
    PlanRepository,
    StatementState,
)
from billing.erp.settings import ErpSettings
from billing.kit.audit import with_events
from billing.kit.timeutil import utcnow
from billing.metrics import DaemonMetrics
from billing.reference.repository import ReferenceRepository
from billing.statements.lifecycle import follow_statements
from billing.statements.repository import TERMINAL_STATUSES

log = structlog.get_logger("billing.erp.push")
T = TypeVar("T")
EXCERPT = 2048
REFERENCE_TTL_S = 5.0
WORKERS_PER_SLOT = 2  # threads per ERP call slot: one in the call, one in the database
RESYNCS_PER_CLAIM = 3  # look-ups again after a resync fault, stale Key or settled unknown outcome


class LeaseLost(Exception):
    """Another worker holds the row now (or it finished): stop without another ERP call."""


class EndClaim(Exception):
    """Stop this claim and schedule the row: ``error`` is the last ERP failure, ``not_before`` the earliest
    next try (an unknown outcome must settle first)."""

    def __init__(self, error: ErpRetryableError, not_before: float = 0.0) -> None:
        super().__init__(error.message)
        self.error = error
        self.not_before = not_before


@dataclass(frozen=True, slots=True)
class Decision:
    """What a lookup found, and what to do next (§3.3 step 2)."""

    action: str  # none | complete | resume | update_header | recreate | dead
    document: ErpDocument | None = None
    error_id: str | None = None
    message: str | None = None


def decide(found: list[ErpDocument], plan: DocumentPlan) -> Decision:
    """The §3.3 decision table; a posted document that names a found unposted one as its ``Pre_Assigned_No``
    is that document, posted between the reads (the posted one counts)."""
    posted_from = {doc.pre_assigned_no for doc in found if doc.posted and doc.pre_assigned_no}
    documents = [doc for doc in found if doc.posted or doc.no not in posted_from]
    if len(documents) > 1:
        numbers = ", ".join(doc.no for doc in documents)
        message = f"The ERP holds {len(documents)} documents for {plan.header.external_document_no}: {numbers}."
        return Decision("dead", error_id=ERP_DUPLICATE, message=message)
    if not documents:
        return Decision("none")
    document = documents[0]
    if document.posted:
        return Decision("complete", document)
    planned = plan.line_nos
    if document.line_nos - planned:
        extra = ", ".join(str(n) for n in sorted(document.line_nos - planned))
        message = f"ERP document {document.no} has lines outside the plan ({extra}); an operator must decide."
        return Decision("dead", document, ERP_DIVERGED, message)
    if planned and planned <= document.line_nos:
        return Decision("complete", document)
    header = plan.header
    same_header = (
        document.sell_to_customer_no == header.sell_to_customer_no
        and document.bill_to_customer_no == header.bill_to_customer_no
        and document.currency_code == header.currency_code
    )
    if same_header:
        return Decision("resume", document)
    return Decision("recreate" if document.line_nos else "update_header", document)


@dataclass
class PushStats:
    claimed: int = 0
    issued: int = 0
    failed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)


class Pusher:
    """Claims due outbox rows and pushes each in a thread of a pool of ``slots`` (the replica's share of
    ``erp.max_in_flight``)."""

    def __init__(
        self,
        database: Database,
        settings: ErpSettings,
        gateway: ErpGateway,
        replica: str,
        *,
        slots: int | None = None,
        breaker: CircuitBreaker | None = None,
        rng: random.Random | None = None,
        metrics: DaemonMetrics | None = None,
    ) -> None:
        self.database = database
        self.settings = settings
        self.gateway = gateway
        self.replica = replica
        self.slots = max(1, slots or settings.max_in_flight)
        self.breaker = breaker or CircuitBreaker(settings.breaker)
        #: this replica's part of erp.rate_limit_per_minute (the daemon re-splits it on each heartbeat)
        self.bucket = TokenBucket(settings.rate_limit_per_minute)
        self.rng = rng or random.Random()
        self.metrics = metrics
        self.stopping = False
        self.in_flight = 0  # ERP calls under way in this process (read by the metrics)
        self._references: dict[tuple[str, str], tuple[float, dict[str, Any] | None]] = {}
        self._calls = threading.Condition()

    def tick(self, max_seconds: float = 30.0) -> PushStats:
        """Push while rows are due, for at most ``max_seconds``: a slot that frees up gets the next row at once,
        so the ERP sees a steady ``slots`` calls in flight instead of batches waiting for their slowest row.

        Twice as many threads as call slots: while one thread plans or records a row in the database, another
        holds its call slot, so the database work never leaves an ERP slot idle. Rows are claimed ahead, a batch
        at a time, and wait in a queue for a thread; each thread reports its row's outcome on a second queue."""
        stats = PushStats()
        deadline = time.monotonic() + max_seconds
        self._references.clear()  # each tick plans with current reference data
        work: queue.SimpleQueue[OutboxClaim | None] = queue.SimpleQueue()
        outcomes: queue.SimpleQueue[tuple[str, BaseException | None]] = queue.SimpleQueue()
        threads = [
            threading.Thread(target=self._serve, args=(work, outcomes), name=f"erp-push-{n}", daemon=True)
            for n in range(WORKERS_PER_SLOT * self.slots)
        ]
        for thread in threads:
            thread.start()
        pending = 0
        failure: BaseException | None = None
        try:
            while True:
                share = self.slots  # the heartbeat may re-split the cluster's slots while this runs
                # claim ahead once the queue runs low: a batch per claim, at most one row per call slot waiting
                low = pending <= WORKERS_PER_SLOT * share
                if low and failure is None and not self.stopping and time.monotonic() < deadline:
                    claims = self._claim_within_breaker((WORKERS_PER_SLOT + 1) * share - pending)
                    stats.claimed += len(claims)
                    pending += len(claims)
                    for claim in claims:
                        work.put(claim)
                if not pending:
                    break
                outcome, error = outcomes.get()
                pending -= 1
                if error is not None:
                    failure = failure or error  # no more claims; the rows under way finish first
                else:
                    stats.outcomes[outcome] = stats.outcomes.get(outcome, 0) + 1
        finally:
            for _ in threads:
                work.put(None)
            for thread in threads:
                thread.join()
        if failure is not None:
            raise failure
        stats.issued = stats.outcomes.get("issued", 0) + stats.outcomes.get("cancelled", 0)
        stats.failed = stats.outcomes.get("dead", 0)
        return stats

    def _serve(
        self, work: queue.SimpleQueue[OutboxClaim | None], outcomes: queue.SimpleQueue[tuple[str, BaseException | None]]
    ) -> None:
        while (claim := work.get()) is not None:
            try:
                outcomes.put((self.process(claim), None))
            except BaseException as exc:  # reported to the tick, which stops claiming and raises it
                outcomes.put(("", exc))

    def _claim_within_breaker(self, free: int) -> list[OutboxClaim]:
        """Up to ``free`` rows while the breaker is closed; one probe row once its cool-down has passed."""
        if self.breaker.allows_traffic():
            return self.claim(free)
        if not self.breaker.probe_slots():
            return []
        claims = self.claim(1)
        if not claims:
            self.breaker.cancel_probe()  # nothing to probe with: the next due row will
        return claims

    def reference(self, executor: Executor, entity: str, object_id: str) -> dict[str, Any] | None:
        """A reference document, read once per tick (and at most every few seconds) rather than once per charge;
        a miss reads it on the caller's connection (a second one per thread could exhaust the pool)."""
        key = (entity, object_id)
        cached = self._references.get(key)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        document = ReferenceRepository(executor).get_doc(entity, object_id)
        self._references[key] = (now + REFERENCE_TTL_S, document)
        return document

    def call_started(self) -> None:
        """Wait for one of this replica's ERP call slots (its share of ``erp.max_in_flight``, §3.7)."""
        with self._calls:
            while self.in_flight >= self.slots:
                self._calls.wait()
            self.in_flight += 1

    def call_finished(self) -> None:
        with self._calls:
            self.in_flight -= 1
            self._calls.notify()

    def claim(self, limit: int) -> list[OutboxClaim]:
        if limit <= 0:
            return []
        with self.database.transaction() as connection:
            if ControlRepository(connection).paused():
                return []
            claims = OutboxRepository(connection).claim(
                self.replica, min(limit, self.settings.push.batch), timedelta(seconds=self.settings.push.lease_s)
            )
            first_pushes = [claim.statement_id for claim in claims if claim.op == "push"]
            if first_pushes:  # first-time claims move their statement Queued → Pending (§3.2)
                plans = PlanRepository(connection)
                now = utcnow()
                plans.update_statements(
                    {
                        statement_id: {
                            "status": "Pending",
                            "audit": with_events(audit or {}, ["pending"], SYSTEM_ACTOR, now),
                            "updated_at": now,
                        }
                        for statement_id, audit in plans.queued_audits(first_pushes)
                    }
                )
        return claims

    def process(self, claim: OutboxClaim) -> str:
        if self.stopping:  # claimed but not started: give it back uncounted (fenced)
            with self.database.session_scope() as session:
                OutboxRepository(session).release(claim)
            return "released"
        run = ClaimRun(self, claim)
        try:
            with self.gateway.correlate(run.correlation_id):
                return run.withdraw() if claim.op == "withdraw" else run.push()
        except LeaseLost:
            run.record_lost()
            log.warning("erp.push.lease_lost", statement_id=claim.statement_id, replica=self.replica)
            return "lease_lost"
        except (ErpAuthError, ErpConfigError) as exc:
            run.pause(exc)
            return "paused"
        except EndClaim as end:
            return run.reschedule(end.error, end.not_before)
        except ErpRejectedError as exc:
            return run.dead(exc.error_id, exc.message)
        except PlanError as exc:
            return run.dead(exc.error_id, str(exc))


class ClaimRun:
    """One claim of one outbox row: its ERP calls, their attempt rows and the fenced finish."""

    def __init__(self, pusher: Pusher, claim: OutboxClaim) -> None:
        self.pusher = pusher
        self.settings = pusher.settings
        self.gateway = pusher.gateway
        self.database = pusher.database
        self.claim = claim
        self.correlation_id = uuid.uuid4().hex
        #: when the lease runs out, on this process's monotonic clock
        self.lease_deadline = time.monotonic() + (claim.lease_until - claim.claimed_at).total_seconds()
        self.attempts: list[dict[str, Any]] = []

    # --- the push ---------------------------------------------------------------------------------------
    def push(self) -> str:
        plan = self._plan()
        doc_type = plan.doc_type
        need_lookup = self.claim.claims > 1 or self.claim.stage != "none"
        resyncs = 0
        while True:
            try:
                document: ErpDocument | None = None
                if need_lookup:
                    decision = decide(self._look_up(doc_type, plan.header.external_document_no), plan)
                    if decision.action == "dead":
                        assert decision.error_id and decision.message
                        if decision.error_id == ERP_DUPLICATE and self.pusher.metrics:
                            self.pusher.metrics.duplicates.inc()
                        return self.dead(decision.error_id, decision.message)
                    if decision.action == "complete":
                        assert decision.document is not None
                        return self.done(decision.document, "found")
                    if decision.action == "resume":
                        document = decision.document
                    elif decision.action == "update_header":
                        assert decision.document is not None
                        document = self._call(
                            doc_type, "Update", self.gateway.update_header, doc_type, decision.document, plan.header
                        )
                    elif decision.action == "recreate":
                        assert decision.document is not None
                        self._call(doc_type, "Delete", self.gateway.delete, doc_type, decision.document)
                if document is None:
                    document = self._call(doc_type, "Create", self.gateway.create, doc_type, plan.header)
                    self._stage("header", document.no)
                missing = [line for line in plan.lines if line.line_no not in document.line_nos]
                for batch in line_batches(missing, self.settings.push.max_lines_per_update):
                    document = self._call(doc_type, "Update", self.gateway.add_lines, doc_type, document, batch)
                self._check_total(plan, document)
                return self.done(document, "sent")
            except (ErpResyncError, _LookUpAgain) as exc:
                resyncs = _look_up_again(exc, resyncs)
                need_lookup = True

    def withdraw(self) -> str:
        """A cancel of a statement the push claimed before (§3.9): delete an unposted document, else report."""
        with self.database.read_scope() as session:
            statement = PlanRepository(session).statement(self.claim.statement_id)
            assert statement is not None
            doc_type = doc_type_of(statement)
            external = statement.id.upper()
        resyncs = 0
        while True:
            try:
                found = self._look_up(doc_type, external)
                posted = [doc for doc in found if doc.posted]
                if posted:
                    return self.done(posted[0], "found", refused_withdraw=True)
                for document in found:
                    self._call(doc_type, "Delete", self.gateway.delete, doc_type, document)
                return self.cancelled()
            except (ErpResyncError, _LookUpAgain) as exc:
                resyncs = _look_up_again(exc, resyncs)

    # --- calls ------------------------------------------------------------------------------------------
    def _call(
        self, doc_type: DocType, operation: str, fn: Callable[..., T], *args: Any, posted_page: bool = False
    ) -> T:
        """One ERP step with in-call retries (tenacity, §3.5); an attempt row per call.

        Retries only failures certain not to have been applied, at most ``max_tries`` within ``budget_s``
        (a ``Retry-After`` that does not fit ends the claim). An unknown outcome waits ``uncertain_settle_s``
        and looks up again, or ends the claim when that does not fit the budget; a stale Key looks up again.
        """
        service = self._service(doc_type, operation, posted_page)
        in_call = self.settings.push.in_call
        planned: dict[int, float] = {}
        exponential = wait_random_exponential(multiplier=in_call.wait_multiplier_s, max=in_call.wait_max_s)

        def delay(state: RetryCallState) -> float:
            if state.attempt_number not in planned:
                error = state.outcome.exception() if state.outcome else None
                hint = error.retry_after if isinstance(error, ErpRetryableError) else None
                planned[state.attempt_number] = hint if hint is not None else exponential(state)
            return planned[state.attempt_number]

        def out_of_budget(state: RetryCallState) -> bool:
            return self.pusher.stopping or (state.seconds_since_start or 0.0) + delay(state) > in_call.budget_s

        retrying = Retrying(
            retry=retry_if_exception(_retry_in_call),
            stop=stop_any(stop_after_attempt(in_call.max_tries), _StopWhen(out_of_budget)),
            wait=delay,
            reraise=True,
        )
        started_step = time.monotonic()
        try:
            return retrying(self._once, service, fn, *args)
        except ErpRetryableError as exc:
            if _is_stale(exc):
                raise _LookUpAgain from exc
            if exc.certain_not_applied:
                raise EndClaim(exc, not_before=exc.retry_after or 0.0) from exc
            settle = self.settings.push.uncertain_settle_s
            if time.monotonic() - started_step + settle > in_call.budget_s or self.pusher.stopping:
                raise EndClaim(exc, not_before=settle) from exc
            time.sleep(settle)  # the ERP may still be executing the request: let it finish, then look up
            raise _LookUpAgain from exc

    def _once(self, service: str, fn: Callable[..., T], *args: Any) -> T:
        self._ensure_lease()
        self.pusher.bucket.take()
        self.pusher.call_started()
        started = time.monotonic()
        try:
            result = fn(*args)
        except ErpError as exc:
            self._attempt(service, started, _outcome(exc), exc)
            self.pusher.breaker.record(exc)
            raise
        finally:
            self.pusher.call_finished()
        self._attempt(service, started, "ok", None)
        self.pusher.breaker.record(None)
        return result

    def _look_up(self, doc_type: DocType, external: str) -> list[ErpDocument]:
        """Unposted, then posted documents with this External_Document_No: two calls, two attempt rows."""
        unposted = self._call(doc_type, "ReadMultiple", partial(self.gateway.find, posted=False), doc_type, external)
        posted = partial(self.gateway.find, posted=True)
        return unposted + self._call(doc_type, "ReadMultiple", posted, doc_type, external, posted_page=True)

    def _check_total(self, plan: DocumentPlan, document: ErpDocument) -> None:
        """The ERP's amounts are the truth; a net differing from the plan by over 0.01 per line is logged (§1.7)."""
        if document.amount is None or not plan.lines:
            return
        expected = sum((line.quantity * line.unit_price for line in plan.lines), Decimal(0))
        if abs(abs(document.amount) - abs(expected)) > Decimal("0.01") * len(plan.lines):
            log.warning(
                "erp.push.total_mismatch",
                statement_id=self.claim.statement_id,
                document_no=document.no,
                erp_amount=str(document.amount),
                expected=str(expected),
            )
            if self.pusher.metrics:
                self.pusher.metrics.total_mismatch.inc()

    def _service(self, doc_type: DocType, operation: str, posted_page: bool) -> str:
        """``SalesInvoice.Create``, ``PostedSalesCreditMemo.ReadMultiple``, … for the attempt log."""
        services = self.settings.services
        if posted_page:
            name = services.posted_sales_invoice if doc_type == "invoice" else services.posted_sales_credit_memo
        else:
            name = services.sales_invoice if doc_type == "invoice" else services.sales_credit_memo
        return f"{name}.{operation}"

    def _ensure_lease(self) -> None:
        """Extend the lease (fenced) when less than one call plus the settle time remains (§3.2)."""
        push = self.settings.push
        margin = self.settings.timeouts.operation_s + push.uncertain_settle_s
        if self.lease_deadline - time.monotonic() >= margin:
            return
        with self.database.session_scope() as session:
            renewed = OutboxRepository(session).renew(self.claim, timedelta(seconds=push.lease_s))
        if renewed is None:
            raise LeaseLost
        self.lease_deadline = time.monotonic() + push.lease_s

    def _attempt(self, operation: str, started: float, outcome: str, error: ErpError | None) -> None:
        exchange = self.gateway.last_exchange()
        self.attempts.append(
            {
                "outbox_id": self.claim.id,
                "statement_id": self.claim.statement_id,
                "claim_no": self.claim.claims,
                "seq": len(self.attempts) + 1,
                "replica": self.pusher.replica,
                "correlation_id": self.correlation_id,
                "operation": operation,
                "started_at": utcnow() - timedelta(seconds=time.monotonic() - started),
                "duration_ms": int((time.monotonic() - started) * 1000),
                "http_status": error.http_status if error else (exchange.http_status if exchange else 200),
                "outcome": outcome,
                "fault_code": error.fault_code if error else None,
                "fault_message": error.message[:EXCERPT] if error else None,
                "request_excerpt": exchange.request_excerpt if exchange else None,
                "response_excerpt": exchange.response_excerpt if exchange else None,
            }
        )
        if self.pusher.metrics:
            self.pusher.metrics.on_call(operation, outcome, time.monotonic() - started)

    def _flush_attempts(self, executor: Executor) -> None:
        AttemptRepository(executor).add_many(self.attempts)
        self.attempts = []

    # --- finishing --------------------------------------------------------------------------------------
    def _plan(self) -> DocumentPlan:
        with self.database.read_transaction() as connection:
            plans = PlanRepository(connection)
            statement = plans.facts(self.claim.statement_id)
            if statement is None:
                raise PlanError(f"Statement {self.claim.statement_id} no longer exists.")
            planner = Planner(self.settings, partial(self.pusher.reference, connection))
            header = planner.header(statement)
            detailed_max = self.settings.push.detailed_max_charges
            charges = plans.charge_lines(statement.id, limit=detailed_max + 1)
            if len(charges) <= detailed_max:
                lines = planner.detailed_lines(statement, charges)
            else:
                lines = planner.compact_lines(statement, plans.item_totals(statement.id))
            return DocumentPlan(doc_type_of(statement), header, lines)

    def _stage(self, stage: str, document_no: str) -> None:
        with self.database.transaction() as connection:
            self._flush_attempts(connection)
            if not OutboxRepository(connection).fenced(self.claim, stage=stage, erp_document_no=document_no):
                raise LeaseLost

    def _finish(self, statement_change: Callable[[StatementState], dict[str, Any] | None] | None, **row: Any) -> bool:
        """End the claim (fenced) and, in the same transaction, apply ``statement_change``'s column values to the
        statement; a statement that became Issued or Cancelled lets its ledger follow."""
        with self.database.transaction() as connection:
            self._flush_attempts(connection)
            row.update(lease_owner=None, lease_token=None, lease_until=None)
            if not OutboxRepository(connection).fenced(self.claim, **row):
                return False
            plans = PlanRepository(connection)
            state = plans.state(self.claim.statement_id) if statement_change is not None else None
            values = statement_change(state) if statement_change is not None and state is not None else None
            if state is not None and values:
                now = utcnow()
                if "status" in values:
                    event = values["status"].lower()
                    values["audit"] = with_events(state.audit or {}, [event], SYSTEM_ACTOR, now)
                plans.update_statement(self.claim.statement_id, **values, updated_at=now)
                if values.get("status") in TERMINAL_STATUSES:
                    with self.database.orm_within(connection) as orm:  # the ledger may complete: objects change
                        follow_statements(orm, state.ledger_id, state.custom_ledger_id, now)
        return True

    def done(self, document: ErpDocument, resolution: str, *, refused_withdraw: bool = False) -> str:
        erp_id = document.pre_assigned_no if document.posted and document.pre_assigned_no else document.no
        notes = (
            f"Cancel refused: ERP document {document.no} is already posted; a credit memo is needed."
            if refused_withdraw
            else None
        )

        def issue(statement: StatementState) -> dict[str, Any] | None:
            if statement.status in TERMINAL_STATUSES:
                return None
            return {"status": "Issued", "external_erp_id": erp_id, "error": None, "status_notes": notes}

        outcome = "refused_posted" if refused_withdraw else "ok"
        stage = {"stage": "complete", "erp_document_no": erp_id, "resolution": resolution, "last_outcome": outcome}
        if not self._finish(issue, state="done", **stage):
            raise LeaseLost
        log.info("erp.push.sent", statement_id=self.claim.statement_id, document_no=erp_id, resolution=resolution)
        return "issued"

    def cancelled(self) -> str:
        def cancel(statement: StatementState) -> dict[str, Any] | None:
            if statement.status in TERMINAL_STATUSES:
                return None
            return {"status": "Cancelled", "status_notes": None}

        if not self._finish(cancel, state="cancelled", last_outcome="ok"):
            raise LeaseLost
        return "cancelled"

    def dead(self, error_id: str, message: str) -> str:
        def fail(statement: StatementState) -> dict[str, Any] | None:
            if statement.status in TERMINAL_STATUSES:
                return None
            return {"status": "Error", "error": {"id": error_id, "message": message}, "status_notes": None}

        finished = self._finish(
            fail, state="dead", last_outcome="permanent", last_error_code=error_id, last_error=message
        )
        log.warning(
            "erp.push.failed",
            statement_id=self.claim.statement_id,
            error_id=error_id,
            message=message,
            finished=finished,
        )
        return "dead" if finished else "lease_lost"

    def reschedule(self, error: ErpRetryableError, not_before: float) -> str:
        """Across ticks (§3.5): counted failures back off exponentially; throttled ones do not count."""
        now = utcnow()
        backoff = self.settings.push.backoff
        rng = self.pusher.rng
        if error.throttled:
            delay = max(error.retry_after or 0.0, 5.0) * rng.uniform(1.0, 1.5)
            finished = self._finish(None, next_attempt_at=now + timedelta(seconds=delay), last_outcome="throttled")
            return "throttled" if finished else "lease_lost"
        failures = self.claim.failures + 1
        if failures >= backoff.max_failures:
            return self.dead(ERP_RETRIES_EXHAUSTED, f"ERP retries exhausted after {failures} failures: {error.message}")
        delay = min(backoff.cap_s, backoff.base_s * 2 ** (failures - 1)) * rng.uniform(0.75, 1.25)
        delay = max(delay, not_before, error.retry_after or 0.0)
        next_at = now + timedelta(seconds=delay)
        notes = f"ERP attempt {failures} failed ({error.message}); next at {next_at.isoformat(timespec='seconds')}Z."

        def note(statement: StatementState) -> dict[str, Any] | None:
            return {"status_notes": notes[:1000]} if statement.status == "Pending" else None

        finished = self._finish(
            note,
            failures=failures,
            next_attempt_at=next_at,
            last_outcome=error.outcome,
            last_error=error.message,
        )
        return "retry" if finished else "lease_lost"

    def pause(self, error: ErpError) -> None:
        """Auth or configuration failure: release the row uncounted and pause the queue (§3.5)."""
        with self.database.session_scope() as session:
            self._flush_attempts(session)
            OutboxRepository(session).release(self.claim)
            control = ControlRepository(session).get(for_update=True)
            if not control.paused:
                control.paused, control.pause_reason, control.paused_by = True, error.message[:1000], "auto"
                control.paused_at = utcnow()
        log.error("erp.queue.paused", reason=error.message)

    def record_lost(self) -> None:
        with self.database.session_scope() as session:
            self._flush_attempts(session)


class _LookUpAgain(Exception):
    """Go back to step 2 of §3.3 (after an unknown outcome had time to settle, or a stale Key)."""


class _StopWhen(stop_base):
    """A tenacity stop condition from a predicate (the in-call budget needs the next planned wait)."""

    def __init__(self, predicate: Callable[[RetryCallState], bool]) -> None:
        self.predicate = predicate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.predicate(retry_state)


def _look_up_again(error: Exception, resyncs: int) -> int:
    """Count one more return to the look-up; past `RESYNCS_PER_CLAIM` the claim ends as a retryable failure."""
    resyncs += 1
    if resyncs > RESYNCS_PER_CLAIM:
        cause = error.__cause__ if isinstance(error, _LookUpAgain) else error
        message = getattr(cause, "message", "the ERP document kept changing")
        raise EndClaim(ErpRetryableError(message, certain_not_applied=True)) from error
    return resyncs


def _retry_in_call(error: BaseException) -> bool:
    return isinstance(error, ErpRetryableError) and error.certain_not_applied and not _is_stale(error)


def _is_stale(error: ErpError) -> bool:
    return "Other user has modified" in error.message or "Another user has" in error.message


def _outcome(error: ErpError) -> str:
    if isinstance(error, ErpRetryableError):
        return error.outcome
    if isinstance(error, ErpAuthError):
        return "auth"
    if isinstance(error, ErpConfigError):
        return "config"
    if isinstance(error, ErpResyncError):
        return "retryable"
    return "permanent"
