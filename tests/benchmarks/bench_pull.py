"""ERP pull benchmark (erp-integration.md §7 P3, P4). Not a test: run it by hand, e.g.

    .venv/bin/python tests/benchmarks/bench_pull.py --database sqlite              # P3: 20,000 × 3 lines
    .venv/bin/python tests/benchmarks/bench_pull.py --database postgres
    .venv/bin/python tests/benchmarks/bench_pull.py --database sqlite --p4         # 1,000 vs 100,000 × 3 lines
    .venv/bin/python tests/benchmarks/bench_pull.py --database sqlite --invoices 100000 --lines 1-20
    .venv/bin/python tests/benchmarks/bench_pull.py --invoices 5000 --profile      # cProfile of the pull

Each run: a fresh database (SQLite file, or a PostgreSQL database created and dropped at 127.0.0.1:5432), the
simulator in its own process (``billing erp-sim --port``, latency 0, no faults, posting off, demo customers and
items), ``--invoices`` posted invoices generated into it (``POST /_sim/generate``, SystemModifiedAt spread over the
last 30 days), then:

* serve-only: every ReadMultiple page (``SystemModifiedAt`` window, ``setSize = --page-size``, bookmarks) fetched
  with a raw SOAP client that only finds the next bookmark: the simulator's rate without the service's work;
* pull: ``Puller(database, settings, SoapGateway(settings)).run("posted_invoices")`` in a fresh process (spawned),
  with ``erp.pull.import_unlinked = true`` (the generated documents link to no statement; otherwise they are
  skipped, not imported) and no client rate limit. Printed: invoices/s fetched, parsed and upserted, the
  process's CPU (user + system) per invoice, its RSS after start-up (imports, WSDL loaded) and its peak RSS,
  and the simulator's CPU during the pull.
"""

from __future__ import annotations

import argparse
import cProfile
import multiprocessing
import os
import platform
import pstats
import re
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from benchkit import cpu_seconds, create_database, drop_database, start_simulator
from sqlalchemy import func, select, text

from billing.db.engine import Database
from billing.db.migrate import upgrade

ROLE = "posted_sales_invoice"
SERVICE = "PostedSalesInvoice"
_DOCUMENT_KEY = re.compile(rb"<PostedSalesInvoice><Key>([^<]+)</Key>")


def rss_mb(key: str = "VmRSS") -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def window() -> tuple[datetime, datetime]:
    """SystemModifiedAt of the generated invoices: the last 30 days, ending well before the pull's settle time."""
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    return end - timedelta(days=30), end


def generate(root: str, invoices: int, lines: tuple[int, int]) -> dict[str, Any]:
    start, end = window()
    body = {"invoices": invoices, "lines": list(lines), "modifiedBetween": [start.isoformat(), end.isoformat()]}
    response = httpx.post(f"{root}/_sim/generate", json=body, timeout=3600)
    response.raise_for_status()
    return dict(response.json())


def serve_only(root: str, page_size: int) -> tuple[int, int, float]:
    """(documents, pages, seconds) of reading every page with a raw SOAP client (no zeep, no parsing beyond
    the next bookmark)."""
    from billing.erp import criteria
    from billing.erp.pages import namespace, service_url, soap_action

    url = service_url(f"{root}/BC/WS/CRONUS", SERVICE)
    headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{soap_action(SERVICE, "ReadMultiple")}"'}
    window = criteria.between(datetime(2000, 1, 1, tzinfo=UTC), datetime.now(UTC))
    documents = pages = 0
    bookmark = ""
    started = time.perf_counter()
    with httpx.Client(timeout=600) as client:
        while True:
            mark = f"<bookmarkKey>{bookmark}</bookmarkKey>" if bookmark else ""
            body = (
                '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
                f'<ReadMultiple xmlns="{namespace(SERVICE)}"><filter><Field>SystemModifiedAt</Field>'
                f"<Criteria>{window}</Criteria></filter>{mark}<setSize>{page_size}</setSize></ReadMultiple>"
                "</s:Body></s:Envelope>"
            )
            response = client.post(url, content=body.encode(), headers=headers)
            response.raise_for_status()
            keys = _DOCUMENT_KEY.findall(response.content)
            pages += 1
            documents += len(keys)
            if len(keys) < page_size:
                return documents, pages, time.perf_counter() - started
            bookmark = keys[-1].decode()


