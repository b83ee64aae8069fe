"""Attachment routes, served under every parent of `PARENTS` (billing-api.md §3.10, §3.11, §5.11).

No ``from __future__ import annotations`` here: the endpoints are built per parent, and FastAPI must see each
parent's path parameter (``journalId``, ``ledgerId``, …) as a real annotation when the route is registered.
"""

import io
import unicodedata
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, BinaryIO
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Depends, Path, Request
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.responses import FileResponse, Response
from starlette.types import Message

from billing.api.body import JsonBodyDep
from billing.api.deps import Ctx, CtxDep, path_id
from billing.api.negotiation import accepted, require_json
from billing.api.routing import add
from billing.api.views import collection_response, item_response, no_content
from billing.attachments.repository import LIST_SPEC
from billing.attachments.schemas import AttachmentCreate, AttachmentUpdate, Parent, ParentInfo
from billing.attachments.service import OCTET_STREAM, PARENTS, AttachmentService, media_type
from billing.attachments.storage import AttachmentStorage
from billing.db.models import Attachment
from billing.errors import AppError, NotAcceptable, PayloadTooLarge, UnsupportedMediaType, ValidationFailed
from billing.kit.binding import bind
from billing.settings import Settings

JSON_PARTS = ("attachment", "_attachment_data")  # §3.11: the second name is the official client's alternative
MAX_FILES = 8
MAX_FIELDS = 32


# --- multipart ----------------------------------------------------------------------------------------------


@dataclass
class Multipart:
    """A multipart form read before the endpoint runs, or the problem found while reading it.

    The problem (415, 413, malformed 400) is raised by `checked`, which the endpoint calls after its parent
    lookup, so that a missing parent still answers 404 first (§2.5).
    """

    form: FormData | None
    problem: AppError | None = None

    def checked(self) -> FormData:
        if self.problem is not None:
            raise self.problem
        assert self.form is not None
        return self.form


class _BodyTooLarge(Exception):
    """Raised from the request stream to stop reading a body past its cap."""


def multipart_form(limit_of: Callable[[Settings], int]) -> Callable[[Request], AsyncIterator[Multipart]]:
    """Dependency factory: the request's ``multipart/form-data``, files spooled to temporary files.

    Reading the form here keeps the endpoint synchronous (its database work runs in the threadpool) and
    takes no database transaction while the upload arrives. The body is cut off once it exceeds the file
    limit plus `max_json_body_bytes` for the other parts; the exact file limit is checked by the endpoint.
    The spooled files are closed after the response.
    """

    async def read(request: Request) -> AsyncIterator[Multipart]:
        settings: Settings = request.app.state.settings
        parsed = await _read_multipart(
            request, limit_of(settings) + settings.api.max_json_body_bytes, settings.api.max_json_body_bytes
        )
        try:
            yield parsed
        finally:
            if parsed.form is not None:
                await parsed.form.close()

    return read


async def _read_multipart(request: Request, cap: int, part_limit: int) -> Multipart:
    content_type = request.headers.get("content-type", "")
    if media_type(content_type) != "multipart/form-data":
        return Multipart(None, UnsupportedMediaType(f"Expected multipart/form-data, not '{content_type or 'none'}'."))
    too_large = PayloadTooLarge(f"The request body exceeds the limit of {cap} bytes.")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return Multipart(None, too_large)
    received = 0

    async def capped_receive() -> Message:
        nonlocal received
        message = await request.receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > cap:
                raise _BodyTooLarge
        return message

    try:
        form = await Request(request.scope, capped_receive).form(
            max_files=MAX_FILES, max_fields=MAX_FIELDS, max_part_size=part_limit
        )
    except _BodyTooLarge:  # the parser has closed its temporary files
        return Multipart(None, too_large)
    except (MultiPartException, HTTPException) as exc:
        detail = str(getattr(exc, "detail", None) or getattr(exc, "message", exc))
        if detail.startswith("Part exceeded maximum size"):
            return Multipart(None, PayloadTooLarge(f"A form field exceeds the limit of {part_limit} bytes."))
        return Multipart(None, ValidationFailed({"body": [f"The multipart body is invalid: {detail}"]}))
    return Multipart(form)


