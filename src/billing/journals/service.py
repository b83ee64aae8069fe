"""Journal rules (billing-api.md §5.1, §6.2, §7.1). Never commits: the request or job owns the transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any, BinaryIO

from pydantic.alias_generators import to_camel
from sqlalchemy.orm import Session

from billing.attachments.service import JOURNAL as JOURNAL_PARENT
from billing.attachments.service import AttachmentService
from billing.attachments.storage import AttachmentStorage
from billing.auth.capabilities import Scope
from billing.auth.principal import Principal, Role
from billing.charges.repository import ChargeRepository
from billing.db.models import Journal
from billing.errors import Conflict, InvalidStatus, NotFound, ValidationFailed
from billing.jobs.repository import WorkRepository
from billing.journals.errors import NoCharges
from billing.journals.files import has_charges
from billing.journals.repository import STATUSES, JournalRepository
from billing.journals.schemas import JournalCreate, JournalUpdate
from billing.kit.audit import created, with_events
from billing.kit.lifecycle import Transition, TransitionTable
from billing.kit.timeutil import utcnow
from billing.reference.repository import ReferenceRepository
from billing.reference.users import operations_user

LABEL = "Journal"
VALIDATE_JOB = "journal.validate"
RATE_JOB = "journal.rate"

TRANSITIONS = TransitionTable(
    LABEL,
    [
        Transition("upload", ("Draft", "Validated", "Error", "Enquiring"), "Validating"),
        Transition("validated", ("Validating",), "Validated"),
        Transition("failed", ("Validating",), "Error"),
        Transition("reviewed", ("Validating",), "Review"),
        Transition("delete", ("Draft", "Validated", "Error"), "Deleted"),
        Transition("submit", ("Validated",), "Review"),
        Transition("enquiry", ("Review",), "Enquiring"),
        Transition("regenerate", ("Review",), "Validating"),
        Transition("accept", ("Review",), "Generating"),
        Transition("complete", ("Generated", "Accepted"), "Completed"),
    ],
)

#: Statuses in which each role may edit a journal (§6.2 "Editability").
EDITABLE: dict[Role, tuple[str, ...]] = {
    Role.VENDOR: ("Draft", "Validating", "Validated", "Error", "Enquiring"),
    Role.OPERATIONS: tuple(s for s in STATUSES if s != "Deleted"),
}
#: Writable fields by role (§6.2 "Write" column); input for other fields is ignored.
WRITABLE: dict[Role, frozenset[str]] = {
    Role.VENDOR: frozenset({"name", "description", "notes", "external_ids.vendor", "due_date"}),
    Role.OPERATIONS: frozenset({"name", "description", "notes", "external_ids.operations", "assignee"}),
}


def first_day_of_next_month(now: datetime) -> datetime:
    year, month = (now.year + 1, 1) if now.month == 12 else (now.year, now.month + 1)
    return datetime(year, month, 1)


class JournalService:
    def __init__(self, session: Session, principal: Principal, scope: Scope) -> None:
        self.session = session
        self.principal = principal
        self.scope = scope
        self.journals = JournalRepository(session)
        self.references = ReferenceRepository(session)

    # -- reads -------------------------------------------------------------------------------------------
    def get(self, journal_id: str, *, for_update: bool = False) -> Journal:
        journal = self.journals.get(journal_id, self.principal, self.scope, for_update=for_update)
        if journal is None:
            raise NotFound.object(LABEL, journal_id)
        return journal

    # -- writes ------------------------------------------------------------------------------------------
    def create(self, data: JournalCreate) -> Journal:
        authorization_id = data.authorization.id.strip().upper()
        authorization = self.references.get_doc("authorizations", authorization_id)
        if authorization is None or authorization.get("vendor") != self.principal.account_id:
            raise ValidationFailed.one("authorization.id", f"Authorization '{authorization_id}' was not found.")
        now = utcnow()
        external = data.external_ids
        journal = self.journals.add(
            name=data.name,
            description=data.description,
            notes=data.notes,
            external_vendor=external.vendor if external else None,
            external_operations=None,
            status="Draft",
            vendor_id=self.principal.account_id,
            owner_id=authorization["owner"],
            product_id=authorization["product"],
            authorization_id=authorization_id,
            currency=authorization["currency"],
            due_date=data.due_date or first_day_of_next_month(now),
            assignee=None,
            total_pp=0,
            charges_visible=True,
            audit=created(self.principal.actor, now, "draft"),
            created_at=now,
            updated_at=now,
        )
        return journal

    def update(self, journal: Journal, data: JournalUpdate) -> Journal:
        """A partial update by the caller's role; fields the role may not write are ignored."""
        editable = EDITABLE.get(self.principal.role, ())
        if journal.status not in editable:
            raise InvalidStatus(LABEL, journal.id, journal.status, "update", editable)
        writable = WRITABLE.get(self.principal.role, frozenset())
        changed = False
        for name in data.model_fields_set:
            if name == "external_ids" and data.external_ids is not None:
                for member in data.external_ids.model_fields_set:
                    if f"external_ids.{member}" in writable:
                        setattr(journal, f"external_{member}", getattr(data.external_ids, member))
                        changed = True
            elif name == "assignee" and name in writable:
                journal.assignee = operations_user(self.session, data.assignee.id if data.assignee else None)
                changed = True
            elif name in writable:
                value = getattr(data, name)
                if name in ("name", "due_date") and value is None:
                    raise ValidationFailed.one(to_camel(name), "The property cannot be null.")
                setattr(journal, name, value)
                changed = True
        if changed:
            now = utcnow()
            journal.audit = with_events(journal.audit, [], self.principal.actor, now)
            journal.updated_at = now
        return journal

    def delete(self, journal_id: str) -> Journal:
        journal = self.get(journal_id, for_update=True)
        TRANSITIONS.apply(journal, "delete", self.principal.actor, utcnow())
        return journal

    def act(self, journal_id: str, action: str, data: JournalUpdate | None) -> Journal:
        """``submit``, ``enquiry``, ``regenerate``, ``accept``, ``complete`` with an optional body (§3.8)."""
        journal = self.get(journal_id, for_update=True)
        TRANSITIONS.check(journal, action)
        if data is not None:
            self.update(journal, data)
        if action in ("submit", "accept") and (journal.upload_total == 0 or journal.upload_error > 0):
            raise Conflict(
                f"Journal {journal.id} has {journal.upload_error} of {journal.upload_total} charges in error; "
                f"'{action}' requires charges and none in error."
            )
        if action == "regenerate" and not journal.input_attachment_id:
            raise ValidationFailed.one("file", "The journal has no uploaded file to validate again.")
        TRANSITIONS.apply(journal, action, self.principal.actor, utcnow())
        if action == "regenerate":
            self.start_validation(journal, return_to="Review")
        elif action == "accept":
            # The hand-over to rating: a durable work item that the rating worker consumes (billing-api.md §9.1).
            WorkRepository(self.session).enqueue(RATE_JOB, journal.id)
        return journal

    def upload(
        self,
        journal_id: str,
        *,
        stream: BinaryIO,
        filename: str | None,
        content_type: str | None,
        file_format: str,
        limit: int,
        storage: AttachmentStorage,
    ) -> Journal:
        """The synchronous part of an upload (§5.1): keep the file as the ``Input`` attachment, check that it
        has charges, enter ``Validating`` and queue the validation. 413 / 400 come before 409 (§2.5)."""
        journal = self.get(journal_id, for_update=True)
        attachments = AttachmentService(self.session, self.principal, storage)
        attachment = attachments.add_file(
            JOURNAL_PARENT,
            journal.id,
            stream=stream,
            filename=filename or f"charges.{file_format}",
            content_type=content_type or "application/octet-stream",
            type="Input",
            limit=limit,
        )
        if not has_charges(storage.path(attachment.sha256), file_format):
            raise NoCharges()
        TRANSITIONS.apply(journal, "upload", self.principal.actor, utcnow())
        journal.input_attachment_id = attachment.id
        self.start_validation(journal, file_format=file_format)
        return journal

    def start_validation(
        self, journal: Journal, *, return_to: str | None = None, file_format: str | None = None
    ) -> None:
        """Reset the upload state and queue the validation job (the charges are replaced when it ends)."""
        ChargeRepository(self.session).delete_of_journal(journal.id)
        journal.charges_visible = False
        journal.upload_total = journal.upload_ready = journal.upload_split = 0
        journal.upload_skipped = journal.upload_error = 0
        journal.total_pp = 0
        journal.total_sp = journal.markup = journal.margin = None
        journal.error = None
        payload: dict[str, Any] = {"attachment_id": journal.input_attachment_id, "return_to": return_to}
        if file_format:  # regenerate leaves it out: the job detects it from the stored file
            payload["format"] = file_format
        WorkRepository(self.session).enqueue(VALIDATE_JOB, journal.id, payload)
