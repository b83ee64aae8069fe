"""``limit`` / ``offset`` (billing-api.md §4.7)."""

from __future__ import annotations

from dataclasses import dataclass

from billing.errors import InvalidQuery

DEFAULT_LIMIT = 10
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Page:
    limit: int | None  # None: all (exports, streaming)
    offset: int


def parse_page(limit: str | None, offset: str | None, *, unbounded: bool = False) -> Page:
    """Validate the parameters; ``unbounded`` (JSONL export, streaming) means an absent limit is "all"."""
    parsed_offset = _non_negative("offset", offset) if offset is not None else 0
    if limit is None:
        return Page(None if unbounded else DEFAULT_LIMIT, parsed_offset)
    parsed_limit = _non_negative("limit", limit)
    return Page(parsed_limit if unbounded else min(parsed_limit, MAX_LIMIT), parsed_offset)


def _non_negative(name: str, raw: str) -> int:
    text = raw.strip()
    if not text.isdigit():
        raise InvalidQuery(f"'{name}' must be a non-negative integer, got '{raw}'.")
    return int(text)
