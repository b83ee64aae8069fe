"""Audit objects (billing-api.md §3.7): ``{event: {at, by}}``, latest occurrence of each event kept."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any


def event_name(status: str) -> str:
    """Status → audit event name in lower camel case (``Enquiring`` → ``enquiring``)."""
    compact = status.replace(" ", "")
    return compact[:1].lower() + compact[1:]


def with_events(audit: Mapping[str, Any], events: list[str], actor: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    """A new audit dict with ``events`` (and ``updated``) recorded at ``at`` by ``actor``."""
    record = {"at": at, "by": dict(actor)}
    result = dict(audit)
    for name in (*events, "updated"):
        result[name] = record
    return result


def created(actor: Mapping[str, Any], at: datetime, *events: str) -> dict[str, Any]:
    return with_events({}, ["created", *events], actor, at)
