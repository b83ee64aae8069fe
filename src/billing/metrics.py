"""Prometheus metrics of the daemon (erp-integration.md §5.5), on a registry of its own.

Counters and histograms are updated where the work happens; gauges derived from the database (outbox depth,
oldest age, pause, live replicas) come from `DatabaseCollector`, refreshed at most every 5 s, so every replica
reports the same values.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from billing.db.engine import Database

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class DaemonMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.push_attempts = Counter(
            "billing_erp_push_attempts", "ERP calls made by the push, by outcome", ["outcome"], registry=r
        )
        self.call_duration = Histogram(
            "billing_erp_call_duration_seconds",
            "ERP call duration as seen by the service",
            ["service", "operation", "outcome"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("billing_erp_in_flight", "ERP calls in flight in this replica", registry=r)
        self.circuit_open = Gauge(
            "billing_erp_circuit_open", "1 while this replica's circuit breaker is open", registry=r
        )
        self.pull_documents = Counter(
            "billing_erp_pull_documents", "Documents seen by the pull", ["stream", "action"], registry=r
        )
        self.total_mismatch = Counter(
            "billing_erp_push_total_mismatch", "ERP documents whose amount differs from the plan", registry=r
        )
        self.duplicates = Counter(
            "billing_erp_duplicate_documents", "Look-ups that found more than one ERP document", registry=r
        )
        self.job_runs = Counter("billing_job_runs", "Daemon job runs", ["job", "outcome"], registry=r)
        self.job_duration = Histogram(
            "billing_job_duration_seconds",
            "Daemon job run time",
            ["job", "outcome"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )

    def on_call(self, operation: str, outcome: str, seconds: float) -> None:
        """Hook for the pusher: one ERP call finished."""
        service, _, name = operation.partition(".")
        self.push_attempts.labels(outcome).inc()
        self.call_duration.labels(service, name, outcome).observe(seconds)


class DatabaseCollector(Collector):
    """Gauges read from the database by ``read()`` (returns name → value or {label: value}), cached 5 s."""

    def __init__(self, database: Database, read: Callable[[Any], dict[str, Any]], ttl_s: float = 5.0) -> None:
        self.database = database
        self.read = read
        self.ttl_s = ttl_s
        self._cached: dict[str, Any] = {}
        self._at = 0.0
        self._lock = threading.Lock()

    def _values(self) -> dict[str, Any]:
        with self._lock:
            if time.monotonic() - self._at > self.ttl_s:
                with self.database.read_scope() as session:
                    self._cached = self.read(session)
                self._at = time.monotonic()
            return self._cached

    def collect(self) -> Iterator[GaugeMetricFamily]:
        values = self._values()
        rows = GaugeMetricFamily("billing_erp_outbox_rows", "Outbox rows by state", labels=["state"])
        for state, count in values.get("outbox_rows", {}).items():
            rows.add_metric([state], count)
        yield rows
        lag = GaugeMetricFamily(
            "billing_erp_pull_lag_seconds",
            "Now minus the stream's watermark (ledger: since it last moved)",
            labels=["stream"],
        )
        for stream, seconds in values.get("pull_lag", {}).items():
            lag.add_metric([stream], seconds)
        yield lag
        for name, help_text in (
            ("billing_erp_outbox_oldest_age_seconds", "Age of the oldest pending outbox row"),
            ("billing_erp_queue_paused", "1 while the ERP queue is paused"),
            ("billing_erp_issued_unlinked", "Issued statements not yet linked to an ERP document"),
            ("billing_daemon_live_replicas", "Daemon replicas beaten in the last 30 s"),
        ):
            yield GaugeMetricFamily(name, help_text, value=float(values.get(name, 0)))