AttachmentFormDep = Annotated[Multipart, Depends(multipart_form(lambda settings: settings.api.max_attachment_bytes))]


@dataclass(frozen=True)
class Upload:
    stream: BinaryIO
    filename: str | None
    content_type: str | None
    data: AttachmentCreate


def read_upload(form: FormData, settings: Settings) -> Upload:
    """The ``file`` part and the JSON part of an attachment create: 413 before 400 (§2.5, §3.11)."""
    file = form.get("file")
    limit = settings.api.max_attachment_bytes
    if isinstance(file, UploadFile) and (file.size or 0) > limit:
        raise PayloadTooLarge(f"The file exceeds the limit of {limit} bytes.")
    part = next((name for name in JSON_PARTS if name in form), None)
    raw = _part_bytes(form[part], settings.api.max_json_body_bytes) if part else b""
    errors: dict[str, list[str]] = {}
    data = AttachmentCreate()
    if part and raw.strip():
        try:
            document = orjson.loads(raw.removeprefix(b"\xef\xbb\xbf"))
        except orjson.JSONDecodeError as exc:
            errors[part] = [f"The part is not valid JSON: {exc}."]
        else:
            if document is not None and not isinstance(document, dict):
                errors[part] = ["The part must be a JSON object."]
            elif document:
                try:
                    data = bind(AttachmentCreate, document)
                except ValidationFailed as exc:
                    errors.update(exc.errors or {})
    if file is None:
        errors["file"] = ["The 'file' part is required."]
    if errors:
        raise ValidationFailed(errors)
    if isinstance(file, UploadFile):
        file.file.seek(0)
        return Upload(file.file, file.filename, file.content_type, data)
    # a part named `file` without a filename arrives as text; it is stored as its UTF-8 bytes, named `file`
    return Upload(io.BytesIO(str(file).encode()), None, None, data)


def _part_bytes(value: str | UploadFile, limit: int) -> bytes:
    if isinstance(value, str):
        return value.encode()
    value.file.seek(0)
    content = value.file.read(limit + 1)
    if len(content) > limit:
        raise PayloadTooLarge(f"The JSON part exceeds the limit of {limit} bytes.")
    return content


# --- rendering and downloads --------------------------------------------------------------------------------


def render(parent: Parent, info: ParentInfo, attachment: Attachment) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": attachment.id,
        "name": attachment.name,
        "description": attachment.description,
        "type": attachment.type,
        "filename": attachment.filename,
        "size": attachment.size,
        "contentType": attachment.content_type,
        "isDeleted": False,  # deleted attachments are never served
        parent.ref_field: info.ref,
    }
    if parent.with_vendor:
        item["vendor"] = info.vendor
    if parent.with_is_external:
        item["isExternal"] = attachment.is_external
    item["audit"] = attachment.audit
    return item


def wants_file(request: Request, content_type: str) -> bool:
    """§3.10 rules 1–5, in order: True serves the file, False the metadata; anything else is 406."""
    types = accepted(request)
    if not types or types == ["*/*"]:
        return False
    if media_type(content_type) in types:
        return True
    if "application/json" in types:
        return False
    if OCTET_STREAM in types:
        return True
    raise NotAcceptable(
        f"'Accept: {request.headers.get('accept')}' cannot be satisfied: this attachment is served as "
        f"application/json (metadata), {content_type} or {OCTET_STREAM}."
    )


def content_disposition(filename: str) -> str:
    """``attachment; filename="<ASCII fallback>"; filename*=UTF-8''<percent-encoded>`` (RFC 6266)."""
    letters = "".join(ch for ch in unicodedata.normalize("NFKD", filename) if not unicodedata.combining(ch))
    fallback = "".join(ch if " " <= ch <= "~" and ch not in '"\\' else "_" for ch in letters)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def file_response(storage: AttachmentStorage, attachment: Attachment) -> Response:
    path = storage.path(attachment.sha256)
    if not path.is_file():
        raise AppError(f"The stored file of attachment {attachment.id} is missing.")
    headers = {
        "Content-Type": attachment.content_type,  # exactly as stored (no charset added)
        "Content-Disposition": content_disposition(attachment.filename),
        "X-Content-Type-Options": "nosniff",
    }
    return FileResponse(path, headers=headers)


