"""Rules for attachments of every parent. Never commits: the request or job owns the transaction.

Other domains attach files through `AttachmentService.add_file` (the journal upload stores its charge file
as an ``Input`` attachment; documents and the ERP pull store ``Output`` files) and read them back with
`AttachmentService.open_file`.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from billing.attachments.errors import AttachmentNotDeletable, ParentReadOnly
from billing.attachments.repository import AttachmentRepository
from billing.attachments.schemas import (
    DELETABLE_TYPES,
    TYPES,
    AttachmentCreate,
    AttachmentUpdate,
    Caller,
    Parent,
    ParentInfo,
)
from billing.attachments.storage import AttachmentStorage
from billing.auth.capabilities import Scope, scope_for
from billing.auth.principal import Principal
from billing.db.models import Attachment
from billing.errors import Forbidden, NotFound, ValidationFailed
from billing.kit.audit import created, with_events
from billing.kit.timeutil import utcnow
from billing.reference.refs import RefResolver
from billing.reference.repository import ReferenceRepository

OCTET_STREAM = "application/octet-stream"
DEFAULT_FILENAME = "file"
MAX_FILENAME = 255
#: ``type/subtype`` with optional parameters, printable ASCII only (it is sent back as a header)
_MEDIA_TYPE = re.compile(r"[A-Za-z0-9!#$&^._+-]+/[A-Za-z0-9!#$&^._+-]+ *(;[\x20-\x7e]*)?")


def media_type(content_type: str) -> str:
    """``Text/Plain; charset=utf-8`` → ``text/plain``."""
    return content_type.split(";", 1)[0].strip().lower()


def sanitise_filename(raw: str | None) -> str:
    """The last path component without control characters (unicode kept); ``file`` when nothing is left."""
    name = unicodedata.normalize("NFC", raw or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf")).strip()
    if name in ("", ".", ".."):
        return DEFAULT_FILENAME
    if len(name) > MAX_FILENAME:  # keep the extension, it decides the derived content type
        stem, dot, ext = name.rpartition(".")
        ext = ext if dot and stem and len(ext) <= 16 else ""
        name = name[: MAX_FILENAME - len(ext) - (1 if ext else 0)].rstrip() + (f".{ext}" if ext else "")
    return name


def content_type_for(declared: str | None, filename: str) -> str:
    """The part's own content type, unless absent or ``application/octet-stream``: then by extension (§3.11).

    A value that is not a media type at all (``pdf``, 300 characters) counts as absent.
    """
    declared = (declared or "").strip()
    if _MEDIA_TYPE.fullmatch(declared) and len(declared) <= 255 and media_type(declared) != OCTET_STREAM:
        return declared
    return mimetypes.guess_type(filename)[0] or OCTET_STREAM


def scoped_account(caller: Caller, resource: str) -> str | None:
    """The account a parent must belong to (own-vendor / own-client scope), None when the caller sees all."""
    scope = scope_for(resource, caller.principal.role)
    if scope is None:  # the matrix refused the role already; a second line of defence
        raise Forbidden("The role may not access this resource.")
    return None if scope is Scope.ALL else caller.principal.account_id


def load_journal(caller: Caller, journal_id: str) -> ParentInfo:
    """A journal parent in the caller's scope: a vendor sees only its own journals (§2.4)."""
    journal = AttachmentRepository(caller.session).journal(journal_id, vendor_id=scoped_account(caller, "journal"))
    if journal is None:
        raise NotFound.object("Journal", journal_id)
    refs = RefResolver(ReferenceRepository(caller.session))
    return ParentInfo(
        id=journal.id,
        ref={"id": journal.id, "name": journal.name, "dueDate": journal.due_date},
        vendor=refs.account(journal.vendor_id),
        read_only=journal.status == "Deleted",
        status=journal.status,
    )


JOURNAL = Parent(
    resource="journal",
    segment="journals",
    param="journalId",
    label="Journal",
    prefix="JOA",
    groups=2,
    ref_field="journal",
    load=load_journal,
    with_vendor=True,
)


