"""ERP push benchmark (erp-integration.md §7 P1, P2, P5). Not a test: run it by hand, e.g.

    .venv/bin/python tests/benchmarks/bench_push.py --database sqlite --replicas 1
    .venv/bin/python tests/benchmarks/bench_push.py --database postgres --replicas 3
    .venv/bin/python tests/benchmarks/bench_push.py --database postgres --p5

P1/P2: ``--statements`` detailed 10-charge statements are queued in a fresh database; the simulator runs in its
own process (``billing erp-sim``) with a fixed 50 ms latency, ``max_in_flight = 5``, no rate limit; ``--replicas``
``billing daemon`` processes push them. Printed: ERP calls/s and statements/s against the bound c/t and c/(2t),
the service's p50/p99 call latency (from the attempt log), the simulator's mean/peak concurrency, daemon CPU
(user + system, counted from after start-up) per statement and peak RSS.

P5 (``--p5``): outbox claim + finish without ERP calls (each claimed row finished as sent: fenced outbox update and
statement Issued in one transaction), three processes.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the statement factory

from benchkit import cpu_seconds, create_database, drop_database, start_simulator

from billing.db.engine import Database
from billing.db.migrate import upgrade
from billing.db.models import ErpAttempt, Statement
from billing.reference.demo import build_demo_dataset
from billing.reference.loader import import_file
from erp.factory import make_queued_statements

LATENCY_S = 0.05
IN_FLIGHT = 5


def prepare(url: str, workdir: Path, statements: int, charges: int = 10) -> list[str]:
    upgrade(url)
    reference = workdir / "reference.json"
    reference.write_bytes(orjson.dumps(build_demo_dataset(), default=str))
    database = Database(url)
    import_file(database, reference, "replace")
    if charges <= 100_000:
        ids = make_queued_statements(database, statements, charges=(charges, charges))
    else:  # one huge statement, built in slices so this process stays small too
        ids = make_queued_statements(database, 1, charges=(100_000, 100_000))
        for part in range(1, charges // 100_000):
            extra = make_queued_statements(database, 1, charges=(100_000, 100_000), prefix=9100 + part)
            _merge_into(database, extra[0], ids[0])
    database.dispose()
    return ids


def _merge_into(database: Database, source: str, target: str) -> None:
    """Move a factory statement's charges into ``target`` (ids stay unique) and drop the empty statement."""
    from sqlalchemy import delete, update

    from billing.db.models import Charge, ErpOutbox

    with database.session_scope() as session:
        statement = session.get(Statement, target)
        assert statement is not None
        session.execute(
            update(Charge)
            .where(Charge.statement_id == source)
            .values(statement_id=target, journal_id=statement.journal_id, agreement_id=statement.agreement_id)
        )
        session.execute(delete(ErpOutbox).where(ErpOutbox.statement_id == source))
        session.execute(delete(Statement).where(Statement.id == source))


