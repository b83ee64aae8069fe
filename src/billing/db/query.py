"""Run a collection query: RQL filter, order, paging and the exact in-scope total (billing-api.md §4)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import QueryableAttribute, Session

from billing.errors import InvalidQuery
from billing.kit.pagination import Page
from billing.kit.rql import ParsedQuery, Registry, RqlError, compile_filter, compile_order


@dataclass(frozen=True)
class ListSpec:
    """How one collection is queried: its allow-list, default order and final tie-breaker."""

    registry: Registry
    default_order: str
    tiebreak: ColumnElement[Any] | QueryableAttribute[Any]


def filtered(stmt: Select[Any], spec: ListSpec, query: ParsedQuery) -> Select[Any]:
    """Apply the RQL filter and order (400 `invalid-query` on any query error)."""
    try:
        condition = compile_filter(query.filters, spec.registry)
        ordering = compile_order(query.order, spec.registry, default=spec.default_order, tiebreak=spec.tiebreak)
    except RqlError as exc:
        raise InvalidQuery(exc.message) from None
    if condition is not None:
        stmt = stmt.where(condition)
    return stmt.order_by(*ordering)


def count(session: Session, stmt: Select[Any]) -> int:
    return int(session.execute(select(func.count()).select_from(stmt.order_by(None).subquery())).scalar_one())


def _records(result: Any, stmt: Select[Any]) -> Any:
    """ORM objects for ``select(Model)``; plain rows (attribute access by column name) for Core selects."""
    described = stmt.column_descriptions
    if (
        len(described) == 1
        and isinstance(described[0].get("entity"), type)
        and described[0]["expr"] is described[0]["entity"]
    ):
        return result.scalars()
    return result


def page_of(session: Session, stmt: Select[Any], page: Page) -> tuple[Sequence[Any], int]:
    """One page of records and the exact total."""
    total = count(session, stmt)
    if page.limit == 0:
        return [], total
    paged = stmt.offset(page.offset).limit(page.limit)
    return _records(session.execute(paged), stmt).all(), total


def stream_rows(session: Session, stmt: Select[Any], page: Page, batch: int = 1000) -> Iterator[Any]:
    """All matching rows, fetched in batches (exports and streaming)."""
    if page.offset:
        stmt = stmt.offset(page.offset)
    if page.limit is not None:
        stmt = stmt.limit(page.limit)
    result = session.execute(stmt.execution_options(yield_per=batch))
    yield from _records(result, stmt)
