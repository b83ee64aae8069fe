"""What the benchmark scripts share: a fresh database per run, free ports, starting the service's processes,
process CPU time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_billing(
    args: list[str], ready_url: str, workdir: Path, env: dict[str, str], *, quiet: bool = True
) -> subprocess.Popen[bytes]:
    """``billing ARGS…`` in ``workdir`` with ``env`` added to this environment, once ``ready_url`` answers 200."""
    output = subprocess.DEVNULL if quiet else None
    process = subprocess.Popen(
        [sys.executable, "-m", "billing.cli", *args],
        env={**os.environ, "BILLING_LOG__LEVEL": "WARNING", **env},
        cwd=workdir,
        stdout=output,
        stderr=output,
    )
    for _ in range(600):
        try:
            if httpx.get(ready_url).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"billing {' '.join(args)} did not start")


def start_simulator(workdir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """``billing erp-sim`` on a free port, its state in ``workdir``, posting off; (process, root URL)."""
    port = free_port()
    root = f"http://127.0.0.1:{port}"
    args = ["erp-sim", "--port", str(port), "--db", "erp.sqlite"]
    return start_billing(args, f"{root}/_sim/", workdir, {"BILLING_ERP_SIM__POSTING__ENABLED": "false", **env}), root


def create_database(kind: str, workdir: Path, label: str) -> tuple[str, str | None]:
    """A fresh SQLite file in ``workdir`` or PostgreSQL database; returns its URL and the PostgreSQL name."""
    if kind == "sqlite":
        return f"sqlite:///{workdir}/bench-{label}.db", None
    name = f"billing_bench_{label}_{os.getpid()}"
    _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", name


def drop_database(name: str | None) -> None:
    if name:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _admin(*statements: str) -> None:
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
    admin.dispose()
