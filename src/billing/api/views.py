"""Rendering a resource for a caller: role visibility, projection, envelopes, exports (§3.5, §3.12, §4.5)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import orjson
from cachetools import LRUCache
from sqlalchemy import Select
from sqlalchemy.orm import Session
from starlette.responses import Response, StreamingResponse

from billing.api.deps import Ctx
from billing.api.negotiation import collection_format, require_json
from billing.auth.visibility import hidden_paths, prune, visible_registry
from billing.db.query import ListSpec, count, filtered, page_of, stream_rows
from billing.errors import PayloadTooLarge
from billing.kit.jsonout import JsonResponse, dumps
from billing.kit.pagination import parse_page
from billing.kit.rql import Registry
from billing.kit.select import Projection

Render = Callable[[Any], dict[str, Any]]
#: Builds the row renderer for a session (exports render inside their own snapshot session). A renderer that
#: also has ``prefetch(rows)`` is handed each page (or export batch) before its rows are rendered, so that it
#: can read what the rows refer to in a few queries instead of a few per row.
RenderFactory = Callable[[Session], Render]
#: Rows an export hands to ``prefetch`` at a time.
PREFETCH_BATCH = 500
#: Encoded list items of renderers that can name their inputs (``cache_key``), keyed by (view shape, row key): a
#: per-process memo within a byte budget (~10,000 full invoices), least recently used first out. A key is a pure
#: function of the item's inputs, so an entry is never stale; entries for inputs since changed just age out.
ITEMS_BUDGET = 64 * 1024 * 1024
ITEMS: LRUCache[Hashable, bytes] = LRUCache(maxsize=ITEMS_BUDGET, getsizeof=len)
_ITEMS_LOCK = threading.Lock()  # cachetools caches are not thread-safe


def _prefetched(rows: Iterable[Any], render: Render, batch: int = PREFETCH_BATCH) -> Iterator[Any]:
    """``rows`` again, with ``render.prefetch`` (when it has one) called on each batch before it is yielded."""
    prefetch: Callable[[Sequence[Any]], None] | None = getattr(render, "prefetch", None)
    if prefetch is None:
        yield from rows
        return
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= batch:
            prefetch(chunk)
            yield from chunk
            chunk = []
    if chunk:
        prefetch(chunk)
        yield from chunk


@dataclass(frozen=True)
class ResourceView:
    """How a resource is shown: its top-level fields in order, the non-core ones, its visibility table."""

    fields: tuple[str, ...]
    non_core: frozenset[str] = frozenset()
    visibility: str | None = None  # key of auth.visibility.RESTRICTED
    label: str = ""
    extra_hidden: dict[str, frozenset[str]] = field(default_factory=dict)

    def hidden(self, ctx: Ctx) -> frozenset[str]:
        return hidden_paths(self.visibility, ctx.principal.role) if self.visibility else frozenset()

    def visible_fields(self, hidden: frozenset[str]) -> list[str]:
        return [name for name in self.fields if name not in hidden]

    def registry(self, ctx: Ctx, registry: Registry) -> Registry:
        """The RQL allow-list minus what the role may not see (→ 400 Unknown property), collections included."""
        return visible_registry(registry, self.hidden(ctx))


def shown(item: dict[str, Any], hidden: frozenset[str], projection: Projection) -> dict[str, Any]:
    """Role pruning, then the projection, then pruning again: a selected hidden member must not leave its
    (now empty) parents behind (§2.6, §4.5)."""
    return prune(projection.apply(prune(item, hidden)), hidden)


def item_response(
    ctx: Ctx, view: ResourceView, item: dict[str, Any], *, status_code: int = 200, location: str | None = None
) -> Response:
    """A single object: every visible field unless ``select`` says otherwise."""
    require_json(ctx.request)
    hidden = view.hidden(ctx)
    projection = Projection.build(
        ctx.query.select, fields=view.visible_fields(hidden), non_core=view.non_core, full=True
    )
    body = {"$meta": {"omitted": projection.omitted}, **shown(item, hidden, projection)}
    headers = {"Location": location} if location else None
    return JsonResponse(body, status_code=status_code, headers=headers)


def collection_response(
    ctx: Ctx, view: ResourceView, stmt: Select[Any], spec: ListSpec, renderer: RenderFactory
) -> Response:
    """A collection in the format the caller asked for: paged JSON, JSONL export or streaming (§3.12)."""
    fmt = collection_format(ctx.request)
    spec = ListSpec(view.registry(ctx, spec.registry), spec.default_order, spec.tiebreak)
    stmt = filtered(stmt, spec, ctx.query)
    hidden = view.hidden(ctx)
    projection = Projection.build(
        ctx.query.select, fields=view.visible_fields(hidden), non_core=view.non_core, full=False
    )

    def shown_with(render: Render) -> Render:
        return lambda row: shown(render(row), hidden, projection)

    if fmt == "json":
        render = renderer(ctx.session)
        present = shown_with(render)
        page = parse_page(ctx.query.limit, ctx.query.offset)
        rows, total = page_of(ctx.session, stmt, page)
        meta = {"omitted": projection.omitted}
        # what, besides the row, decides an item's bytes: the projection and the role's hidden paths
        shape = (view.label, view.fields, view.non_core, hidden, ctx.query.select)
        data = [
            _encoded_item(render, row, shape, lambda row: {"$meta": meta, **present(row)})
            for row in _prefetched(rows, render, max(1, len(rows)))
        ]
        envelope = {
            "$meta": {"pagination": {"offset": page.offset, "limit": page.limit, "total": total}, **meta},
            "data": data,
        }
        return JsonResponse(envelope)
    return _export(ctx, fmt, stmt, renderer, shown_with, projection.omitted)


def _encoded_item(render: Render, row: Any, shape: Hashable, build: Render) -> Any:
    """The item as built by ``build``, or its encoded form (`orjson.Fragment`) from `ITEMS` when the renderer
    names the row's inputs with ``cache_key(row)`` (bytes, or None when it cannot)."""
    cache_key: Callable[[Any], bytes | None] | None = getattr(render, "cache_key", None)
    row_key = cache_key(row) if cache_key is not None else None
    if row_key is None:
        return build(row)
    key = (shape, row_key)
    with _ITEMS_LOCK:
        encoded = ITEMS.get(key)
    if encoded is None:
        encoded = dumps(build(row))
        with _ITEMS_LOCK, suppress(ValueError):  # an item larger than the whole budget is not kept
            ITEMS[key] = encoded
    return orjson.Fragment(encoded)


