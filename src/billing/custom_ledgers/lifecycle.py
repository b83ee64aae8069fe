"""The custom ledger transition table (billing-api.md §7.3) and its completion when its statements end."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from billing.auth.principal import SYSTEM_ACTOR
from billing.db.models import CustomLedger
from billing.kit.lifecycle import Transition, TransitionTable
from billing.statements.repository import StatementRepository

LABEL = "Custom ledger"
TRANSITIONS = TransitionTable(
    LABEL,
    [
        Transition("upload", ("Draft", "Validated", "Error"), "Validating"),
        Transition("validated", ("Validating",), "Validated"),
        Transition("failed", ("Validating",), "Error"),
        Transition("delete", ("Draft", "Validated", "Error"), "Deleted"),
        Transition("accept", ("Validated",), "Generating"),
        Transition("generated", ("Generating",), "Generated"),
        Transition("queue", ("Generated",), "Queued"),
        Transition("complete", ("Generated", "Queued"), "Completed"),
    ],
)
#: A statement in one of these no longer keeps its parent open (§7.2, §7.3).


def follow_custom_ledger(session: Session, ledger_id: str, at: datetime) -> None:
    """Generated/Queued → Completed once every statement of the custom ledger is Issued or Cancelled."""
    ledger = session.get(CustomLedger, ledger_id, with_for_update=True)
    if ledger is None or ledger.status not in ("Generated", "Queued"):
        return
    session.flush()  # the caller's change of its statement counts in the check below
    if StatementRepository(session).all_terminal(custom_ledger_id=ledger_id):
        TRANSITIONS.apply(ledger, "complete", SYSTEM_ACTOR, at)
