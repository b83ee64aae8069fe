"""Transition tables: one per resource; every status change goes through `TransitionTable.apply`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from billing.errors import InvalidStatus
from billing.kit.audit import event_name, with_events


class Stateful(Protocol):
    id: str
    status: str
    audit: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True)
class Transition:
    action: str
    sources: tuple[str, ...]
    target: str


class TransitionTable:
    def __init__(self, label: str, transitions: Iterable[Transition]) -> None:
        self.label = label
        self.by_action = {t.action: t for t in transitions}

    def check(self, obj: Stateful, action: str) -> Transition:
        """The transition for ``action``; 409 ``invalid-status`` naming the required statuses otherwise."""
        transition = self.by_action[action]
        if obj.status not in transition.sources:
            raise InvalidStatus(self.label, obj.id, obj.status, action, transition.sources)
        return transition

    def apply(self, obj: Stateful, action: str, actor: Mapping[str, Any], at: datetime) -> Transition:
        transition = self.check(obj, action)
        obj.status = transition.target
        obj.audit = with_events(obj.audit, [event_name(transition.target)], actor, at)
        obj.updated_at = at
        return transition
