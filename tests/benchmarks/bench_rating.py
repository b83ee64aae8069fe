"""Rating benchmark (issue 4): a validated journal of N charges → accept → every ledger ``Review`` (step 1);
accept every ledger → every statement ``Generated`` (step 2). Target: ≤ 20 s for both steps at 1,000,000
charges, on SQLite and on PostgreSQL, memory flat.

Builds a fresh SQLite file (in a temporary directory) or a fresh PostgreSQL database (created on
``127.0.0.1:5432`` as ``postgres``, dropped at the end), imports the demo reference data (20 sellers; by
default 1,300 clients, so the journal's product has ~2,000 agreements; agreement billing currencies are
dropped so that one journal can span every seller, V25), turns one client manual (an Active override), and
writes N charges exactly as the validation job would (`ChargeValidator` rows, inserted in batches with
`billing.db.bulk.insert_rows`; not timed). Lines go round-robin over the sources, so every seller's charges
are spread over the whole table: the worst case for a per-ledger pass. Then a fresh process times the same work path as the daemon: the
journal ``accept`` action and ``run_pending`` with the registered handlers (step 1), the ledger ``accept``
action for every ledger and ``run_pending`` again (step 2), and reports its peak RSS (VmHWM). Not a test:
run it by hand, e.g.

    .venv/bin/python tests/benchmarks/bench_rating.py --charges 100000 1000000 --database sqlite
    .venv/bin/python tests/benchmarks/bench_rating.py --charges 1000000 --database postgres
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchkit import create_database, drop_database
from sqlalchemy import func, select, text

from billing.auth.capabilities import Scope
from billing.auth.principal import Principal, Role, system_principal
from billing.charges.repository import ChargeRepository
from billing.db.engine import Database
from billing.db.migrate import upgrade
from billing.db.models import Charge, Journal, Ledger, Statement
from billing.jobs.registry import HANDLERS
from billing.jobs.worker import run_pending
from billing.journals.files import RawLine
from billing.journals.resolution import JournalContext, ReferenceIndex
from billing.journals.schemas import JournalCreate
from billing.journals.service import JournalService
from billing.journals.validation import ChargeValidator
from billing.kit.binding import bind
from billing.kit.timeutil import utcnow
from billing.ledgers.service import LedgerService
from billing.logging import configure
from billing.overrides.schemas import OverrideCreate
from billing.overrides.service import OverrideService
from billing.reference.demo import DEMO_ACCOUNTS, build_demo_dataset
from billing.reference.repository import ReferenceRepository
from billing.reference.service import ReferenceService
from billing.settings import LogSettings, Settings

#: Unit purchase prices the generated lines cycle through (a few awkward ones among them).
UNIT_PRICES = tuple(Decimal(p) for p in ("12.5", "7", "0.333333", "99.99", "1234.567891", "0.000001", "-4.2"))
RESOLVED_ENTITIES = ("agreements", "subscriptions", "assets", "items", "sellers", "buyers", "licensees", "products")
OPERATOR = Principal(DEMO_ACCOUNTS["operations"], Role.OPERATIONS, {"id": "USR-0000-0001", "name": "b", "icon": ""})


def dataset(sellers: int, clients: int) -> dict[str, Any]:
    doc = build_demo_dataset(sellers=sellers, clients=clients)
    for agreement in doc["agreements"]:
        agreement.pop("currency", None)  # billed in the journal currency, whatever the seller (V25)
    return doc


def lines(count: int, sources: list[tuple[str, str, list[str]]]) -> Iterator[RawLine]:
    """Valid §8.2 lines spread over the product's subscriptions and assets (so over every seller)."""
    for number in range(1, count + 1):
        kind, source_id, items = sources[number % len(sources)]
        unit_pp = UNIT_PRICES[number % len(UNIT_PRICES)]
        quantity = number % 97 + 1
        data = {
            "externalIds": {"vendor": f"e-{number}", "invoice": "INV-1"},
            "search": {
                "source": {"type": kind, "criteria": "id", "value": source_id},
                "item": {"criteria": "item.id", "value": items[number % len(items)]},
            },
            "period": {"start": "2025-06-01", "end": "2025-06-30T23:59:59Z"},
            "quantity": quantity,
            "price": {"unitPP": unit_pp, "PPx1": unit_pp * quantity},
            "description": {"value1": "Standard seat", "value2": "June"},
        }
        yield RawLine(number, data, None)