def _export(
    ctx: Ctx,
    fmt: str,
    stmt: Select[Any],
    renderer: RenderFactory,
    shown_with: Callable[[Render], Render],
    omitted: list[str],
) -> Response:
    """JSONL export or streaming envelope from one consistent snapshot, with ``MPT-Item-Count``."""
    page = parse_page(ctx.query.limit, ctx.query.offset, unbounded=True)
    database = ctx.request.app.state.database
    session_cm = database.read_scope()
    session = session_cm.__enter__()
    try:
        total = count(session, stmt)
        items = max(0, total - page.offset)
        if page.limit is not None:
            items = min(items, page.limit)
        if items > ctx.settings.api.export_max_records:
            raise PayloadTooLarge(
                f"The export has {items} records; the limit is {ctx.settings.api.export_max_records}."
            )
    except BaseException:
        session_cm.__exit__(None, None, None)
        raise

    render = renderer(session)
    present = shown_with(render)

    def body() -> Iterator[bytes]:
        try:
            rows = _prefetched(stream_rows(session, stmt, page), render)
            if fmt.startswith("jsonl:"):
                for row in rows:
                    yield dumps(present(row)) + b"\n"
                return
            pagination = {"offset": page.offset, "total": items}
            if page.limit is not None:
                pagination["limit"] = page.limit
            head = dumps({"$meta": {"pagination": pagination, "omitted": omitted}})
            yield head[:-1] + b',"data":['
            meta = {"omitted": omitted}
            for index, row in enumerate(rows):
                yield (b"," if index else b"") + dumps({"$meta": meta, **present(row)})
            yield b"]}"
        finally:
            session_cm.__exit__(None, None, None)

    media = fmt.split(":", 1)[1] if fmt.startswith("jsonl:") else "application/json"
    headers = {"MPT-Item-Count": str(items)}
    if ctx.request.headers.get("mpt-streaming", "").strip().lower() == "true":
        headers["MPT-Streaming"] = "true"
    return StreamingResponse(body(), media_type=media, headers=headers)


def no_content() -> Response:
    return Response(status_code=204)
