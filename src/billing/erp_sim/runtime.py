"""What a request sees: the configured settings merged with the run-time knob patches, the outage, the clock.

All three live in the state file (``meta``), so a ``billing erp-sim … --db`` command or another process on the
same file changes a running simulator; each request reads them once (the parse is cached by content).

Clock: simulated now = ``anchor_sim + (real now − anchor_real) × rate``. Advancing moves ``anchor_sim``; a new
rate re-anchors at the current simulated time. On start the configured ``clock.rate`` wins; the simulated time
itself survives restarts. A simulator that only attaches to a state file (``billing erp-sim … --db``) leaves
the rate alone.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import ValidationError

from billing.erp_sim.settings import KNOB_SECTIONS, ErpSimSettings
from billing.erp_sim.store import Store, Tx

_META_KEYS = ("knobs", "outage", "clock")
log = structlog.get_logger("billing.erp_sim")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge recursively, ``null`` removes a member."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


@dataclass(frozen=True)
class ClockState:
    anchor_real: float
    anchor_sim: datetime
    rate: float

    def now(self) -> datetime:
        elapsed = time.time() - self.anchor_real
        moment = self.anchor_sim + timedelta(seconds=elapsed * self.rate)
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def as_json(self) -> str:
        return json.dumps(
            {"anchor_real": self.anchor_real, "anchor_sim": self.anchor_sim.isoformat(), "rate": self.rate}
        )

    @classmethod
    def from_json(cls, raw: str) -> ClockState:
        data = json.loads(raw)
        return cls(float(data["anchor_real"]), datetime.fromisoformat(data["anchor_sim"]), float(data["rate"]))


@dataclass(frozen=True)
class Runtime:
    settings: ErpSimSettings  # configured settings with the knob patches applied
    patches: dict[str, Any]
    clock: ClockState
    outage_until: float | None  # real epoch seconds
    outage_mode: str

    def now(self) -> datetime:
        return self.clock.now()

    def outage_active(self) -> bool:
        return self.outage_until is not None and time.time() < self.outage_until


class RuntimeState:
    """Reads and changes the run-time state of one simulator."""

    def __init__(self, store: Store, settings: ErpSimSettings, *, apply_clock_rate: bool = True) -> None:
        self.store = store
        self.settings = settings
        self._cache: tuple[tuple[str | None, ...], Runtime] | None = None
        with store.write() as tx:
            self._anchor_clock(tx, apply_clock_rate)

    def _anchor_clock(self, tx: Tx, apply_rate: bool = True) -> None:
        raw = tx.meta("clock")
        configured = self.settings.clock
        if raw is None:
            start = configured.start or datetime.now(UTC)
            start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
            state = ClockState(time.time(), start, configured.rate)
        else:
            current = ClockState.from_json(raw)
            if current.rate == configured.rate or not apply_rate:
                return
            state = ClockState(time.time(), current.now(), configured.rate)
        tx.set_meta("clock", state.as_json())

    def current(self) -> Runtime:
        with self.store.read() as tx:
            rows = dict(
                tx.execute(
                    f"SELECT key, value FROM meta WHERE key IN ({', '.join('?' for _ in _META_KEYS)})", _META_KEYS
                ).fetchall()
            )
        raw = tuple(rows.get(key) for key in _META_KEYS)
        cached = self._cache
        if cached is not None and cached[0] == raw:
            return cached[1]
        runtime = self._build(*raw)
        self._cache = (raw, runtime)
        return runtime

    def _build(self, knobs: str | None, outage: str | None, clock: str | None) -> Runtime:
        patches = json.loads(knobs) if knobs else {}
        try:
            settings = self.effective(patches)
        except ValidationError as error:  # e.g. the configuration changed under an old patch
            log.warning("erp_sim.knobs.ignored", error=str(error))
            patches, settings = {}, self.settings
        outage_data = json.loads(outage) if outage else {}
        if clock is None:  # reset by another process: anchor again
            with self.store.write() as tx:
                self._anchor_clock(tx)
                clock = tx.meta("clock")
        assert clock is not None
        return Runtime(
            settings,
            patches,
            ClockState.from_json(clock),
            outage_data.get("until"),
            outage_data.get("mode", "503"),
        )

    def effective(self, patches: dict[str, Any]) -> ErpSimSettings:
        """The configured settings with knob patches applied (raises pydantic's ValidationError if invalid)."""
        update = {}
        for section in KNOB_SECTIONS:
            if section in patches:
                configured = getattr(self.settings, section)
                data = merge_patch(configured.model_dump(mode="json"), patches[section])
                update[section] = type(configured).model_validate(data)
        return self.settings.model_copy(update=update) if update else self.settings

    # changes (used by the admin API)
    def patch(self, section: str, patch: dict[str, Any]) -> ErpSimSettings:
        with self.store.write() as tx:
            patches = tx.meta_json("knobs", {})
            patches[section] = merge_patch(patches.get(section, {}), patch)
            settings = self.effective(patches)
            tx.set_meta("knobs", json.dumps(patches))
        return settings

    def set_outage(self, seconds: float | None, mode: str = "503") -> None:
        value = None if seconds is None else json.dumps({"until": time.time() + seconds, "mode": mode})
        with self.store.write() as tx:
            tx.set_meta("outage", value)

    def change_clock(self, *, advance_s: float = 0.0, to: datetime | None = None, rate: float | None = None) -> None:
        with self.store.write() as tx:
            raw = tx.meta("clock")
            current = ClockState.from_json(raw) if raw else ClockState(time.time(), datetime.now(UTC), 1.0)
            now_sim = (to.astimezone(UTC) if to else current.now()) + timedelta(seconds=advance_s)
            state = ClockState(time.time(), now_sim, current.rate if rate is None else rate)
            tx.set_meta("clock", state.as_json())