def load_ledger(caller: Caller, ledger_id: str) -> ParentInfo:
    scoped_account(caller, "ledger")
    ledger = AttachmentRepository(caller.session).ledger(ledger_id)
    if ledger is None:
        raise NotFound.object("Ledger", ledger_id)
    return ParentInfo(id=ledger.id, ref={"id": ledger.id, "name": ledger.name}, status=ledger.status)


def load_custom_ledger(caller: Caller, ledger_id: str) -> ParentInfo:
    scoped_account(caller, "custom_ledger")
    ledger = AttachmentRepository(caller.session).custom_ledger(ledger_id)
    if ledger is None:
        raise NotFound.object("Custom ledger", ledger_id)
    return ParentInfo(
        id=ledger.id,
        ref={"id": ledger.id, "name": ledger.name},
        read_only=ledger.status == "Deleted",
        status=ledger.status,
    )


def load_statement(caller: Caller, statement_id: str) -> ParentInfo:
    """A statement parent in the caller's scope: a client sees only its own statements (§2.4)."""
    client_id = scoped_account(caller, "statement")
    statement = AttachmentRepository(caller.session).statement(statement_id, client_id=client_id)
    if statement is None:
        raise NotFound.object("Statement", statement_id)
    return ParentInfo(id=statement.id, ref={"id": statement.id, "name": statement.name}, status=statement.status)


LEDGER = Parent(
    resource="ledger",
    segment="ledgers",
    param="ledgerId",
    label="Ledger",
    prefix="LEA",
    groups=2,
    ref_field="ledger",
    load=load_ledger,
)
CUSTOM_LEDGER = Parent(
    resource="custom_ledger",
    segment="custom-ledgers",
    param="customLedgerId",
    label="Custom ledger",
    prefix="CLA",
    groups=2,
    ref_field="customLedger",
    load=load_custom_ledger,
)
STATEMENT = Parent(
    resource="statement",
    segment="statements",
    param="statementId",
    label="Statement",
    prefix="SOA",
    groups=3,
    ref_field="statement",
    load=load_statement,
)


def load_invoice(caller: Caller, invoice_id: str) -> ParentInfo:
    """An invoice parent in the caller's scope: a client sees only its own invoices (§2.4)."""
    invoice = AttachmentRepository(caller.session).invoice(invoice_id, client_id=scoped_account(caller, "invoice"))
    if invoice is None:
        raise NotFound.object("Invoice", invoice_id)
    return ParentInfo(id=invoice.id, ref={"id": invoice.id}, status=invoice.status)


def load_credit_memo(caller: Caller, credit_memo_id: str) -> ParentInfo:
    client_id = scoped_account(caller, "credit_memo")
    credit_memo = AttachmentRepository(caller.session).credit_memo(credit_memo_id, client_id=client_id)
    if credit_memo is None:
        raise NotFound.object("Credit memo", credit_memo_id)
    return ParentInfo(id=credit_memo.id, ref={"id": credit_memo.id}, status=credit_memo.status)


INVOICE = Parent(
    resource="invoice",
    segment="invoices",
    param="invoiceId",
    label="Invoice",
    prefix="INA",
    groups=3,
    ref_field="invoice",
    load=load_invoice,
    with_is_external=True,
)
CREDIT_MEMO = Parent(
    resource="credit_memo",
    segment="credit-memos",
    param="creditMemoId",
    label="Credit memo",
    prefix="CMA",
    groups=3,
    ref_field="creditMemo",
    load=load_credit_memo,
    with_is_external=True,
)

#: Every parent whose attachment routes are served.
PARENTS: tuple[Parent, ...] = (JOURNAL, LEDGER, CUSTOM_LEDGER, STATEMENT, INVOICE, CREDIT_MEMO)