def _pull_worker(url: str, base_url: str, page_size: int, profile: bool, results: Any) -> None:
    """In a fresh process: start up (imports, WSDL), then one run of the posted_invoices stream."""
    from billing.erp import criteria
    from billing.erp.pull import Puller
    from billing.erp.settings import ErpSettings
    from billing.erp.soap import SoapGateway

    phases = _time_phases()
    settings = ErpSettings.model_validate(
        {
            "base_url": base_url,
            "rate_limit_per_minute": 0,
            "pull": {"page_size": page_size, "import_unlinked": True},
        }
    )
    database = Database(url)
    gateway = SoapGateway(settings)
    gateway.read_page(ROLE, {"No": criteria.equals("NONE")}, 1)  # WSDL loaded and a connection open
    with database.read_scope() as session:
        session.execute(text("SELECT 1"))
    baseline_rss = rss_mb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    for name in phases:
        phases[name] = 0.0
    page_rss: list[float] = []
    puller = Puller(database, settings, gateway, on_page=lambda stats: page_rss.append(rss_mb()))
    stats = puller.run("posted_invoices")
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
    if profiler:
        profiler.dump_stats(f"/tmp/bench-pull-{os.getpid()}.prof")
    results.put(
        {
            "elapsed": elapsed,
            "cpu": cpu,
            "baseline_rss": baseline_rss,
            "peak_rss": rss_mb("VmHWM"),
            "pages": stats.pages,
            "read": stats.read,
            "actions": stats.actions,
            "finished": stats.finished,
            "profile": f"/tmp/bench-pull-{os.getpid()}.prof" if profiler else None,
            "phases": dict(phases),
            "page_rss": (page_rss[0], page_rss[len(page_rss) // 2], page_rss[-1]) if page_rss else None,
        }
    )
    database.dispose()


def _time_phases() -> dict[str, float]:
    """Time spent in the pull's steps (wrapped here, the pull's code unchanged): ``fetch`` = ReadMultiple (HTTP,
    the simulator, the gateway's lxml parse), ``map`` = `mapping.posted_document`, ``upsert`` = `upsert_page`
    (SQL and ORM work before the commit); the rest is commits, cursor and session handling. Fetch and map run on
    the pull's reader thread while the previous page is upserted, so the phases may add up to more than the wall
    time (then ``rest`` is negative)."""
    import threading

    from billing.erp import pull
    from billing.erp.soap import SoapGateway

    phases = {"fetch": 0.0, "map": 0.0, "upsert": 0.0}
    lock = threading.Lock()
    local = threading.local()  # per thread: a phase inside another (the customer look-up in the mapping) counts once

    def timed(name: str, function: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            active: list[str] = local.__dict__.setdefault("active", [])
            started = time.perf_counter()
            active.append(name)
            try:
                return function(*args, **kwargs)
            finally:
                active.pop()
                spent = time.perf_counter() - started
                with lock:
                    phases[name] += spent
                    if active:
                        phases[active[-1]] -= spent

        return wrapper

    SoapGateway.read_page = timed("fetch", SoapGateway.read_page)  # type: ignore[method-assign]
    pull.posted_document = timed("map", pull.posted_document)  # type: ignore[attr-defined]
    pull.upsert_page = timed("upsert", pull.upsert_page)  # type: ignore[attr-defined]
    return phases


def run(kind: str, invoices: int, lines: tuple[int, int], page_size: int, profile: bool = False) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        url, name = create_database(kind, workdir, "pull")
        simulator = None
        try:
            upgrade(url)
            simulator, root = start_simulator(workdir, {"BILLING_ERP_SIM__LIMITS__MAX_IN_FLIGHT": "5"})
            generated = generate(root, invoices, lines)
            served, pages, serve_s = serve_only(root, page_size)
            assert served == invoices, (served, invoices)
            context = multiprocessing.get_context("spawn")
            results = context.Queue()
            sim_cpu = cpu_seconds(simulator.pid)
            worker = context.Process(
                target=_pull_worker, args=(url, f"{root}/BC/WS/CRONUS", page_size, profile, results)
            )
            worker.start()
            result = results.get()
            worker.join()
            result["sim_cpu"] = cpu_seconds(simulator.pid) - sim_cpu
            database = Database(url)
            with database.read_scope() as session:
                from billing.db.models import Invoice

                result["imported"] = session.execute(select(func.count()).select_from(Invoice)).scalar_one()
            database.dispose()
        finally:
            if simulator is not None:
                simulator.terminate()
                simulator.wait(30)
            drop_database(name)
    result |= {"generated": generated, "serve_s": serve_s, "serve_pages": pages, "invoices": invoices}
    return result


def report(kind: str, lines: tuple[int, int], page_size: int, result: dict[str, Any]) -> None:
    n, generated = result["invoices"], result["generated"]
    shape = f"{lines[0]}" if lines[0] == lines[1] else f"{lines[0]}–{lines[1]}"
    print(
        f"{kind:8} {n:,} posted invoices × {shape} lines ({generated['lines']:,} lines), page_size {page_size}; "
        f"generated in {generated['seconds']:.1f} s"
    )
    print(
        f"   serve-only: {result['serve_pages']} ReadMultiple pages in {result['serve_s']:.2f} s = "
        f"{n / result['serve_s']:,.0f} invoices/s"
    )
    print(
        f"   pull: {result['read']:,} read, {result['actions']} in {result['elapsed']:.2f} s = "
        f"{result['read'] / result['elapsed']:,.0f} invoices/s fetched, parsed and upserted (target ≥ 2,000/s); "
        f"{result['imported']:,} invoices in the database"
    )
    print(
        f"   pull process CPU {result['cpu'] / max(result['read'], 1) * 1000:.2f} ms per invoice "
        f"({result['cpu'] / result['elapsed']:.0%} of a core); RSS after start-up {result['baseline_rss']:.0f} MB, "
        f"after the first, middle and last page {' / '.join(f'{mb:.0f}' for mb in result['page_rss'])} MB, "
        f"peak {result['peak_rss']:.0f} MB; simulator CPU {result['sim_cpu'] / max(result['read'], 1) * 1000:.2f} ms "
        "per invoice"
    )
    phases = result["phases"]
    rest = result["elapsed"] - sum(phases.values())
    per = {name: seconds / max(result["read"], 1) * 1000 for name, seconds in {**phases, "rest": rest}.items()}
    print(
        "   where the pull's time goes (ms per invoice): "
        + ", ".join(f"{name} {value:.2f}" for name, value in per.items())
        + " (rest: commits, cursor, sessions; fetch and map overlap the upsert)"
    )
    if result.get("profile"):
        stats = pstats.Stats(result["profile"])
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--invoices", type=int, default=20_000)
    parser.add_argument("--lines", default="3", help="lines per invoice: N or MIN-MAX")
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--p4", action="store_true", help="memory: 1,000 vs 100,000 invoices (--lines)")
    parser.add_argument("--profile", action="store_true", help="cProfile the pull and print the top functions")
    args = parser.parse_args()
    low, _, high = args.lines.partition("-")
    lines = (int(low), int(high or low))
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}")
    print("settings: erp.pull.import_unlinked = true, rate_limit_per_minute = 0, simulator latency 0, no faults")
    if not args.p4:
        report(
            args.database, lines, args.page_size, run(args.database, args.invoices, lines, args.page_size, args.profile)
        )
        return
    small = run(args.database, 1_000, lines, args.page_size)
    report(args.database, lines, args.page_size, small)
    large = run(args.database, 100_000, lines, args.page_size)
    report(args.database, lines, args.page_size, large)
    print(
        f"P4 {args.database}: peak RSS {small['peak_rss']:.0f} MB (1,000) vs {large['peak_rss']:.0f} MB (100,000): "
        f"growth {large['peak_rss'] - small['peak_rss']:+.0f} MB (target: ≤ 300 MB peak, ≤ 50 MB growth)"
    )


if __name__ == "__main__":
    main()