def set_paused(database: Database, paused: bool) -> None:
    from billing.erp.repository import ControlRepository

    with database.session_scope() as session:
        ControlRepository(session).get(for_update=True).paused = paused


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def p1(kind: str, replicas: int, statements: int, charges: int = 10) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url, name = create_database(kind, workdir, "push")
        try:
            ids = prepare(url, workdir, statements, charges)
            simulator, sim_root = start_simulator(
                workdir,
                {
                    "BILLING_ERP_SIM__FAULTS__LATENCY__DIST": "fixed",
                    "BILLING_ERP_SIM__FAULTS__LATENCY__MEDIAN_MS": str(LATENCY_S * 1000),
                    "BILLING_ERP_SIM__LIMITS__MAX_IN_FLIGHT": str(IN_FLIGHT),
                    "BILLING_ERP_SIM__LIMITS__QUEUE": "20",
                },
            )
            env = {
                **os.environ,
                "BILLING_DATABASE_URL": url,
                "BILLING_ERP__BASE_URL": f"{sim_root}/BC/WS/CRONUS",
                "BILLING_ERP__RATE_LIMIT_PER_MINUTE": "0",
                "BILLING_DAEMON__HTTP_PORT": "0",
                "BILLING_DAEMON__PUSH_INTERVAL_S": "0.2",
                "BILLING_DAEMON__HEARTBEAT_S": "1",
                "BILLING_DOCUMENTS__ENABLED": "false",  # P1/P2 measure the push alone, not rendering Issued PDFs
                "BILLING_LOG__LEVEL": "WARNING",
            }
            database = Database(url)
            set_paused(database, True)  # daemons start (imports, WSDLs) before the clock and CPU baseline
            daemons = [
                subprocess.Popen(
                    [sys.executable, "-m", "billing.cli", "daemon", "--replica-id", f"bench-{n}"],
                    env=env,
                    cwd=workdir,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for n in range(replicas)
            ]
            time.sleep(5)
            baseline = sum(cpu_seconds(d.pid) for d in daemons)
            httpx.delete(f"{sim_root}/_sim/stats")
            started = time.perf_counter()
            set_paused(database, False)
            try:
                while True:
                    with database.read_scope() as session:
                        done = session.execute(select(func.count()).where(Statement.status == "Issued")).scalar_one()
                    if done >= len(ids):
                        break
                    time.sleep(0.2)
                elapsed = time.perf_counter() - started
                cpu = sum(cpu_seconds(d.pid) for d in daemons) - baseline
                rss = max(peak_rss_mb(d.pid) for d in daemons)
                stats = httpx.get(f"{sim_root}/_sim/stats").json()
                with database.read_scope() as session:
                    durations = sorted(
                        session.execute(select(ErpAttempt.duration_ms).where(ErpAttempt.outcome == "ok")).scalars()
                    )
                    calls = session.execute(select(func.count()).select_from(ErpAttempt)).scalar_one()
            finally:
                for daemon in daemons:
                    daemon.send_signal(signal.SIGTERM)
                for daemon in daemons:
                    daemon.wait(60)
                simulator.terminate()
                simulator.wait(30)
                database.dispose()
        finally:
            drop_database(name)
    bound_calls = IN_FLIGHT / LATENCY_S
    print(
        f"P1 {kind:8} {replicas} replica(s) {len(ids):,} statements × {charges:,} charges in {elapsed:.1f} s: "
        f"{calls / elapsed:.1f} ERP calls/s ({calls / elapsed / bound_calls:.0%} of the {bound_calls:.0f}/s bound), "
        f"{len(ids) / elapsed:.1f} statements/s (bound {bound_calls / 2:.0f}/s)"
    )
    print(
        f"   call latency seen by the service p50 {_pct(durations, 50)} ms, p99 {_pct(durations, 99)} ms; "
        f"simulator concurrency {_concurrency(stats)}"
    )
    print(f"P2 daemon CPU {cpu / len(ids) * 1000:.2f} ms per pushed statement; peak RSS {rss:.0f} MB per replica")


def _pct(values: list[Any], pct: int) -> str:
    if not values:
        return "n/a"
    return str(values[min(len(values) - 1, int(len(values) * pct / 100))])


def _concurrency(stats: dict[str, Any]) -> str:
    concurrency = stats.get("concurrency", {})
    return f"mean {concurrency.get('mean_overall', 0):.2f} (while busy {concurrency.get('mean_busy', 0):.2f}), peak {concurrency.get('peak', 0)}"


def _p5_worker(url: str, replica: str, results: Any) -> None:
    """Claim batches and finish each row as sent (fenced outbox update + statement Issued), no ERP calls."""
    from billing.erp.gateway import ErpDocument
    from billing.erp.push import ClaimRun, Pusher
    from billing.erp.settings import ErpSettings
    from billing.logging import configure
    from billing.settings import LogSettings
    from erp.fake_erp import FakeErp

    configure(LogSettings(level="WARNING", format="json"))  # as the P1 daemons run: no line per pushed row
    database = Database(url)
    settings = ErpSettings.model_validate({"rate_limit_per_minute": 0, "push": {"batch": 50}})
    pusher = Pusher(database, settings, FakeErp(), replica, slots=5)
    done = 0
    while claims := pusher.claim(50):
        for claim in claims:
            document = ErpDocument(no=f"SI-{claim.id:06d}", posted=False, external_document_no=claim.statement_id)
            ClaimRun(pusher, claim).done(document, "sent")
        done += len(claims)
    results.put(done)
    database.dispose()


def p5(kind: str, rows: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url, name = create_database(kind, workdir, "push")
        try:
            prepare(url, workdir, rows)
            results: Any = multiprocessing.Queue()
            started = time.perf_counter()
            workers = [multiprocessing.Process(target=_p5_worker, args=(url, f"p5-{n}", results)) for n in range(3)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            elapsed = time.perf_counter() - started
            handled = sum(results.get() for _ in workers)
        finally:
            drop_database(name)
    print(
        f"P5 {kind:8} 3 processes claimed and finished {handled:,} outbox rows in {elapsed:.1f} s: {handled / elapsed:,.0f} rows/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--statements", type=int, default=3000)
    parser.add_argument("--p5", action="store_true", help="outbox claim + finish without ERP calls")
    parser.add_argument(
        "--charges", type=int, default=10, help="charges per statement (e.g. 1000000: one compact statement, P4)"
    )
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}")
    if args.p5:
        p5(args.database, args.statements)
    else:
        p1(args.database, args.replicas, args.statements, args.charges)


if __name__ == "__main__":
    main()
