"""Response projections: ``select`` (billing-api.md §4.5), default projections (§4.8), ``$meta.omitted``
(§3.5).

`Projection.build` turns the ``select`` tokens into an immutable plan once per request; `Projection.apply`
then only walks that plan for each item. Top-level names are matched case-insensitively against the fields
the caller may see; nested names are matched case-insensitively against the item's keys.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Node:
    """What to keep of an object: everything except ``members`` set to None (``keep_all``), or only the
    members listed; a member's node says how to project its value (lists are projected element-wise)."""

    keep_all: bool
    members: dict[str, _Node | None] = field(default_factory=dict)

    @property
    def whole(self) -> bool:
        return self.keep_all and not self.members

    def add(self, path: list[str]) -> None:
        name, rest = path[0], path[1:]
        if not rest:
            self.members[name] = _Node(True)
            return
        child = self.members.get(name, _Node(True) if self.keep_all else None)
        if child is None:
            child = _Node(False)
        if not child.whole:
            child.add(rest)
        self.members[name] = child

    def remove(self, path: list[str]) -> None:
        name, rest = path[0], path[1:]
        if not rest:
            if self.keep_all:
                self.members[name] = None
            else:
                self.members.pop(name, None)
            return
        child = self.members.get(name, _Node(True) if self.keep_all else None)
        if child is not None:
            child.remove(rest)
            self.members[name] = child


@dataclass(frozen=True)
class _Plan:
    """Frozen `_Node`: ``members`` keys are lower-case, None drops a member; `_WHOLE` keeps a value as is."""

    keep_all: bool
    members: dict[str, _Plan | None]

    @classmethod
    def of(cls, node: _Node) -> _Plan:
        if node.whole:
            return _WHOLE
        members = {name: None if child is None else cls.of(child) for name, child in node.members.items()}
        return cls(node.keep_all, members)

    def project(self, value: Any) -> Any:
        if isinstance(value, dict):
            return self._project_object(value)
        if isinstance(value, list):
            return [self.project(element) for element in value]
        return value

    def _project_object(self, value: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, member in value.items():
            plan = self.members.get(key.lower(), _WHOLE if self.keep_all else None)
            if plan is _WHOLE:
                result[key] = member
            elif plan is not None:
                result[key] = plan.project(member)
        return result


_WHOLE = _Plan(True, {})


class Projection:
    """The top-level fields kept, each with the plan for its value; `omitted`: visible fields left out."""

    def __init__(self, plans: dict[str, _Plan], omitted: list[str]) -> None:
        self._plans = plans
        self.omitted = omitted

    @classmethod
    def build(cls, select: str | None, *, fields: Sequence[str], non_core: Collection[str], full: bool) -> Projection:
        """``fields``: the top-level names visible to the caller, in output order; the default projection is
        all of them (``full``, single objects) or all but ``non_core`` (lists)."""
        canonical = {name.lower(): name for name in fields}
        root = _Node(False, {name: _Node(True) for name in fields if full or name not in non_core})
        for token in (select or "").split(","):
            text = token.strip()
            if text == "-*":
                root.members.clear()
                continue
            removing = text.startswith("-")
            if text[:1] in "+-":
                text = text[1:].strip()
            path = text.split(".")
            name = canonical.get(path[0].lower())
            if name is None or not all(path):
                continue
            path = [name, *(part.lower() for part in path[1:])]
            if removing:
                root.remove(path)
            else:
                root.add(path)
        plans = {name: _Plan.of(node) for name, node in root.members.items() if node is not None}
        omitted = [name for name in fields if name not in plans and name != "id"]
        return cls(plans, omitted)

    def apply(self, item: dict[str, Any]) -> dict[str, Any]:
        """A new dict with the projected fields, in the item's order; ``id`` is always kept."""
        result: dict[str, Any] = {}
        plans = self._plans
        for key, value in item.items():
            if key in plans:
                plan = plans[key]
                result[key] = value if plan is _WHOLE else plan.project(value)
            elif key == "id":
                result[key] = value
        return result
