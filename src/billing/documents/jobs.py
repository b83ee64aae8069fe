"""The daemon's ``documents.render`` and ``documents.deliver`` ticks (erp-integration.md §5.2): row claims, so any
number of replicas share the work and none renders or sends a row another holds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog

from billing.attachments.storage import AttachmentStorage
from billing.db.engine import Database
from billing.documents.repository import PARENTS, DocumentRepository, RenderClaim
from billing.documents.service import DocumentRenderer, UnknownDocument
from billing.documents.templating import Templates
from billing.settings import Settings

log = structlog.get_logger("billing.documents")
DISCOVERY_LIMIT = 1000  # parents made due per type and tick


class LeaseLost(Exception):
    """Another replica took the render task over (our lease expired): this render must not commit."""


@dataclass
class RenderStats:
    discovered: int = 0
    rendered: int = 0  # new document versions
    unchanged: int = 0  # outputs already up to date
    failed: int = 0


def render_tick(
    database: Database, settings: Settings, owner: str, *, stopping: Callable[[], bool] = lambda: False
) -> RenderStats:
    """Discover changed parents, then render the due ones, each in its own transaction."""
    documents = settings.documents
    stats = RenderStats()
    overlap = timedelta(seconds=documents.discovery_overlap_s)
    with database.session_scope() as session:
        repository = DocumentRepository(session)
        for parent_type in PARENTS:
            stats.discovered += repository.discover(parent_type, overlap, DISCOVERY_LIMIT)
    templates = Templates.from_settings(documents)
    storage = AttachmentStorage.from_settings(settings)
    lease = timedelta(seconds=documents.render_lease_s)
    with database.session_scope() as session:
        claims = DocumentRepository(session).claim(owner, documents.render_batch_size, lease)
    for index, claim in enumerate(claims):
        if stopping():
            with database.session_scope() as session:
                for left in claims[index:]:
                    DocumentRepository(session).release(left, owner)
            break
        render_claimed(database, settings, templates, storage, owner, claim, stats)
    return stats


def render_claimed(
    database: Database,
    settings: Settings,
    templates: Templates,
    storage: AttachmentStorage,
    owner: str,
    claim: RenderClaim,
    stats: RenderStats,
) -> None:
    try:
        with database.session_scope() as session:
            try:
                outputs = DocumentRenderer(session, templates, storage, settings.documents).render(
                    claim.parent_type, claim.parent_id
                )
            except UnknownDocument:
                outputs = []
            if not DocumentRepository(session).finish(claim, owner, error=None, retry_in=None):
                raise LeaseLost(claim.parent_id)
        new = sum(1 for output in outputs if output.new)
        stats.rendered += new
        stats.unchanged += len(outputs) - new
        if new:
            log.info("documents.rendered", parent=claim.parent_id, outputs=[o.kind for o in outputs if o.new])
    except LeaseLost:
        log.warning("documents.render.lease_lost", parent=claim.parent_id)
    except Exception as exc:  # a broken template or bad data: recorded on the task, retried with backoff
        stats.failed += 1
        error = f"{type(exc).__name__}: {exc}"
        log.exception("documents.render.failed", parent=claim.parent_id)
        retry_in = timedelta(seconds=min(3600.0, 30.0 * 2**claim.attempts))
        with database.session_scope() as session:
            DocumentRepository(session).finish(claim, owner, error=error[:2000], retry_in=retry_in)
