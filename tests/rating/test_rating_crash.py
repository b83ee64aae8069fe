"""A rating worker killed (SIGKILL) in the middle of a journal: the next worker resumes it once the lease expires,
and every ledger, rated charge and statement exists exactly once (§9.1, §9.5; jobs are idempotent)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from decimal import Decimal

from rating_kit import SOURCES, accepted_journal, lines, multi_seller_world
from sqlalchemy import func, select

from billing.auth.principal import Principal, Role
from billing.charges.repository import charge_rows
from billing.db.models import Charge, Journal, Ledger, Statement, WorkItem
from billing.ledgers.service import LedgerService
from billing.rating.jobs import charge_rater, ledger_id
from billing.rating.pricing import rate

LINES = 600
#: The worker, with small rating transactions that each linger a moment before they commit, so that the kill
#: lands while some ranges are committed and one is in flight.
WORKER = textwrap.dedent(
    """
    import sys, time
    from billing.db.engine import Database
    from billing.jobs.worker import run_pending
    from billing.rating import jobs
    from billing.rating.repository import RatingRepository
    from billing.settings import Settings

    jobs.LINES_PER_TRANSACTION = 25
    rate = RatingRepository.rate

    def lingering(self, *args, **kwargs):
        rate(self, *args, **kwargs)
        time.sleep(0.2)

    RatingRepository.rate = lingering
    settings = Settings(database_url=sys.argv[1], worker={"enabled": False, "lease_s": 1})
    run_pending(Database(sys.argv[1]), settings, {"journal.rate": jobs.rate_journal})
    """
)


def test_a_killed_rating_resumes_and_rates_everything_once(api, db, drain, ops, database_url, tmp_path):
    journal_id = accepted_journal(api, drain, multi_seller_world(), lines(LINES))

    env = {**os.environ, "BILLING_LOG__LEVEL": "WARNING"}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, database_url], env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # some ranges committed, the journal not finished
            with db.read_scope() as session:
                rated = session.execute(select(func.count()).where(Charge.ledger_id.is_not(None))).scalar_one()
            if rated:
                break
            time.sleep(0.05)
        assert worker.poll() is None, "the worker finished before it could be killed"
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    with db.read_scope() as session:
        assert session.get(Journal, journal_id).status == "Generating"
        assert 0 < rated < LINES
        assert {ledger.status for ledger in session.execute(select(Ledger)).scalars()} == {"Rating"}

    resumed, deadline = 0, time.monotonic() + 30
    while not resumed and time.monotonic() < deadline:  # once the dead worker's lease (1 s) has expired
        time.sleep(0.2)
        resumed = drain()
    assert resumed == 1  # the same work item, claimed again
    with db.read_scope() as session:
        item = session.execute(select(WorkItem).where(WorkItem.kind == "journal.rate")).scalar_one()
        assert (item.state, item.attempts) == ("done", 2)
        journal = session.get(Journal, journal_id)
        assert journal.status == "Generated" and journal.processing["ready"] == LINES
        ledgers = {ledger.seller_id: ledger for ledger in session.execute(select(Ledger)).scalars()}
        sellers = sorted({seller for seller, *_ in SOURCES})
        assert sorted(ledgers) == sellers
        assert all(ledger.id == ledger_id(journal_id, ledger.seller_id) for ledger in ledgers.values())
        assert {ledger.status for ledger in ledgers.values()} == {"Review"}
        charges = list(session.execute(select(Charge).where(Charge.journal_id == journal_id)).scalars())
        assert len(charges) == LINES
        rater = charge_rater(session, journal.vendor_id, journal_id)
        for charge in charges:
            assert charge.ledger_id == ledgers[charge.seller_id].id and charge.processing_status == "Ready"
            markup = rater.markups.markup_for(agreement_id=charge.agreement_id, source_id=charge.subscription_id)
            expected = rate(charge.unit_pp, charge.quantity, charge.ppx1, markup)
            assert (charge.unit_sp, charge.spx1, charge.markup, charge.margin) == (
                expected.unit_sp,
                expected.spx1,
                expected.markup,
                expected.margin,
            )
        for ledger in ledgers.values():
            assert ledger.processing["total"] == sum(c.ledger_id == ledger.id for c in charges)
            assert ledger.total_sp == sum((c.spx1 for c in charges if c.ledger_id == ledger.id), Decimal(0))

    operator = Principal("ACC-0000-0001", Role.OPERATIONS, {"id": "USR-0000-0001", "name": "o", "icon": ""})
    for ledger_key in sorted(ledger.id for ledger in ledgers.values()):
        with db.session_scope() as session:
            LedgerService(session, operator).accept(ledger_key)
    drain()
    with db.read_scope() as session:
        statements = list(session.execute(select(Statement)).scalars())
        charges = list(session.execute(select(Charge)).scalars())
        shown_types = {row.id: row.statement_type for row in session.execute(charge_rows())}
    groups = Counter((c.ledger_id, c.agreement_id) for c in charges)
    assert sorted((s.ledger_id, s.agreement_id) for s in statements) == sorted(groups)
    assert all(s.status == "Generated" for s in statements)
    by_id = {s.id: s for s in statements}
    for charge in charges:
        statement = by_id[charge.statement_id]
        assert (statement.ledger_id, statement.agreement_id) == (charge.ledger_id, charge.agreement_id)
        assert shown_types[charge.id] == statement.type
    assert Counter(c.statement_id for c in charges) == {s.id: groups[(s.ledger_id, s.agreement_id)] for s in statements}
