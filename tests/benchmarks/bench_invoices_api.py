"""Invoice list benchmark (issue: invoices API at scale): ``GET /invoices?eq(status,Overdue)&order=-erpData.dueDate
&limit=100`` over 1,000,000 invoices. Target: p99 < 100 ms and ≥ 500 requests/s on a 2-core machine, the load
coming from another process.

Builds a fresh SQLite file (in a temporary directory) or a fresh PostgreSQL database (created on
``127.0.0.1:5432`` as ``postgres``, dropped at the end), imports the demo reference data (5 sellers, 500 clients by
default) and writes N invoices with 1–5 lines each straight into the tables with `billing.db.bulk.insert_rows`
(executemany on SQLite, COPY on PostgreSQL, in chunks; not timed against the target). The mix: 55 % Paid, 30 %
Issued, 15 % Overdue, documents dated over three years and due 30 days later, spread round-robin over the demo
agreements (so over every client, seller and buyer), each with four full addresses and lines shaped like the
ERP pull's. Then it starts ``billing serve`` (``--workers``, default 2, no in-process job worker) on that
database and, from this process, runs each scenario for ``--seconds`` after a warm-up, with ``--concurrency``
connections (httpx, asyncio):

* ``ops-overdue``: the issue's query with the Operations token;
* ``client-overdue``: the same query with the demo client's token (scoped to its own invoices);
* ``ops-documentno``: ``eq(erpData.documentNo,…)`` look-ups of random existing numbers, Operations token.

Each prints requests/s, p50/p95/p99 latency, mean response size, and the server's CPU (cores busy over the run,
all its processes, and CPU time per request: the figure least disturbed by other load on the machine) and RSS. Not a test: run it by hand, e.g.

    .venv/bin/python tests/benchmarks/bench_invoices_api.py --invoices 1000000 --database sqlite
    .venv/bin/python tests/benchmarks/bench_invoices_api.py --invoices 1000000 --database postgres
    .venv/bin/python tests/benchmarks/bench_invoices_api.py --keep /tmp/inv.db   # fill once, reuse later
    .venv/bin/python tests/benchmarks/bench_invoices_api.py --database postgres --keep billing_bench_invoices
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import orjson
from benchkit import PG_ADMIN, create_database, drop_database, free_port, start_billing
from sqlalchemy import create_engine, text

from billing.db.bulk import insert_rows
from billing.db.engine import Database
from billing.db.migrate import upgrade
from billing.db.models import Invoice, InvoiceLine
from billing.reference.demo import DEMO_TOKENS, build_demo_dataset
from billing.reference.loader import import_file

BASE_PATH = "/public/v1/billing"
OVERDUE_QUERY = "eq(status,Overdue)&order=-erpData.dueDate&limit=100"
#: (status, share): cumulative thresholds are taken in this order
STATUS_MIX = (("Paid", 0.55), ("Issued", 0.30), ("Overdue", 0.15))
ITEMS = ("CS01.00001.MP", "CS01.00002.MP", "AZ01.00010.PAYG", "M365.E3.MONTH", "M365.E5.MONTH", "DYN.BC.ESS")
NOW = datetime(2026, 11, 1)


# --- data ---------------------------------------------------------------------------------------------------------


def address(name: str, customer_no: str, country: str) -> dict[str, Any]:
    return {
        "name": name,
        "name2": "",
        "email": "billing@example.com",
        "customerNo": customer_no,
        "addressLine1": "1 Main St",
        "addressLine2": "Suite 100",
        "addressLine3": "",
        "city": "Springfield",
        "postCode": "12345",
        "county": "",
        "country": country,
        "contactName": "Pat Doe",
        "contactNo": "CT-000001",
        "contactEmail": "pat@example.com",
        "contactPhone": "+1 555 0100",
        "code": "",
    }


def document_no(number: int) -> str:
    return f"SIN-{number:08d}"


def invoice_rows(
    count: int, agreements: list[dict[str, Any]], sellers: dict[str, dict[str, Any]]
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Invoice rows with their line rows, deterministic; one shared erp_data document per agreement (the ERP
    repeats the customer's addresses on every invoice)."""
    rng = random.Random(20261101)
    erp_by_agreement = {}
    for agreement in agreements:
        country = (sellers[agreement["seller"]].get("address") or {}).get("country", "US")
        customer = f"{country}-SCU-{agreement['client'][-4:]}"
        erp_by_agreement[agreement["id"]] = {
            "addresses": {
                role: address(f"{agreement['name']} {role}", customer, country)
                for role in ("billTo", "licenseTo", "sellTo", "shipTo")
            },
            "referenceNumber": {"eInvoiceNo": "", "orderNo": "", "ppqNo": "", "quoteNo": ""},
            "payment": {"methodCode": "BANK", "termsCode": "30DAYS"},
        }
    audit_actor = {"id": "ACC-0000-0001", "name": "ERP pull", "icon": ""}
    start = NOW - timedelta(days=3 * 365)
    for number in range(1, count + 1):
        agreement = agreements[number % len(agreements)]
        roll = rng.random()
        status = "Overdue" if roll >= 0.85 else "Issued" if roll >= 0.55 else "Paid"
        if status == "Paid":
            document_date = start + timedelta(days=rng.randrange(3 * 365 - 30), seconds=rng.randrange(86400))
        elif status == "Overdue":
            document_date = NOW - timedelta(days=rng.randrange(31, 400), seconds=rng.randrange(86400))
        else:
            document_date = NOW - timedelta(days=rng.randrange(0, 30), seconds=rng.randrange(86400))
        due_date = document_date.replace(hour=0, minute=0, second=0) + timedelta(days=30)
        invoice_id = f"INV-{number // 10**8 % 10**4:04d}-{number // 10**4 % 10**4:04d}-{number % 10**4:04d}-0001"
        no = document_no(number)
        lines = []
        total = Decimal(0)
        for line_no in range(1, rng.randint(1, 5) + 1):
            quantity = Decimal(rng.randint(1, 50))
            unit = Decimal(rng.randint(100, 100_000)) / 100
            amount = quantity * unit
            total += amount
            lines.append(
                {
                    "id": f"INL-{invoice_id[4:]}-{line_no:04d}",
                    "invoice_id": invoice_id,
                    "line_no": line_no,
                    "document_no": no,
                    "item_no": ITEMS[(number + line_no) % len(ITEMS)],
                    "description": "Cloud subscription",
                    "description2": f"{document_date:%B %Y}",
                    "period_start": document_date.replace(day=1, hour=0, minute=0, second=0),
                    "period_end": document_date.replace(day=28, hour=23, minute=59, second=59),
                    "quantity": quantity,
                    "unit_price": unit,
                    "amount": amount,
                    "erp_data": {
                        "type": 2,
                        "unitOfMeasure": "EA",
                        "contractNo": agreement["externalIds"]["operations"],
                        "rowVersion": number * 10 + line_no,
                    },
                    "price": {
                        "amountIncludingVat": amount,
                        "lineAmount": amount,
                        "vatPercent": Decimal(0),
                        "purchasePrice": (unit * Decimal("0.8")).quantize(Decimal("0.01")),
                        "purchaseCurrencyCode": agreement.get("currency") or "USD",
                    },
                }
            )
        balance = Decimal(0) if status == "Paid" else total
        at = document_date + timedelta(hours=2)
        invoice = {
            "id": invoice_id,
            "document_no": no,
            "erp_id": no,
            "status": status,
            "statement_id": None,
            "billing_type": "Automated",
            "client_id": agreement["client"],
            "vendor_id": agreement["vendor"],
            "buyer_id": agreement["buyer"],
            "seller_id": agreement["seller"],
            "licensee_id": agreement["licensee"],
            "product_id": agreement["product"],
            "agreement_id": agreement["id"],
            "document_date": document_date,
            "posting_date": document_date,
            "due_date": due_date,
            "balance_due": balance,
            "invoice_total": total,
            "currency": agreement.get("currency") or "USD",
            "total_sp": total,
            "total_gt": total,
            "row_version": number,
            "erp_modified_at": at,
            "erp_data": erp_by_agreement[agreement["id"]],
            "price": {"currencyFactor": Decimal(1), "totalST": Decimal(0)},
            "next_line": len(lines) + 1,
            "audit": {"created": {"at": at, "by": audit_actor}, "issued": {"at": at, "by": audit_actor}},
            "created_at": at,
            "updated_at": at,
        }
        yield invoice, lines


