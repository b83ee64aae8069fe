"""API models and the parent descriptions of attachments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import Field
from sqlalchemy.orm import Session

from billing.api.views import ResourceView
from billing.auth.principal import Principal
from billing.kit.binding import InputModel

TYPES = ("Attachment", "Input", "Output")
#: Only user files can be deleted; charge files (Input) and generated or ERP files (Output) stay (§5.11).
DELETABLE_TYPES = frozenset({"Attachment"})


class AttachmentUpdate(InputModel):
    name: str | None = Field(default=None, max_length=255)
    description: str | None = Field(default=None, max_length=4000)


class AttachmentCreate(AttachmentUpdate):
    """The JSON part of a multipart create (§3.11); ``name`` defaults to the file name."""


class Caller(Protocol):
    """Who is asking, in which transaction (`api.deps.Ctx` and `AttachmentService` both are one)."""

    @property
    def session(self) -> Session: ...

    @property
    def principal(self) -> Principal: ...


@dataclass(frozen=True)
class ParentInfo:
    """What an attachment shows and needs of its parent, loaded once per request."""

    id: str
    ref: dict[str, Any]  # the parent reference field: JournalRef, LedgerRef, {id, name} or {id}
    vendor: dict[str, Any] | None = None  # AccountRef, journal attachments only
    read_only: bool = False  # a Deleted journal or custom ledger: 409 on create, update and delete
    status: str | None = None


@dataclass(frozen=True)
class Parent:
    """One kind of object that owns attachments: its routes, id format, reference field and loader.

    ``load(caller, parent_id)`` answers `NotFound` when the parent does not exist *or* is outside the
    caller's scope (§2.4), so a nested route never reveals an object the caller may not see.
    """

    resource: str  # capability resource key, also stored as `attachment.parent_type`
    segment: str  # collection path segment: "journals"
    param: str  # path parameter: "journalId"
    label: str  # "Journal"
    prefix: str  # attachment id prefix (§12.1): "JOA"
    groups: int  # digit groups of the attachment id
    ref_field: str  # "journal", "customLedger", …
    load: Callable[[Caller, str], ParentInfo]
    with_vendor: bool = False  # journal attachments carry the journal's vendor
    with_is_external: bool = False  # invoice and credit memo attachments say whether the ERP sent them

    @property
    def capability_key(self) -> str:
        return self.resource.replace("_", "-")

    @property
    def view(self) -> ResourceView:
        fields = ["id", "name", "description", "type", "filename", "size", "contentType", "isDeleted"]
        fields.append(self.ref_field)
        if self.with_vendor:
            fields.append("vendor")
        if self.with_is_external:
            fields.append("isExternal")
        fields.append("audit")
        return ResourceView(fields=tuple(fields), non_core=frozenset({"audit"}), label=f"{self.label} attachment")

    def location(self, parent_id: str, attachment_id: str) -> str:
        return f"/public/v1/billing/{self.segment}/{parent_id}/attachments/{attachment_id}"
