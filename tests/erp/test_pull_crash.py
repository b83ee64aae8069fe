"""Scenario §6.13, pull survives crashes: ``billing erp pull posted_invoices`` runs as a real process against the
simulator over HTTP and is SIGKILLed right after random page commits, five times, then runs to the end. The
imported document numbers equal the simulator's, none twice, line counts equal, and every pushed statement is
linked. (The injected database failure of one page commit is `test_pull.py`'s checkpoint test.)

Bounded for CI: ``BILLING_PULL_CRASH_INVOICES`` (default 1,500; the spec's size is 5,000), 50 per page."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from billing.db.models import ErpCursor, Invoice, InvoiceLine
from billing.erp.push import Pusher
from billing.erp_sim.generate import generate_posted_invoices
from erp.factory import make_queued_statements
from erp.test_push import drive

INVOICES = int(os.environ.get("BILLING_PULL_CRASH_INVOICES", "1500"))
PAGE_SIZE = 50
KILLS = 5


def test_a_pull_killed_after_random_pages_resumes_and_imports_each_invoice_once(
    db, database_url, demo_world, erp_settings, gateway, simulator, tmp_path: Path
) -> None:
    statements = make_queued_statements(db, 8, charges=(1, 3))
    drive(Pusher(db, erp_settings, gateway, "replica-1", slots=2))
    simulator.post_now()
    generate_posted_invoices(simulator.store, simulator.context(), INVOICES, lines=(1, 20), seed=13)
    server = simulator.serve_in_thread()
    env = {
        **os.environ,
        "BILLING_DATABASE_URL": database_url,
        "BILLING_ERP__BASE_URL": server.base_url,
        "BILLING_ERP__PULL__PAGE_SIZE": str(PAGE_SIZE),
        "BILLING_ERP__PULL__SETTLE_S": "0",
        "BILLING_ERP__PULL__IMPORT_UNLINKED": "true",
        "BILLING_LOG__LEVEL": "WARNING",
    }
    pages = (INVOICES + len(statements)) // PAGE_SIZE
    rng = random.Random(5)
    kill_after = sorted(rng.sample(range(1, pages), KILLS))
    try:
        kills = 0
        for target in kill_after:
            process = subprocess.Popen(
                [sys.executable, "-m", "billing.cli", "erp", "pull", "posted_invoices"],
                env=env,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            deadline = time.monotonic() + 120
            while process.poll() is None and _pages_done(db) < target and time.monotonic() < deadline:
                time.sleep(0.01)
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait(30)
        finished = subprocess.run(
            [sys.executable, "-m", "billing.cli", "erp", "pull", "posted_invoices"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            timeout=300,
        )
        assert finished.returncode == 0, finished.stdout.decode() + finished.stderr.decode()
        documents = simulator.session().get(
            "http://erp-sim.test/_sim/documents", params={"page": "PostedSalesInvoice", "limit": 10000, "lines": "0"}
        )
    finally:
        server.stop()
    assert kills >= 3, "the runs ended before most kills; raise BILLING_PULL_CRASH_INVOICES"
    erp = {d["No"]: d["Lines"] for d in documents.json()["documents"]}
    with db.read_scope() as session:
        numbers = list(session.execute(select(Invoice.document_no)).scalars())
        lines = dict(
            session.execute(
                select(Invoice.document_no, func.count(InvoiceLine.id))
                .join(InvoiceLine, InvoiceLine.invoice_id == Invoice.id)
                .group_by(Invoice.document_no)
            ).all()
        )
        linked = set(session.execute(select(Invoice.statement_id).where(Invoice.statement_id.is_not(None))).scalars())
        cursor = session.get(ErpCursor, "posted_invoices")
    assert len(numbers) == len(set(numbers))  # none twice
    assert set(numbers) == set(erp)  # exactly the simulator's
    assert lines == erp  # line counts equal
    debits = {s for n, s in enumerate(statements) if n % 2 == 0}
    assert linked == debits  # every pushed (Debit) statement linked
    assert cursor is not None and cursor.watermark and cursor.run_bookmark is None


def _pages_done(db) -> int:
    with db.read_scope() as session:
        cursor = session.get(ErpCursor, "posted_invoices")
        return cursor.run_pages if cursor is not None else 0