# --- routes -------------------------------------------------------------------------------------------------


def _service(ctx: Ctx) -> AttachmentService:
    return AttachmentService(ctx.session, ctx.principal, AttachmentStorage.from_settings(ctx.settings))


_MULTIPART_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "attachment": AttachmentCreate.model_json_schema(by_alias=True),
                    },
                },
                "encoding": {"attachment": {"contentType": "application/json"}},
            }
        },
    }
}
_FILE_OR_METADATA = {
    "responses": {"200": {"content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}
}


def register_parent(router: APIRouter, parent: Parent) -> None:
    """The five attachment routes of one parent, from its rows of the capability matrix."""
    ParentId = Annotated[str, Path(alias=parent.param)]
    view = parent.view

    def load(ctx: Ctx, raw_parent_id: str) -> tuple[AttachmentService, ParentInfo]:
        service = _service(ctx)
        return service, service.parent_info(parent, path_id(raw_parent_id, parent.label))

    def item(ctx: Ctx, info: ParentInfo, attachment: Attachment, **kwargs: Any) -> Response:
        return item_response(ctx, view, render(parent, info, attachment), **kwargs)

    def list_attachments(parent_id: ParentId, ctx: CtxDep) -> Response:
        service, info = load(ctx, parent_id)
        stmt = service.repository.list_statement(parent.resource, info.id)
        # the parent is plain data, so exports (rendered in their own snapshot session) need no session either
        return collection_response(ctx, view, stmt, LIST_SPEC, lambda _session: lambda row: render(parent, info, row))

    def get_attachment(parent_id: ParentId, attachmentId: str, ctx: CtxDep) -> Response:
        service, info = load(ctx, parent_id)
        attachment = service.get(parent, info, path_id(attachmentId, "Attachment"))
        if wants_file(ctx.request, attachment.content_type):
            return file_response(service.storage, attachment)
        return item(ctx, info, attachment)

    def create_attachment(parent_id: ParentId, form: AttachmentFormDep, ctx: CtxDep) -> Response:
        service, info = load(ctx, parent_id)
        require_json(ctx.request)
        upload = read_upload(form.checked(), ctx.settings)
        attachment = service.create(
            parent,
            info,
            upload.data,
            stream=upload.stream,
            filename=upload.filename,
            content_type=upload.content_type,
            limit=ctx.settings.api.max_attachment_bytes,
        )
        location = parent.location(info.id, attachment.id)
        return item(ctx, info, attachment, status_code=201, location=location)

    def update_attachment(parent_id: ParentId, attachmentId: str, ctx: CtxDep, body: JsonBodyDep) -> Response:
        service, info = load(ctx, parent_id)
        attachment = service.get(parent, info, path_id(attachmentId, "Attachment"), for_update=True)
        require_json(ctx.request)
        return item(ctx, info, service.update(parent, info, attachment, body.bind(AttachmentUpdate)))

    def delete_attachment(parent_id: ParentId, attachmentId: str, ctx: CtxDep) -> Response:
        service, info = load(ctx, parent_id)
        service.delete(parent, info, service.get(parent, info, path_id(attachmentId, "Attachment"), for_update=True))
        return no_content()

    key = parent.capability_key
    add(router, f"{key}.attachments.list", list_attachments)
    add(router, f"{key}.attachments.get", get_attachment, openapi_extra=_FILE_OR_METADATA)
    add(router, f"{key}.attachments.create", create_attachment, status_code=201, openapi_extra=_MULTIPART_BODY)
    add(router, f"{key}.attachments.update", update_attachment, request_model=AttachmentUpdate)
    add(router, f"{key}.attachments.delete", delete_attachment, status_code=204)


def register(router: APIRouter) -> None:
    for parent in PARENTS:
        register_parent(router, parent)
