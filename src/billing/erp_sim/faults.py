"""Limits and fault injection (§2.4).

Per request: outage → limits → pre-processing faults → SOAP faults → commit → post-commit faults, the answer
sent once the drawn latency (the request's whole processing time) has passed.

- `Limiter`: at most ``max_in_flight`` requests are processed at once and ``queue`` more wait for a slot;
  beyond both, or above ``rate_per_minute``, the answer is 429 with ``Retry-After``. It also measures the
  peak and mean concurrency (mean over the time at least one request was in flight, and over all time).
- `knobs_for`: the fault knobs of one operation, ``faults.ops`` scopes applied from least to most specific.
- `FaultInjector`: draws latency and faults from one seeded RNG.
- `DropConnection`: raised by the application when the connection must be reset (after ``hang_s`` of silence
  for a timeout); the HTTP server and the in-process adapter turn it into a reset or a read timeout.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from billing.erp_sim.runtime import merge_patch
from billing.erp_sim.settings import FaultKnobs, FaultSettings, Latency, Limits
from billing.erp_sim.soap import SoapFault

PRE_FAULTS = ("http_500", "http_503", "http_429", "reset_before")
SOAP_FAULTS = ("soap_validation", "soap_locked", "soap_deadlock", "soap_conflict")
POST_FAULTS = ("reset_after_commit", "timeout_after_commit")
_NORMAL = NormalDist()
_Z99 = _NORMAL.inv_cdf(0.99)


class DropConnection(Exception):
    """Close the connection without an answer, after ``hang_s`` seconds of silence."""

    def __init__(self, hang_s: float = 0.0) -> None:
        super().__init__(f"drop the connection after {hang_s} s")
        self.hang_s = hang_s


@dataclass(frozen=True)
class Rejected:
    retry_after_s: int
    reason: str  # "limit" (slots and queue full) or "rate"


class Limiter:
    """In-flight slots, a waiting queue and a per-minute rate; concurrency statistics for /_sim/stats."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._in_flight = 0
        self._waiting = 0
        self._recent: deque[float] = deque()
        self.reset_stats()

    def reset_stats(self) -> None:
        with self._condition:
            self._peak = self._in_flight
            self._started = self._changed = time.monotonic()
            self._area = 0.0  # ∫ in_flight dt
            self._busy = 0.0  # time with at least one request in flight

    def _account(self) -> None:
        now = time.monotonic()
        elapsed = now - self._changed
        self._area += self._in_flight * elapsed
        if self._in_flight:
            self._busy += elapsed
        self._changed = now

    def acquire(self, limits: Limits) -> Rejected | None:
        """Take a slot (waiting in the queue if allowed); a `Rejected` when the request must get 429."""
        with self._condition:
            if limits.rate_per_minute:
                now = time.monotonic()
                while self._recent and self._recent[0] <= now - 60:
                    self._recent.popleft()
                if len(self._recent) >= limits.rate_per_minute:
                    return Rejected(max(1, math.ceil(self._recent[0] + 60 - now)), "rate")
                self._recent.append(now)
            if self._in_flight >= limits.max_in_flight:
                if self._waiting >= limits.queue:
                    return Rejected(limits.retry_after_s, "limit")
                self._waiting += 1
                try:
                    while self._in_flight >= limits.max_in_flight:
                        self._condition.wait()
                finally:
                    self._waiting -= 1
            self._account()
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            return None

    def release(self) -> None:
        with self._condition:
            self._account()
            self._in_flight -= 1
            self._condition.notify()

    def stats(self) -> dict[str, Any]:
        with self._condition:
            self._account()
            total = self._changed - self._started
            return {
                "in_flight": self._in_flight,
                "waiting": self._waiting,
                "peak": self._peak,
                "mean_busy": round(self._area / self._busy, 3) if self._busy else 0.0,
                "mean_overall": round(self._area / total, 3) if total else 0.0,
                "busy_s": round(self._busy, 3),
                "window_s": round(total, 3),
            }


def _specificity(scope: str) -> tuple[int, int]:
    service, operation = scope.split(".")
    return (int("*" not in service) + int("*" not in operation), len(scope.replace("*", "")))


def _matches(pattern: str, value: str) -> bool:
    regex = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.fullmatch(regex, value, re.IGNORECASE) is not None


def knobs_for(faults: FaultSettings, service: str, operation: str) -> FaultKnobs:
    """The fault knobs of ``{service}.{operation}``: the global ones, then matching scopes, least specific first."""
    if not faults.ops:
        return faults
    data = faults.model_dump(include=set(FaultKnobs.model_fields))
    for scope in sorted(faults.ops, key=_specificity):
        pattern_service, pattern_operation = scope.split(".")
        if _matches(pattern_service, service) and _matches(pattern_operation, operation):
            data = merge_patch(data, faults.ops[scope])
    return FaultKnobs.model_validate(data)


def injected_soap_fault(kind: str, table: str) -> SoapFault:
    """The fault a SOAP-fault knob produces, worded like the ERP's."""
    if kind == "soap_validation":
        return SoapFault(
            "NavTestFieldException",
            f"Posting Date must have a value in {table}: Document Type=Invoice, No.=. It cannot be zero or empty.",
        )
    if kind == "soap_locked":
        return SoapFault(
            "NavCSideException",
            f"The {table} table cannot be changed because it is locked by another user. Wait until the user is "
            "finished and then try again.",
        )
    if kind == "soap_deadlock":
        return SoapFault(
            "NavCSideException",
            f"Your activity was deadlocked with another user who was modifying the {table} table. Start again.",
        )
    return SoapFault("NavCSideException", f'Other user has modified {table} "No.=CONST()".')


class FaultInjector:
    """Latency and fault draws from one RNG, seeded by ``faults.seed`` (re-seeded when the seed changes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seed: int | None = None
        self._rng = random.Random()

    def reset(self) -> None:
        """Start the sequence again from the seed (POST /_sim/reset)."""
        with self._lock:
            self._seed = None

    def _random(self, seed: int) -> float:
        with self._lock:
            if seed != self._seed:
                self._seed = seed
                self._rng.seed(seed)
            return self._rng.random()

    def latency_s(self, latency: Latency, seed: int) -> float:
        median = latency.median_ms / 1000
        p99 = max(latency.p99_ms / 1000, median)
        if median <= 0 and p99 <= 0:
            return 0.0
        if latency.dist == "fixed" or p99 == median:
            return median
        u = self._random(seed)
        if latency.dist == "uniform":  # median in the middle, p99 at 99 % of the span
            width = (p99 - median) / 0.49
            return max(0.0, median - width / 2 + u * width)
        sigma = (math.log(p99) - math.log(median)) / _Z99 if median > 0 else 1.0
        return float(math.exp(math.log(max(median, 1e-6)) + sigma * _NORMAL.inv_cdf(min(max(u, 1e-12), 1 - 1e-12))))

    def draw(self, knobs: FaultKnobs, kinds: tuple[str, ...], seed: int) -> str | None:
        """The first of ``kinds`` whose probability hits, or None."""
        for kind in kinds:
            probability = getattr(knobs, kind)
            if probability and self._random(seed) < probability:
                return kind
        return None
