"""Journal routes (billing-api.md §5.1): Vendor and Operations, scoped by §2.4."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.responses import Response

from billing.api.body import JsonBodyDep
from billing.api.deps import Ctx, CtxDep, path_id
from billing.api.negotiation import require_json
from billing.api.routing import BASE_PATH, add
from billing.api.views import collection_response, item_response, no_content
from billing.attachments.endpoints import Multipart, multipart_form
from billing.attachments.storage import AttachmentStorage
from billing.auth.visibility import prune
from billing.charges import endpoints as charges
from billing.charges.render import ParentRefs
from billing.charges.repository import ChargeRepository
from billing.db.models import Journal
from billing.errors import NotFound, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from billing.journals.files import UnsupportedFormat, detect_format
from billing.journals.render import journal_ref, render_journal, render_seller
from billing.journals.repository import LIST_SPEC, JournalRepository
from billing.journals.schemas import JOURNAL_VIEW, SELLER_VIEW, JournalCreate, JournalUpdate
from billing.journals.service import LABEL, JournalService
from billing.kit.jsonout import JsonResponse
from billing.kit.pagination import parse_page
from billing.kit.select import Projection
from billing.ledgers.repository import LedgerRepository
from billing.reference.refs import RefResolver
from billing.reference.repository import ReferenceRepository


def service(ctx: Ctx) -> JournalService:
    return JournalService(ctx.session, ctx.principal, ctx.scope)


def _item(ctx: Ctx, journal: Journal, **kwargs: Any) -> Response:
    refs = RefResolver(ReferenceRepository(ctx.session))
    return item_response(ctx, JOURNAL_VIEW, render_journal(journal, refs), **kwargs)


def list_journals(ctx: CtxDep) -> Response:
    stmt = JournalRepository(ctx.session).scoped(ctx.principal, ctx.scope)
    return collection_response(ctx, JOURNAL_VIEW, stmt, LIST_SPEC, _journal_renderer)


def _journal_renderer(session: Session) -> Callable[[Journal], dict[str, Any]]:
    refs = RefResolver(ReferenceRepository(session))
    return lambda row: render_journal(row, refs)


def get_journal(journalId: str, ctx: CtxDep) -> Response:
    return _item(ctx, service(ctx).get(path_id(journalId, LABEL)))


def create_journal(ctx: CtxDep, body: JsonBodyDep) -> Response:
    journal = service(ctx).create(body.bind(JournalCreate))
    return _item(ctx, journal, status_code=201, location=f"{BASE_PATH}/journals/{journal.id}")


def update_journal(journalId: str, ctx: CtxDep, body: JsonBodyDep) -> Response:
    journals = service(ctx)
    journal = journals.get(path_id(journalId, LABEL), for_update=True)
    return _item(ctx, journals.update(journal, body.bind(JournalUpdate)))


def delete_journal(journalId: str, ctx: CtxDep) -> Response:
    service(ctx).delete(path_id(journalId, LABEL))
    return no_content()


def _action(action: str) -> Callable[..., Response]:
    def act(journalId: str, ctx: CtxDep, body: JsonBodyDep) -> Response:
        journals = service(ctx)
        journal_id = path_id(journalId, LABEL)
        journals.get(journal_id)  # 404 before body checks (§2.5)
        journal = journals.act(journal_id, action, body.bind_optional(JournalUpdate))
        if action == "regenerate":
            ctx.wake_worker_after_commit()
        return _item(ctx, journal)

    act.__name__ = f"{action}_journal"
    return act


ChargeFileDep = Annotated[Multipart, Depends(multipart_form(lambda settings: settings.api.max_charge_file_bytes))]


def charge_file(ctx: Ctx, form: Multipart) -> tuple[UploadFile, str]:
    """The multipart part ``file`` and its detected format (``jsonl``/``xlsx``): 400 without it, 413 above
    ``api.max_charge_file_bytes``, 415 when it is neither (§8.1, §8.7). Other parts are ignored (the official
    client sends some)."""
    file = form.checked().get("file")
    if not isinstance(file, UploadFile):
        raise ValidationFailed.one("file", "The 'file' part is required.")
    limit = ctx.settings.api.max_charge_file_bytes
    if (file.size or 0) > limit:
        raise PayloadTooLarge(f"The file exceeds the limit of {limit} bytes.")
    head = file.file.read(8)
    file.file.seek(0)
    try:
        return file, detect_format(file.content_type, file.filename, head)
    except UnsupportedFormat as exc:
        raise UnsupportedMediaType(exc.message) from None


def upload_journal(journalId: str, ctx: CtxDep, form: ChargeFileDep) -> Response:
    """Multipart part ``file``: JSONL or XLSX (§8.1)."""
    journals = service(ctx)
    journal_id = path_id(journalId, LABEL)
    journals.get(journal_id)  # 404 first (§2.5)
    file, file_format = charge_file(ctx, form)
    limit = ctx.settings.api.max_charge_file_bytes
    journal = journals.upload(
        journal_id,
        stream=file.file,
        filename=file.filename,
        content_type=file.content_type,
        file_format=file_format,
        limit=limit,
        storage=AttachmentStorage.from_settings(ctx.settings),
    )
    ctx.wake_worker_after_commit()
    return _item(ctx, journal)


def _parents(ctx: Ctx, journal: Journal) -> ParentRefs:
    def parents(kind: str, object_id: str | None) -> dict[str, Any] | None:
        if object_id is None:
            return None
        if kind == "journal" and object_id == journal.id:
            return journal_ref(journal)
        return {"id": object_id, "name": None}  # ledger / custom ledger names arrive with rating

    return parents


def list_journal_charges(journalId: str, ctx: CtxDep) -> Response:
    journal = service(ctx).get(path_id(journalId, LABEL))
    stmt = ChargeRepository(ctx.session).of_journal(journal.id if journal.charges_visible else "")
    return charges.list_charges(ctx, stmt, journal.id, _parents(ctx, journal))


def get_journal_charge(journalId: str, chargeId: str, ctx: CtxDep) -> Response:
    journal = service(ctx).get(path_id(journalId, LABEL))
    stmt = ChargeRepository(ctx.session).of_journal(journal.id if journal.charges_visible else "")
    return charges.get_charge(ctx, stmt, chargeId, _parents(ctx, journal))


def _sellers(ctx: Ctx, journal: Journal) -> list[dict[str, Any]]:
    refs = RefResolver(ReferenceRepository(ctx.session))
    seller_ids = ChargeRepository(ctx.session).seller_ids_of_journal(journal.id) if journal.charges_visible else []
    ledgers = LedgerRepository(ctx.session).of_journal_by_seller(journal.id)
    return [
        render_seller(
            seller_id,
            journal,
            refs,
            ledger={"id": ledgers[seller_id].id, "status": ledgers[seller_id].status} if seller_id in ledgers else None,
        )
        for seller_id in seller_ids
    ]


def list_journal_sellers(journalId: str, ctx: CtxDep) -> Response:
    """Sellers are few per journal, so they are listed in memory, in id order (§4.6)."""
    journal = service(ctx).get(path_id(journalId, LABEL))
    require_json(ctx.request)
    page = parse_page(ctx.query.limit, ctx.query.offset)
    sellers = _sellers(ctx, journal)
    hidden = SELLER_VIEW.hidden(ctx)
    projection = Projection.build(
        ctx.query.select, fields=SELLER_VIEW.visible_fields(hidden), non_core=SELLER_VIEW.non_core, full=False
    )
    end = None if page.limit is None else page.offset + page.limit
    meta = {"omitted": projection.omitted}
    data = [{"$meta": meta, **projection.apply(prune(item, hidden))} for item in sellers[page.offset : end]]
    pagination = {"offset": page.offset, "limit": page.limit, "total": len(sellers)}
    return JsonResponse({"$meta": {"pagination": pagination, **meta}, "data": data})


def get_journal_seller(journalId: str, sellerId: str, ctx: CtxDep) -> Response:
    journal = service(ctx).get(path_id(journalId, LABEL))
    seller_id = path_id(sellerId, "Journal seller")
    for seller in _sellers(ctx, journal):
        if seller["id"] == seller_id:
            return item_response(ctx, SELLER_VIEW, seller)
    raise NotFound.object("Journal seller", seller_id)


def register(router: APIRouter) -> None:
    add(router, "journal.list", list_journals)
    add(router, "journal.get", get_journal)
    add(router, "journal.create", create_journal, status_code=201, request_model=JournalCreate)
    add(router, "journal.update", update_journal, request_model=JournalUpdate)
    add(router, "journal.delete", delete_journal, status_code=204)
    add(router, "journal.upload", upload_journal)
    for action in ("submit", "regenerate", "enquiry", "accept", "complete"):
        add(router, f"journal.{action}", _action(action), request_model=JournalUpdate)
    add(router, "journal.sellers.list", list_journal_sellers)
    add(router, "journal.sellers.get", get_journal_seller)
    add(router, "journal.charges.list", list_journal_charges)
    add(router, "journal.charges.get", get_journal_charge)
