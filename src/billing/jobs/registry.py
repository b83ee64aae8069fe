"""Work handlers by work-item kind, shared by the in-process worker and the daemon."""

from __future__ import annotations

from billing.custom_ledgers.jobs import generate_custom_statements, validate_custom_ledger
from billing.custom_ledgers.service import GENERATE_JOB as CUSTOM_GENERATE_JOB
from billing.custom_ledgers.service import VALIDATE_JOB as CUSTOM_VALIDATE_JOB
from billing.jobs.worker import Handler
from billing.journals.jobs import validate_journal
from billing.journals.service import RATE_JOB, VALIDATE_JOB
from billing.ledgers.service import GENERATE_JOB
from billing.ledgers.service import RATE_JOB as LEDGER_RATE_JOB
from billing.rating.jobs import rate_journal, rerate_ledger
from billing.statements.generation import generate_statements

HANDLERS: dict[str, Handler] = {
    VALIDATE_JOB: validate_journal,
    RATE_JOB: rate_journal,
    LEDGER_RATE_JOB: rerate_ledger,
    GENERATE_JOB: generate_statements,
    CUSTOM_VALIDATE_JOB: validate_custom_ledger,
    CUSTOM_GENERATE_JOB: generate_custom_statements,
}