def prepare(database: Database, charges: int, sellers: int, clients: int, batch: int) -> tuple[str, int, int]:
    """Reference data, an override, a journal in ``Review`` with ``charges`` validated charges; returns
    (journal id, agreements of the journal's product, charge rows written)."""
    doc = dataset(sellers, clients)
    vendor_id = DEMO_ACCOUNTS["vendor"]
    vendor = Principal(vendor_id, Role.VENDOR, {"id": "TKN-1", "name": "bench", "icon": ""})
    product_id = next(p["id"] for p in doc["products"] if p["vendor"] == vendor_id)
    authorization = next(a for a in doc["authorizations"] if a["product"] == product_id and a["currency"] == "USD")
    with database.session_scope() as session:
        ReferenceService(session, system_principal()).import_document(doc, "replace")
        manual = {"client": {"id": DEMO_ACCOUNTS["client2"]}, "vendor": {"id": vendor_id}}
        OverrideService(session, OPERATOR).create(bind(OverrideCreate, manual))
        journal = JournalService(session, vendor, Scope.OWN_VENDOR).create(
            bind(JournalCreate, {"name": "bench", "authorization": {"id": authorization["id"]}})
        )
        journal_id = journal.id
        references = ReferenceRepository(session)
        world = {entity: references.docs(entity) for entity in RESOLVED_ENTITIES}
    context = JournalContext(
        journal_id=journal_id,
        vendor_id=vendor_id,
        product_id=product_id,
        authorization_id=authorization["id"],
        currency="USD",
        manual_pairs=frozenset({(DEMO_ACCOUNTS["client2"], vendor_id)}),
        now=utcnow(),
    )
    agreements = {a["id"] for a in world["agreements"].values() if a["product"] == product_id}
    sources = [
        (kind, doc["id"], list(doc["items"]))
        for kind, entity in (("Subscription", "subscriptions"), ("Asset", "assets"))
        for doc in world[entity].values()
        if doc["agreement"] in agreements and doc.get("items")
    ]
    validator = ChargeValidator(context, ReferenceIndex.build(world, product_id))
    statuses: dict[str, int] = {}
    total_pp = Decimal(0)
    rows: list[dict[str, Any]] = []
    written = 0

    def flush() -> None:
        with database.session_scope() as session:
            ChargeRepository(session).insert(rows)
        rows.clear()

    for raw in lines(charges, sources):
        for row in validator.validate(raw):
            if row["upload_status"] == "Error":
                raise AssertionError(row["upload_errors"])
            statuses[row["upload_status"]] = statuses.get(row["upload_status"], 0) + 1
            if row["upload_status"] != "Split":
                total_pp += row["ppx1"]
            rows.append(row)
            written += 1
        if len(rows) >= batch:
            flush()
    flush()
    with database.session_scope() as session:  # what validation and submit leave behind
        journal = session.get(Journal, journal_id)
        assert journal is not None
        journal.upload_total = written
        journal.upload_ready = statuses.get("Ready", 0)
        journal.upload_split = statuses.get("Split", 0)
        journal.upload_skipped = statuses.get("Skipped", 0)
        journal.total_pp = total_pp
        journal.input_attachment_id = None
        journal.status = "Review"
    if database.dialect == "postgresql":
        with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE charge"))  # what autovacuum does soon after a bulk load
    return journal_id, len(agreements), written


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def count(database: Database, stmt: Any) -> int:
    with database.read_scope() as session:
        return int(session.execute(stmt).scalar_one())


