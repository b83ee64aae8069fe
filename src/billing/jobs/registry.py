"""Work handlers by work-item kind, shared by the in-process worker and the daemon."""

from __future__ import annotations

from billing.jobs.worker import Handler
from billing.journals.jobs import validate_journal
from billing.journals.service import VALIDATE_JOB

#: ``journal.rate`` items are queued by journal accept and consumed by rating (a later release).
HANDLERS: dict[str, Handler] = {VALIDATE_JOB: validate_journal}
