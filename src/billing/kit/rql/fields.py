"""Allow-list registries: the properties a caller may filter and order on (billing-api.md §4.4, §2.6).

A registry maps lower-case dotted paths (``"client.id"``, ``"audit.created.at"``) to a scalar `Field` or a
to-many `Collection`. Callers pass a role-filtered registry, so hidden properties answer "Unknown property".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.orm import QueryableAttribute


class FieldType(StrEnum):
    STRING = "string"
    ID = "id"
    ENUM = "enum"
    NUMBER = "number"
    INTEGER = "integer"
    DATETIME = "date-time"
    BOOLEAN = "boolean"


@dataclass(frozen=True)
class Field:
    expr: ColumnElement[Any] | QueryableAttribute[Any]
    type: FieldType
    enum_values: tuple[str, ...] = ()
    """Canonical values of an ENUM property, as stored."""
    sortable: bool = True


@dataclass(frozen=True)
class Collection:
    """A to-many property usable in ``any()``/``all()``/``empty()``.

    ``exists(pred)`` returns ``EXISTS(SELECT 1 FROM child WHERE child.parent = outer.id AND pred)``; a
    ``None`` predicate adds no extra condition. Paths inside ``any``/``all`` are resolved against ``fields``.
    """

    fields: Registry
    exists: Callable[[ColumnElement[bool] | None], ColumnElement[bool]]


Registry = Mapping[str, Field | Collection]
