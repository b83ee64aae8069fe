"""Content negotiation (billing-api.md §3.10)."""

from __future__ import annotations

from fastapi import Request

from billing.errors import NotAcceptable

JSON_ACCEPTABLE = frozenset({"*/*", "application/*", "application/json"})
JSONL_TYPES = ("application/jsonl", "application/x-ndjson")


def accepted(request: Request) -> list[str]:
    """Media types listed in ``Accept`` (lower-case, parameters dropped; q=0 entries ignored)."""
    header = request.headers.get("accept")
    if header is None or not header.strip():
        return []
    types = []
    for part in header.split(","):
        media, *params = (piece.strip() for piece in part.split(";"))
        if any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params):
            continue
        if media:
            types.append(media.lower())
    return types


def require_json(request: Request) -> None:
    """JSON endpoints accept ``Accept`` absent, ``*/*``, ``application/*`` or ``application/json``."""
    types = accepted(request)
    if types and not JSON_ACCEPTABLE.intersection(types):
        raise NotAcceptable(
            f"This endpoint produces application/json; 'Accept: {request.headers['accept']}' cannot be satisfied."
        )


def collection_format(request: Request, *, csv: bool = False) -> str:
    """``json``, ``jsonl:<media type>``, ``stream-json`` or ``csv`` for a collection request (§3.10, §3.12)."""
    types = accepted(request)
    streaming = request.headers.get("mpt-streaming", "").strip().lower() == "true"
    for media in JSONL_TYPES:
        if media in types:
            return f"jsonl:{media}"
    if streaming:
        if "application/json" in types:
            return "stream-json"
        raise NotAcceptable("Streaming needs 'Accept: application/jsonl' or 'application/json'.")
    if csv and "text/csv" in types:
        return "csv"
    if types and not JSON_ACCEPTABLE.intersection(types):
        raise NotAcceptable(f"'Accept: {request.headers['accept']}' cannot be satisfied by this collection.")
    return "json"