class AttachmentService:
    def __init__(self, session: Session, principal: Principal, storage: AttachmentStorage) -> None:
        self.session = session
        self.principal = principal
        self.storage = storage
        self.repository = AttachmentRepository(session)

    def parent_info(self, parent: Parent, parent_id: str) -> ParentInfo:
        """The parent in the caller's scope, or 404."""
        return parent.load(self, parent_id)

    def get(self, parent: Parent, info: ParentInfo, attachment_id: str, *, for_update: bool = False) -> Attachment:
        """A live attachment of that parent; a deleted one, or one of another parent, is 404 (§2.4)."""
        attachment = self.repository.get(attachment_id, for_update=for_update)
        if (
            attachment is None
            or attachment.is_deleted
            or attachment.parent_type != parent.resource
            or attachment.parent_id != info.id
        ):
            raise NotFound.object("Attachment", attachment_id)
        return attachment

    def create(
        self,
        parent: Parent,
        info: ParentInfo,
        data: AttachmentCreate,
        *,
        stream: BinaryIO,
        filename: str | None,
        content_type: str | None,
        limit: int,
    ) -> Attachment:
        """A user upload (``type: Attachment``); the caller has done the 413/400 checks of the request."""
        self._check_writable(parent, info)
        return self.add_file(
            parent,
            info.id,
            stream=stream,
            filename=filename or "",
            content_type=content_type or "",
            type="Attachment",
            limit=limit,
            name=data.name if data.name and data.name.strip() else None,
            description=data.description,
        )

    def add_file(
        self,
        parent: Parent,
        parent_id: str,
        *,
        stream: BinaryIO,
        filename: str,
        content_type: str,
        type: str,
        limit: int,
        name: str | None = None,
        is_external: bool = False,
        description: str | None = None,
    ) -> Attachment:
        """Store ``stream`` and attach it to ``parent_id`` (trusted: the caller has loaded the parent).

        The filename is sanitised and the content type derived as for uploads (§3.11); ``name`` defaults to
        the filename. More than ``limit`` bytes answer 413 and store nothing.
        """
        if type not in TYPES:
            raise ValueError(f"attachment type must be one of {TYPES}, not {type!r}")
        filename = sanitise_filename(filename)
        sha256, size, _ = self.storage.store(stream, limit)
        now = utcnow()
        return self.repository.add(
            parent.prefix,
            parent.groups,
            parent_type=parent.resource,
            parent_id=parent_id,
            name=name or filename,
            description=description,
            type=type,
            filename=filename,
            size=size,
            content_type=content_type_for(content_type, filename),
            sha256=sha256,
            is_deleted=False,
            is_external=is_external,
            audit=created(self.principal.actor, now),
            created_at=now,
            updated_at=now,
        )

    def update(self, parent: Parent, info: ParentInfo, attachment: Attachment, data: AttachmentUpdate) -> Attachment:
        changes: dict[str, Any] = {field: getattr(data, field) for field in data.model_fields_set}
        if "name" in changes and not (changes["name"] or "").strip():
            raise ValidationFailed.one("name", "The name must be a non-empty string.")
        self._check_writable(parent, info)
        for field, value in changes.items():
            setattr(attachment, field, value)
        if changes:
            now = utcnow()
            attachment.audit = with_events(attachment.audit, [], self.principal.actor, now)
            attachment.updated_at = now
        return attachment

    def delete(self, parent: Parent, info: ParentInfo, attachment: Attachment) -> None:
        """Mark deleted; the stored file stays (it may be shared by identical content)."""
        self._check_writable(parent, info)
        if attachment.type not in DELETABLE_TYPES:
            raise AttachmentNotDeletable(attachment.id, attachment.type)
        now = utcnow()
        attachment.is_deleted = True
        attachment.audit = with_events(attachment.audit, [], self.principal.actor, now)
        attachment.updated_at = now

    def open_file(self, attachment: Attachment) -> BinaryIO:
        return self.storage.open(attachment.sha256)

    @staticmethod
    def _check_writable(parent: Parent, info: ParentInfo) -> None:
        if info.read_only:
            raise ParentReadOnly(parent.label, info.id, info.status)