def steps(url: str, journal_id: str, workdir: Path) -> dict[str, Any]:
    """Steps 1 and 2, timed; run in a fresh process so that its peak RSS is the work's own."""
    database = Database(url)
    settings = Settings(database_url=url, worker={"enabled": False}, storage={"attachments_dir": workdir / "f"})
    rss_start = peak_rss_mb()
    started = time.perf_counter()
    with database.session_scope() as session:
        JournalService(session, OPERATOR, Scope.ALL).act(journal_id, "accept", None)
    run_pending(database, settings, HANDLERS)
    step1 = time.perf_counter() - started
    rss_step1 = peak_rss_mb()
    with database.read_scope() as session:
        journal_status = session.get(Journal, journal_id).status  # type: ignore[union-attr]
        ledgers = {
            ledger.id: ledger.status
            for ledger in session.execute(select(Ledger).where(Ledger.journal_id == journal_id)).scalars()
        }
    if journal_status != "Generated" or set(ledgers.values()) != {"Review"}:
        raise AssertionError(f"after rating: journal {journal_status}, ledgers {ledgers}")
    rated = count(database, select(func.count()).where(Charge.journal_id == journal_id, Charge.ledger_id.is_not(None)))

    started = time.perf_counter()
    for ledger_id in sorted(ledgers):
        with database.session_scope() as session:
            LedgerService(session, OPERATOR).accept(ledger_id)
    run_pending(database, settings, HANDLERS)
    step2 = time.perf_counter() - started
    rss_step2 = peak_rss_mb()
    with database.read_scope() as session:
        statuses = dict(
            session.execute(
                select(Statement.status, func.count())
                .where(Statement.journal_id == journal_id)
                .group_by(Statement.status)
            ).all()
        )
        journal_status = session.get(Journal, journal_id).status  # type: ignore[union-attr]
    if set(statuses) != {"Generated"} or journal_status != "Accepted":
        raise AssertionError(f"after generation: journal {journal_status}, statements {statuses}")
    billed = count(
        database, select(func.count()).where(Charge.journal_id == journal_id, Charge.statement_id.is_not(None))
    )
    database.dispose()
    return {
        "ledgers": len(ledgers),
        "statements": statuses["Generated"],
        "rated": rated,
        "billed": billed,
        "step1_s": step1,
        "step2_s": step2,
        "rss_start_mb": rss_start,
        "rss_step1_mb": rss_step1,
        "rss_step2_mb": rss_step2,
    }


def run(charges: int, kind: str, workdir: Path, sellers: int, clients: int) -> dict[str, Any]:
    url, pg_name = create_database(kind, workdir, f"rating_{charges}")
    try:
        upgrade(url)
        database = Database(url)
        started = time.perf_counter()
        journal_id, agreements, written = prepare(database, charges, sellers, clients, 50_000)
        setup_s = time.perf_counter() - started
        database.dispose()
        child = subprocess.run(
            [sys.executable, __file__, "--steps", url, journal_id, str(workdir)],
            check=True,
            capture_output=True,
            text=True,
        )
        result = json.loads(child.stdout.strip().splitlines()[-1])
    finally:
        if pg_name:
            drop_database(pg_name)
    return {"database": kind, "charges": written, "agreements": agreements, "setup_s": setup_s, **result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--charges", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--sellers", type=int, default=20)
    parser.add_argument(
        "--clients", type=int, default=1300, help="demo clients (3 agreements each, ~1/2 on the product)"
    )
    parser.add_argument("--steps", nargs=3, metavar=("URL", "JOURNAL", "WORKDIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    configure(LogSettings(level="WARNING"))
    if args.steps:
        url, journal_id, workdir = args.steps
        print(json.dumps(steps(url, journal_id, Path(workdir))))
        return
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpu, load {os.getloadavg()[0]:.1f}, "
        f"Python {platform.python_version()}, {datetime.now():%Y-%m-%d %H:%M}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for charges in args.charges:
            r = run(charges, args.database, Path(tmp), args.sellers, args.clients)
            total = r["step1_s"] + r["step2_s"]
            print(
                f"{r['database']:8} {r['charges']:>9,} charges, {r['ledgers']} ledgers, {r['agreements']:,} agreements "
                f"→ {r['statements']:,} statements (setup {r['setup_s']:.0f} s, not timed)\n"
                f"  step 1 accept journal → all ledgers Review:     {r['step1_s']:6.1f} s "
                f"{r['charges'] / r['step1_s']:>9,.0f} charges/s  ({r['rated']:,} charges in ledgers)\n"
                f"  step 2 accept ledgers → all statements Generated: {r['step2_s']:6.1f} s "
                f"{r['charges'] / r['step2_s']:>9,.0f} charges/s  ({r['billed']:,} charges on statements)\n"
                f"  total {total:.1f} s (target ≤ 20 s: {'met' if total <= 20 else 'NOT met'}); peak RSS "
                f"{r['rss_start_mb']:.0f} MB at start, {r['rss_step1_mb']:.0f} MB after step 1, "
                f"{r['rss_step2_mb']:.0f} MB after step 2; load {os.getloadavg()[0]:.1f}"
            )


if __name__ == "__main__":
    main()