def fill(url: str, count: int, clients: int, workdir: Path, chunk: int = 20_000) -> tuple[int, int]:
    """Reference data and ``count`` invoices; returns (invoices, lines) written."""
    dataset = build_demo_dataset(sellers=5, clients=clients)
    reference = workdir / "reference.json"
    reference.write_bytes(orjson.dumps(dataset, default=str))
    database = Database(url)
    import_file(database, reference, "replace")
    sellers = {seller["id"]: seller for seller in dataset["sellers"]}
    agreements = sorted(dataset["agreements"], key=lambda a: a["id"])
    invoices: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    written_lines = 0

    def flush() -> None:
        with database.session_scope() as session:
            insert_rows(session, Invoice.__table__, invoices)  # type: ignore[arg-type]
            insert_rows(session, InvoiceLine.__table__, lines)  # type: ignore[arg-type]
        invoices.clear()
        lines.clear()

    for invoice, its_lines in invoice_rows(count, agreements, sellers):
        invoices.append(invoice)
        lines.extend(its_lines)
        written_lines += len(its_lines)
        if len(invoices) >= chunk:
            flush()
    flush()
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # what autovacuum / a DBA does after a bulk load; SQLite's planner uses sqlite_stat1 the same way
        conn.execute(text("VACUUM ANALYZE" if database.dialect == "postgresql" else "ANALYZE"))
    database.dispose()
    return count, written_lines


