"""UTC instants (billing-api.md §3.4): naive-UTC `datetime` inside the service, ISO-8601 ``Z`` outside."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,7}))?)?\s*(Z|z|[+-]\d{2}:?\d{2})?$"
)


def utcnow() -> datetime:
    """Current instant as naive UTC, truncated to milliseconds (the API's precision)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def parse_instant(text: str) -> datetime:
    """Parse an ISO-8601 date or date-time into naive UTC. Raises ValueError when invalid.

    A date means 00:00:00Z; no offset means UTC; up to 7 fractional digits are accepted.
    """
    raw = text.strip()
    if _DATE.match(raw):
        return datetime.combine(date.fromisoformat(raw), datetime.min.time())
    match = _DATETIME.match(raw)
    if not match:
        raise ValueError(f"not an ISO 8601 date or date-time: {text!r}")
    day, hh, mm, ss, frac, offset = match.groups()
    micro = int((frac or "0").ljust(7, "0")[:6]) if frac else 0
    value = datetime.combine(date.fromisoformat(day), datetime.min.time()).replace(
        hour=int(hh), minute=int(mm), second=int(ss or 0), microsecond=micro
    )
    if offset and offset not in ("Z", "z"):
        sign = 1 if offset[0] == "+" else -1
        digits = offset[1:].replace(":", "")
        value -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return value


def format_instant(value: datetime) -> str:
    """``2025-06-10T17:04:53.802Z``."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
