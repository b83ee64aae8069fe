"""Upload benchmark (issue: journals): N charge lines (~1 % bad) → time until Validated/Error.

Runs a real ``billing serve`` process (with its in-process worker) on a fresh SQLite file or a fresh
PostgreSQL database, uploads the generated JSONL file as the demo vendor, polls the journal, and prints
throughput and the server's peak RSS. Not a test: run it by hand, e.g.

    .venv/bin/python tests/benchmarks/bench_upload.py --lines 10000 1000000 --database sqlite
    .venv/bin/python tests/benchmarks/bench_upload.py --lines 1000000 --database postgres
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson
from sqlalchemy import create_engine, text

from billing.db.engine import Database
from billing.db.migrate import upgrade
from billing.reference.demo import DEMO_ACCOUNTS, DEMO_TOKENS, build_demo_dataset
from billing.reference.loader import import_file

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_file(path: Path, lines: int, dataset: dict, authorization: dict, bad_share: float) -> None:
    """Valid lines spread over the product's subscriptions; ``bad_share`` of them name an unknown one."""
    agreements = {a["id"]: a for a in dataset["agreements"]}
    subscriptions = [
        s
        for s in dataset["subscriptions"]
        if agreements[s["agreement"]]["product"] == authorization["product"]
        and agreements[s["agreement"]].get("currency") in (None, authorization["currency"])
        and not agreements[s["agreement"]].get("split")  # one charge per line, so lines = charges
        and s.get("items")
    ]
    rng = random.Random(7)
    with path.open("wb") as out:
        for number in range(1, lines + 1):
            subscription = subscriptions[number % len(subscriptions)]
            value = "SUB-0000-0000-0001" if rng.random() < bad_share else subscription["id"]
            record = {
                "externalIds": {"vendor": f"e-{number}", "invoice": "INV-1"},
                "search": {
                    "source": {"type": "Subscription", "criteria": "id", "value": value},
                    "item": {
                        "criteria": "item.id",
                        "value": subscription["items"][number % len(subscription["items"])],
                    },
                },
                "period": {"start": "2025-06-01", "end": "2025-06-30T23:59:59Z"},
                "quantity": number % 50 + 1,
                "price": {"unitPP": "12.5", "PPx1": str(12.5 * (number % 50 + 1))},
                "description": {"value1": "Standard seat", "value2": "June"},
            }
            out.write(orjson.dumps(record) + b"\n")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run(lines: int, database: str, workdir: Path, bad_share: float) -> dict:
    if database == "sqlite":
        url = f"sqlite:///{workdir}/bench-{lines}.db"
    else:
        name = f"billing_bench_{os.getpid()}_{lines}"
        admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    upgrade(url)
    dataset = build_demo_dataset()
    reference = workdir / "reference.json"
    reference.write_bytes(orjson.dumps(dataset, default=str))
    import_file(Database(url), reference, "replace")
    authorization = next(
        a for a in dataset["authorizations"] if a["vendor"] == DEMO_ACCOUNTS["vendor"] and a["currency"] == "USD"
    )
    charges = workdir / f"charges-{lines}.jsonl"
    write_file(charges, lines, dataset, authorization, bad_share)

    port = free_port()
    env = {
        **os.environ,
        "BILLING_DATABASE_URL": url,
        "BILLING_STORAGE__ATTACHMENTS_DIR": str(workdir / "files"),
        "BILLING_WORKER__POLL_S": "0.2",
        # a million lines is ~370 MB, beyond the spec's 100 MiB default limit for charge files
        "BILLING_API__MAX_CHARGE_FILE_BYTES": str(2 * 1024**3),
        "BILLING_LOG__LEVEL": "WARNING",
    }
    server = subprocess.Popen([sys.executable, "-m", "billing.cli", "serve", "--port", str(port)], env=env, cwd=workdir)
    base = f"http://127.0.0.1:{port}/public/v1/billing"
    headers = {"Authorization": f"Bearer {DEMO_TOKENS['vendor']}"}
    try:
        with httpx.Client(base_url=base, timeout=600) as http:
            for _ in range(200):
                try:
                    if http.get("/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            journal = http.post(
                "/journals", headers=headers, json={"name": "bench", "authorization": {"id": authorization["id"]}}
            ).json()
            started = time.perf_counter()
            with charges.open("rb") as stream:
                response = http.post(
                    f"/journals/{journal['id']}/upload",
                    headers=headers,
                    files={"file": ("charges.jsonl", stream, "application/x-ndjson")},
                )
            response.raise_for_status()
            accepted = time.perf_counter() - started
            while True:
                state = http.get(f"/journals/{journal['id']}", headers=headers).json()
                if state["status"] in ("Validated", "Error"):
                    break
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
        rss = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(30)
        if database == "postgres":
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return {
        "database": database,
        "lines": lines,
        "file_mb": charges.stat().st_size / 1e6,
        "upload_response_s": accepted,
        "total_s": elapsed,
        "charges_per_s": state["upload"]["total"] / elapsed,
        "peak_rss_mb": rss,
        "status": state["status"],
        "upload": state["upload"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--bad", type=float, default=0.01, help="share of lines naming an unknown subscription")
    args = parser.parse_args()
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}")
    with tempfile.TemporaryDirectory() as tmp:
        for lines in args.lines:
            result = run(lines, args.database, Path(tmp), args.bad)
            print(
                f"{result['database']:8} {result['lines']:>9,} lines {result['file_mb']:7.1f} MB  "
                f"upload answered in {result['upload_response_s']:.2f} s, {result['status']} after "
                f"{result['total_s']:.1f} s → {result['charges_per_s']:,.0f} charges/s, "
                f"server peak RSS {result['peak_rss_mb']:.0f} MB  {result['upload']}"
            )


if __name__ == "__main__":
    main()
