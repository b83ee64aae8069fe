"""Statement rules (billing-api.md §5.4, §7.4) and the operator actions of erp-integration.md §3.9.

``issue`` (mark as sent) looks the named document up in the ERP unless ``verify=false``. A ``cancel`` that
needs the ERP (a statement the push already claimed) turns its outbox row into a ``withdraw`` for the push
worker. ``retry``, ``cancel`` and ``issue`` each leave a ``manual`` row in the ERP attempt log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.auth.capabilities import Scope
from billing.auth.principal import Principal
from billing.db.models import ErpOutbox, Statement
from billing.erp.gateway import ErpGateway
from billing.erp.plan import doc_type_of
from billing.erp.repository import AttemptRepository
from billing.erp.verify import verify_document
from billing.errors import InvalidStatus, NotFound, Unavailable, ValidationFailed
from billing.kit.audit import with_events
from billing.kit.lifecycle import Transition, TransitionTable
from billing.kit.timeutil import utcnow
from billing.statements.lifecycle import follow_statements, recalculate
from billing.statements.repository import StatementRepository
from billing.statements.schemas import StatementUpdate

LABEL = "Statement"
DEFAULT_ERROR = {"id": "SOM:0001", "message": "Marked as failed by operations."}
TRANSITIONS = TransitionTable(
    LABEL,
    [
        Transition("queue", ("Generated",), "Queued"),
        Transition("pending", ("Queued",), "Pending"),
        Transition("error", ("Queued", "Pending"), "Error"),
        Transition("retry", ("Error",), "Queued"),
        Transition("cancel", ("Generated", "Queued", "Error", "Pending"), "Cancelled"),
        Transition("issue", ("Queued", "Pending", "Error"), "Issued"),
        Transition("recalculate", ("Generated", "Error"), "Generating"),
    ],
)


class StatementService:
    def __init__(
        self, session: Session, principal: Principal, scope: Scope, gateway: Callable[[], ErpGateway] | None = None
    ) -> None:
        self.session = session
        self.principal = principal
        self.statements = StatementRepository(session)
        self.scope = scope
        self.gateway = gateway  # the ERP, for mark-as-sent verification

    def get(self, statement_id: str, *, for_update: bool = False) -> Statement:
        statement = self.statements.get(statement_id, self.principal, self.scope, for_update=for_update)
        if statement is None:
            raise NotFound.object(LABEL, statement_id)
        return statement

    def update(self, statement: Statement, data: StatementUpdate) -> Statement:
        """Editable by Operations in every status (§6.7)."""
        changed = False
        for name in data.model_fields_set & {"name", "notes"}:
            setattr(statement, name, getattr(data, name))
            changed = True
        if "external_ids" in data.model_fields_set and data.external_ids is not None:
            external = data.external_ids
            if "erp_id" in external.model_fields_set:
                statement.external_erp_id = external.erp_id
                changed = True
            if "operations" in external.model_fields_set:
                statement.external_operations = external.operations
                changed = True
        if changed:
            now = utcnow()
            statement.audit = with_events(statement.audit, [], self.principal.actor, now)
            statement.updated_at = now
        return statement

    def act(
        self,
        statement_id: str,
        action: str,
        data: StatementUpdate | None,
        *,
        verify: bool = True,
        reason: str | None = None,
    ) -> Statement:
        statement = self.get(statement_id, for_update=True)
        now = utcnow()
        if action == "retry" and statement.status in ("Queued", "Pending"):
            self._manual_attempt(statement, action, now, reason)
            return self._rearm(statement, data)
        TRANSITIONS.check(statement, action)
        if data is not None:
            self.update(statement, data)
        if action in ("retry", "cancel", "issue"):
            self._manual_attempt(statement, action, now, reason)
        if action == "cancel":
            return self._cancel(statement, now)
        if action == "issue":
            return self._issue(statement, now, verify)
        if action == "recalculate":
            return self._recalculate(statement, now)
        TRANSITIONS.apply(statement, action, self.principal.actor, now)
        if action == "error":
            given = data.error if data is not None and data.error is not None else None
            statement.error = (
                {"id": given.id or DEFAULT_ERROR["id"], "message": given.message} if given else dict(DEFAULT_ERROR)
            )
            self._outbox_state(statement, "dead")
        elif action in ("queue", "retry"):
            statement.error = None
            statement.queued_at = now
            self.statements.arm_outbox(statement, now)
        if action != "pending":
            statement.status_notes = None
        return statement

    def _issue(self, statement: Statement, now: datetime, verify: bool) -> Statement:
        """Mark as sent (§3.9): Issued with ``externalIds.erpId``; the pending send, if any, is withdrawn."""
        if not statement.external_erp_id:
            raise ValidationFailed.one("externalIds.erpId", "'externalIds.erpId' is required to issue a statement.")
        if verify:
            if self.gateway is None:
                raise Unavailable(
                    "No ERP is configured to verify the document; use ?verify=false to mark it as sent.", 60
                )
            verify_document(self.gateway(), doc_type_of(statement), statement.external_erp_id, statement.id)
        row = self._outbox(statement)
        if row is not None and row.lease_until is not None and row.lease_until > now:
            raise InvalidStatus(LABEL, statement.id, statement.status, "issue", ["not being sent (try again)"])
        if row is not None:
            row.state, row.resolution, row.erp_document_no, row.updated_at = (
                "done",
                "manual",
                statement.external_erp_id,
                now,
            )
        TRANSITIONS.apply(statement, "issue", self.principal.actor, now)
        statement.error = None
        statement.status_notes = None
        follow_statements(self.session, statement.ledger_id, statement.custom_ledger_id, now)
        return statement

    def _cancel(self, statement: Statement, now: datetime) -> Statement:
        """§3.9: never sent → Cancelled at once; claimed before and not held now → a ``withdraw`` for the ERP
        worker (Cancelled when it completes); held by a worker → 409 (try again)."""
        row = self._outbox(statement)
        if row is not None and row.lease_until is not None and row.lease_until > now:
            raise InvalidStatus(LABEL, statement.id, statement.status, "cancel", ["not being sent (try again)"])
        if row is not None and row.claims > 0:
            row.op, row.state, row.next_attempt_at, row.updated_at = "withdraw", "pending", now, now
            return statement
        if row is not None:  # never claimed (a Pending set by hand included): nothing exists in the ERP
            row.state, row.updated_at = "cancelled", now
        TRANSITIONS.apply(statement, "cancel", self.principal.actor, now)
        statement.status_notes = None
        follow_statements(self.session, statement.ledger_id, statement.custom_ledger_id, now)
        return statement

    def _recalculate(self, statement: Statement, now: datetime) -> Statement:
        """Generated/Error → Generating → Generated: re-rate, recompute totals and type, clear ``error``."""
        TRANSITIONS.apply(statement, "recalculate", self.principal.actor, now)
        statement.error = None
        recalculate(self.session, statement, self.principal.actor, now)
        return statement

    def _rearm(self, statement: Statement, data: StatementUpdate | None) -> Statement:
        """``retry`` on Queued/Pending: an immediate send if no worker holds it now (§5.4); else 409."""
        row = self._outbox(statement)
        now = utcnow()
        if row is not None and row.lease_until is not None and row.lease_until > now:
            raise InvalidStatus(LABEL, statement.id, statement.status, "retry", ["Error (or not being sent)"])
        if data is not None:
            self.update(statement, data)
        if row is not None:
            row.next_attempt_at = row.updated_at = now
        else:
            self.statements.arm_outbox(statement, now)
        return statement

    def _manual_attempt(self, statement: Statement, action: str, now: datetime, reason: str | None) -> None:
        row = self._outbox(statement)
        actor = self.principal.actor
        AttemptRepository(self.session).add(
            outbox_id=row.id if row else None,
            statement_id=statement.id,
            claim_no=row.claims if row else 0,
            operation=f"manual.{action}",
            started_at=now,
            outcome="manual",
            replica=f"user:{actor.get('id')}",
            fault_message=f"{action} by {actor.get('name') or actor.get('id')}" + (f": {reason}" if reason else ""),
        )

    def _outbox(self, statement: Statement) -> ErpOutbox | None:
        return self.session.execute(
            select(ErpOutbox).where(ErpOutbox.statement_id == statement.id)
        ).scalar_one_or_none()

    def _outbox_state(self, statement: Statement, state: str) -> None:
        row = self._outbox(statement)
        if row is not None:
            row.state = state
            row.updated_at = utcnow()
