"""All SQL of single-runner job leases and daemon replicas (erp-integration.md §5.3, §5.5).

A job lease row per job name: acquiring it is one fenced ``UPDATE … WHERE lease_until IS NULL OR lease_until <
now`` (one row → run, none → another replica runs it), identical on PostgreSQL and SQLite (``BEGIN
IMMEDIATE``). Replicas beat a ``daemon_replica`` row; live = beaten in the last 30 s.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from billing.db.models import DaemonReplica, JobLease
from billing.erp.repository import db_now

LIVE_S = 30


@dataclass(frozen=True, slots=True)
class HeldLease:
    name: str
    token: str


class JobLeaseRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def acquire(self, name: str, owner: str, ttl: timedelta) -> HeldLease | None:
        """The lease of job ``name`` when nobody holds it (the row is created on first use)."""
        insert = postgresql_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        self.session.execute(insert(JobLease).values(name=name).on_conflict_do_nothing())
        now = db_now(self.session)
        token = secrets.token_hex(8)
        result = self.session.execute(
            update(JobLease)
            .where(JobLease.name == name, or_(JobLease.lease_until.is_(None), JobLease.lease_until < now))
            .values(owner=owner, token=token, lease_until=now + ttl, last_started_at=now)
        )
        return HeldLease(name, token) if result.rowcount == 1 else None  # type: ignore[attr-defined]

    def renew(self, lease: HeldLease, ttl: timedelta) -> bool:
        now = db_now(self.session)
        result = self.session.execute(
            update(JobLease)
            .where(JobLease.name == lease.name, JobLease.token == lease.token)
            .values(lease_until=now + ttl)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def finish(self, lease: HeldLease, status: str, error: str | None = None) -> bool:
        now = db_now(self.session)
        result = self.session.execute(
            update(JobLease)
            .where(JobLease.name == lease.name, JobLease.token == lease.token)
            .values(lease_until=None, last_finished_at=now, last_status=status, last_error=error)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]

    def all(self) -> list[JobLease]:
        return list(self.session.execute(select(JobLease).order_by(JobLease.name)).scalars())


class ReplicaRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def beat(self, replica_id: str, *, hostname: str, pid: int, version: str, state: str) -> datetime:
        now = db_now(self.session)
        replica = self.session.get(DaemonReplica, replica_id)
        if replica is None:
            self.session.add(
                DaemonReplica(
                    replica_id=replica_id,
                    hostname=hostname,
                    pid=pid,
                    version=version,
                    started_at=now,
                    last_beat_at=now,
                    state=state,
                )
            )
        else:
            replica.hostname, replica.pid, replica.version = hostname, pid, version
            replica.last_beat_at, replica.state = now, state
        return now

    def live_ids(self) -> list[str]:
        cutoff = db_now(self.session) - timedelta(seconds=LIVE_S)
        rows = self.session.execute(
            select(DaemonReplica.replica_id)
            .where(DaemonReplica.last_beat_at >= cutoff, DaemonReplica.state == "running")
            .order_by(DaemonReplica.replica_id)
        )
        return list(rows.scalars())

    def purge_stale(self, older_than: timedelta) -> None:
        cutoff = db_now(self.session) - older_than
        self.session.execute(delete(DaemonReplica).where(DaemonReplica.last_beat_at < cutoff))


def share_of(replica_id: str, live: list[str], total: int) -> int:
    """This replica's part of a cluster-wide cap (§3.7): ⌊total/L⌋ (+1 for the first total mod L), at least 1."""
    if replica_id not in live:
        live = sorted([*live, replica_id])
    rank, count = live.index(replica_id), len(live)
    return max(1, total // count + (1 if rank < total % count else 0))
