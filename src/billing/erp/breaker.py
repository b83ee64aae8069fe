"""The per-process guards of ERP traffic: the circuit breaker (erp-integration.md §3.5) and the replica's token
bucket for ``erp.rate_limit_per_minute`` (§3.7).

Five consecutive transport failures (connect, timeout, reset, 5xx, 429) open it; while open no rows are claimed
and no pulls run. After 15 s (doubling up to 120 s on each failed probe) one claimed row is the probe: success
closes the breaker, failure opens it again. The numbers are ``[erp.breaker]`` settings.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from billing.erp.errors import ErpError, ErpRetryableError
from billing.erp.settings import BreakerSettings


def is_transport_failure(error: ErpError) -> bool:
    """Connect/timeout/reset (no HTTP status), 5xx and 429: the ERP or the way to it is unwell."""
    if not isinstance(error, ErpRetryableError) or error.fault_code is not None:
        return False
    return error.http_status is None or error.http_status >= 500 or error.http_status == 429


class CircuitBreaker:
    def __init__(self, settings: BreakerSettings | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or BreakerSettings()
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._cool_down = self.settings.cool_down_s
        self._probing = False
        self.times_opened = 0

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None

    def allows_traffic(self) -> bool:
        """True while closed."""
        return not self.is_open

    def probe_slots(self) -> int:
        """While open: 1 once the cool-down has passed and no probe is out, else 0."""
        with self._lock:
            if self._opened_at is None:
                return 0
            if self._probing or self._clock() - self._opened_at < self._cool_down:
                return 0
            self._probing = True
            return 1

    def cancel_probe(self) -> None:
        """The probe slot was not used (nothing was due)."""
        with self._lock:
            self._probing = False

    def record(self, error: ErpError | None) -> None:
        """The outcome of one ERP call (None = success)."""
        with self._lock:
            if error is None or not is_transport_failure(error):
                if error is None:
                    self._failures = 0
                    self._opened_at = None
                    self._cool_down = self.settings.cool_down_s
                    self._probing = False
                return
            self._failures += 1
            if self._probing:  # the probe failed: open again, longer
                self._probing = False
                self._opened_at = self._clock()
                self._cool_down = min(self._cool_down * 2, self.settings.max_cool_down_s)
            elif self._failures >= self.settings.open_after and self._opened_at is None:
                self._opened_at = self._clock()
                self.times_opened += 1


class TokenBucket:
    """At most ``per_minute`` calls a minute (0 = unlimited), in bursts of up to a second's worth; `take` waits."""

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.per_minute = per_minute
        self._tokens = max(per_minute / 60, 1.0)
        self._at = clock()

    def take(self) -> None:
        while True:
            with self._lock:
                if self.per_minute <= 0:
                    return
                rate = self.per_minute / 60
                now = self._clock()
                self._tokens = min(max(rate, 1.0), self._tokens + (now - self._at) * rate)
                self._at = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                wait = (1 - self._tokens) / rate
            time.sleep(wait)