# --- server -------------------------------------------------------------------------------------------------------


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        for child in children:
            pids.extend(process_tree(int(child)))
    return pids


def cpu_seconds(pids: list[int]) -> float:
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total / 1024


def start_server(url: str, workdir: Path, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        "BILLING_DATABASE_URL": url,
        "BILLING_STORAGE__ATTACHMENTS_DIR": str(workdir / "files"),
        "BILLING_WORKER__ENABLED": "false",
    }
    base = f"http://127.0.0.1:{port}{BASE_PATH}"
    args = ["serve", "--port", str(port), "--workers", str(workers)]
    return start_billing(args, f"{base}/health", workdir, env, quiet=False), base


# --- load ---------------------------------------------------------------------------------------------------------


async def load(
    base: str, token: str, paths: Iterator[str], seconds: float, concurrency: int
) -> tuple[list[float], int, int]:
    """Requests from ``concurrency`` connections until ``seconds`` pass: latencies (s), bytes, errors."""
    latencies: list[float] = []
    sizes = 0
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=60) as http:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal sizes, errors
            while time.perf_counter() < deadline:
                path = next(paths)
                started = time.perf_counter()
                response = await http.get(path)
                latencies.append(time.perf_counter() - started)
                sizes += len(response.content)
                if response.status_code != 200:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, sizes, errors


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def scenario(
    name: str, base: str, token: str, paths: Iterator[str], server: int, args: argparse.Namespace
) -> dict[str, Any]:
    first = next(paths)
    probe = httpx.get(base + first, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    probe.raise_for_status()
    body = probe.json()
    asyncio.run(load(base, token, paths, args.warmup, args.concurrency))
    pids = process_tree(server)
    cpu_before, started = cpu_seconds(pids), time.perf_counter()
    latencies, sizes, errors = asyncio.run(load(base, token, paths, args.seconds, args.concurrency))
    elapsed = time.perf_counter() - started
    cpu = (cpu_seconds(pids) - cpu_before) / elapsed
    return {
        "name": name,
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "kb": sizes / max(1, len(latencies)) / 1024,
        "errors": errors,
        "cpu_cores": cpu,
        "rss_mb": rss_mb(pids),
        "items": len(body["data"]),
        "total": body["$meta"]["pagination"]["total"],
    }


def scenarios(base: str, server: int, count: int, args: argparse.Namespace) -> list[dict[str, Any]]:
    wanted = set(args.scenarios)
    results = []
    repeat_overdue = iter(lambda: f"/invoices?{OVERDUE_QUERY}", None)
    if "ops-overdue" in wanted:
        results.append(scenario("ops-overdue", base, DEMO_TOKENS["operations"], repeat_overdue, server, args))
    if "client-overdue" in wanted:
        results.append(scenario("client-overdue", base, DEMO_TOKENS["client"], repeat_overdue, server, args))
    if "ops-documentno" in wanted:
        rng = random.Random(5)
        numbers = iter(lambda: f"/invoices?eq(erpData.documentNo,{document_no(rng.randint(1, count))})", None)
        results.append(scenario("ops-documentno", base, DEMO_TOKENS["operations"], numbers, server, args))
    return results


# --- main ---------------------------------------------------------------------------------------------------------


def kept_database(kind: str, keep: str) -> tuple[str, bool]:
    """The URL of a database kept between runs (a SQLite file, or a PostgreSQL database name) and whether it
    exists already (then it is reused as it is, after migrating it)."""
    if kind == "sqlite":
        path = Path(keep).resolve()
        return f"sqlite:///{path}", path.exists()
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": keep}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{keep}"'))
    admin.dispose()
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{keep}", exists is not None


def run(args: argparse.Namespace, workdir: Path) -> None:
    pg_name = None
    if args.keep:
        url, reuse = kept_database(args.database, args.keep)
    else:
        (url, pg_name), reuse = create_database(args.database, workdir, f"invoices_{args.invoices}"), False
    try:
        upgrade(url)
        if reuse:
            print(f"{args.database}: reusing {args.keep}")
        else:
            started = time.perf_counter()
            invoices, lines = fill(url, args.invoices, args.clients, workdir)
            fill_s = time.perf_counter() - started
            print(
                f"{args.database}: {invoices:,} invoices, {lines:,} lines written in {fill_s:.0f} s "
                f"({invoices / fill_s:,.0f} invoices/s, not timed against the target)"
            )
        server, base = start_server(url, workdir, args.workers)
        try:
            for r in scenarios(base, server.pid, args.invoices, args):
                met = r["p99_ms"] < 100 and r["rps"] >= 500
                print(
                    f"  {r['name']:15} {r['rps']:7.1f} req/s  p50 {r['p50_ms']:6.1f}  p95 {r['p95_ms']:6.1f}  "
                    f"p99 {r['p99_ms']:6.1f} ms  {r['kb']:6.1f} KiB/resp  {r['items']} items of {r['total']:,}  "
                    f"server {r['cpu_cores']:.2f} cores ({r['cpu_cores'] / r['rps'] * 1000:.1f} CPU ms/req), "
                    f"RSS {r['rss_mb']:.0f} MB  errors {r['errors']}  "
                    f"(target p99 < 100 ms, ≥ 500 req/s: {'met' if met else 'NOT met'})"
                )
        finally:
            server.terminate()
            server.wait(30)
    finally:
        if pg_name:
            drop_database(pg_name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invoices", type=int, default=1_000_000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--clients", type=int, default=500, help="demo clients (3 agreements each)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent connections")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per scenario")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up seconds per scenario")
    parser.add_argument(
        "--scenarios",
        nargs="+",
        choices=["ops-overdue", "client-overdue", "ops-documentno"],
        default=["ops-overdue", "client-overdue", "ops-documentno"],
    )
    parser.add_argument(
        "--keep", help="SQLite file or PostgreSQL database name: filled on the first run, reused (not dropped) later"
    )
    args = parser.parse_args()
    print(
        f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpu, load {os.getloadavg()[0]:.1f}, "
        f"Python {platform.python_version()}, {datetime.now():%Y-%m-%d %H:%M}; server: billing serve --workers "
        f"{args.workers}; load: httpx asyncio, {args.concurrency} connections, {args.seconds:.0f} s after "
        f"{args.warmup:.0f} s warm-up"
    )
    with tempfile.TemporaryDirectory() as tmp:
        run(args, Path(tmp))


if __name__ == "__main__":
    main()
