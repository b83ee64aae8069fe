"""Splitting a raw query string into RQL filters and reserved parameters (billing-api.md §4.1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote

RESERVED = ("select", "order", "limit", "offset")


@dataclass(frozen=True)
class ParsedQuery:
    filters: list[str] = field(default_factory=list)
    select: str | None = None
    order: str | None = None
    limit: str | None = None
    offset: str | None = None


def parse_query_string(raw: str) -> ParsedQuery:
    """Split on top-level ``&``, percent-decode each piece once (``+`` stays a plus), sort out reserved
    parameters (the last occurrence wins) and keep every other non-empty piece as a filter expression."""
    filters: list[str] = []
    reserved: dict[str, str] = {}
    for piece in _split(raw):
        text = unquote(piece)
        name, sep, value = text.partition("=")
        if sep and name.lower() in RESERVED:
            reserved[name.lower()] = value
        elif text.strip() and text.strip().lower() != "render()":
            filters.append(text)
    return ParsedQuery(filters=filters, **reserved)


def _split(raw: str) -> list[str]:
    """Split on ``&`` at parenthesis depth 0 and outside '...' / "..." literals."""
    pieces: list[str] = []
    start = depth = 0
    quote = ""
    for index, char in enumerate(raw):
        if quote:
            if char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)  # a stray ")" is reported by the parser, not here
        elif char == "&" and depth == 0:
            pieces.append(raw[start:index])
            start = index + 1
    pieces.append(raw[start:])
    return pieces
